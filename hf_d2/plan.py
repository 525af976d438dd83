"""The run plan: everything a prune will do, resolved and checked before any model loads.

``make_plan(dataset, rate, options)`` resolves the data (a name, a ``Dataset``), draws the
``max_examples`` sample, infers the columns and renders the texts (or checks the images,
``hf_d2.vision``), encodes the labels, decides which stages run (difficulty, embeddings) and
works out their cache entries once (``hf_d2.plan_stages``), resolves the selection settings and
checks every parameter against the data (k against n, epochs against the score, empty texts, one
class...).
``prune``, ``--dry-run`` and ``evaluate`` all start from it, so a dry run is exactly as strict
as a run. ``plan.describe()`` adds the cache state of those entries and time estimates from
measured throughput (``hf_d2.estimate``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hf_d2._validation import (
    InvalidParameterError,
    budget_from_rate,
    check_embeddings,
    check_k,
    check_rate,
    check_scores,
)
from hf_d2.cache import rows_hash
from hf_d2.data.columns import (
    RENDERED_TEXT_COLUMN,
    TextColumns,
    check_texts,
    infer_columns,
    render_texts,
)
from hf_d2.data.labels import EncodedLabels, encode_labels, label_free_warning
from hf_d2.data.loading import column_as_matrix, column_as_vector
from hf_d2.data.names import resolve_dataset
from hf_d2.difficulty.scores import SCORES
from hf_d2.estimate import describe_stages
from hf_d2.options import AUTO_METHOD, LABEL_FREE_SOURCES, PruneOptions
from hf_d2.plan_stages import Needs, StageKeys, stage_keys, stage_needs
from hf_d2.record import SourceRecord
from hf_d2.selection import SelectionSettings, available_methods, resolve_settings
from hf_d2.selection.d2_params import D2Params
from hf_d2.selection.defaults import pipeline_defaults
from hf_d2.selection.rate_finder import AUTO_RATE
from hf_d2.vision import check_images, check_vision_plan, image_text_difficulty

logger = logging.getLogger("hf_d2")

PROVISIONAL_RATE = 0.5  # a rate="auto" plan's rate until the rate finder has run

@dataclass
class GivenArrays:
    """The arrays read from the dataset's own columns or supplied by the caller (checked at plan
    time): ``scores`` (n,) and ``prefilter_scores`` (n,) oriented higher = harder,
    ``embeddings`` (n, d) float32."""

    scores: np.ndarray | None = None
    prefilter_scores: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    difficulty: Any = None  # the DifficultyRecord of supplied scores (where they came from)
    mean_margins: np.ndarray | None = None  # (n,) of supplied dynamics (hf_d2.difficulty.scores.mean_margins)


@dataclass
class RunPlan:
    """A checked plan (see the module docstring).

    dataset: the rows to select from (after the sample and ``drop_empty``), original features.
    stage_dataset: the same rows with the rendered text column when a template builds the text.
    row_ids: (n,) int64 ids of those rows in the source split. text_columns: what the model
    stages read (None when no stage reads text). labels: the gold labels (None: label-free or
    no label column). settings: the resolved selection settings (for ``auto``: those of its
    first candidate; the choice is made after the stages). budget: rows kept. find_rate: the
    caller passed rate="auto": ``rate`` and ``budget`` are provisional (``PROVISIONAL_RATE``) until
    the rate finder has run on the stages' outputs (``with_rate`` gives the plan at its rate).
    keys: the stage-cache entries of the model stages that will run (``hf_d2.plan_stages``).
    """

    options: PruneOptions
    rate: float
    budget: int
    dataset: Any
    stage_dataset: Any
    source: SourceRecord
    row_ids: np.ndarray
    text_columns: TextColumns | None
    labels: EncodedLabels | None
    label_column: str | None
    needs: Needs
    settings: SelectionSettings
    label_free: bool = False
    given: GivenArrays = field(default_factory=lambda: GivenArrays())
    warnings: list[str] = field(default_factory=list)  # what the run should know (logged, and kept in the record)
    find_rate: bool = False
    keys: StageKeys = field(default_factory=StageKeys)

    @property
    def num_rows(self) -> int:
        return int(self.dataset.num_rows)

    @property
    def selection_labels(self) -> np.ndarray | None:
        """The labels the selection may read (label partition, moderate's per-class medians,
        auto): None in a label-free run, even when the dataset has labels."""
        return None if self.label_free or self.labels is None else self.labels.ids

    def describe(self) -> list[Any]:
        """The stages with cache state and estimates (``hf_d2.estimate.describe_stages``: reads
        the plan's cache entries, runs nothing)."""
        return describe_stages(self)


def make_plan(dataset: Any, rate: float, options: PruneOptions, *, config: str | None = None,
              split: str | None = None, offline: bool = False, revision: str | None = None,
              source: dict[str, Any] | None = None, row_ids: Any = None, arrays: GivenArrays | None = None) -> RunPlan:
    """Resolves and checks a prune (see the module docstring); raises before any model loads.

    dataset: a ``datasets.Dataset`` or a name (Hub id, ``repo:config``, path, bundled copy).
    source / row_ids: where given rows came from (a caller that sampled them itself).
    arrays: difficulty / pre-filter scores or embeddings the caller already has for every row
        (e.g. from saved training dynamics), used like the score and embedding columns.
    """
    import datasets  # noqa: PLC0415 - heavy; the array core never needs it

    find_rate = isinstance(rate, str) and rate == AUTO_RATE
    rate = PROVISIONAL_RATE if find_rate else check_rate(rate)
    if isinstance(dataset, datasets.IterableDataset):
        raise ValueError("A streaming IterableDataset is pruned by IterableDataset.d2_prune (hf_d2.streaming); "
                         "materialise it, or call iterable.d2_prune(rate=...).")
    record_source: dict[str, Any] = dict(source or {})
    if isinstance(dataset, str):
        resolved = resolve_dataset(dataset, config, split, offline=offline, revision=revision)
        dataset, record_source = resolved.dataset, {**resolved.source, "name": resolved.source.get("name", dataset)}
        record_source.setdefault("name", record_source.get("name"))
    elif not isinstance(dataset, datasets.Dataset):
        raise ValueError(f"Pass a datasets.Dataset or a dataset name; got {type(dataset).__name__}.")
    record_source.update(_source_facts(dataset, record_source))
    if dataset.num_rows == 0:
        raise ValueError("The dataset is empty (0 rows): there is nothing to prune; check the split and any filters.")
    ids = np.arange(dataset.num_rows, dtype=np.int64) if row_ids is None else np.asarray(row_ids, dtype=np.int64)
    if options.max_examples is not None and options.max_examples < dataset.num_rows:
        sample = np.sort(np.random.default_rng(options.seeds.sample).choice(
            dataset.num_rows, size=options.max_examples, replace=False))
        record_source.update(max_examples=options.max_examples, num_rows_in_split=dataset.num_rows,
                             sample_seed=options.seeds.sample)
        dataset, ids = dataset.select(sample), ids[sample]

    method = options.selection.method
    info = available_methods().get(method)
    supplied = arrays or GivenArrays()
    given_flags = dict(has_scores=options.columns.score is not None or supplied.scores is not None,
                       has_prefilter=options.columns.prefilter is not None or supplied.prefilter_scores is not None,
                       has_embeddings=options.columns.embedding is not None or supplied.embeddings is not None)
    needs = stage_needs(info, options, method == AUTO_METHOD or find_rate, **given_flags)
    label_free = options.difficulty.label_free or options.difficulty.source in LABEL_FREE_SOURCES
    text_columns = None
    label_column = options.columns.label
    texts = None
    if needs.texts:
        text_columns = infer_columns(dataset, options.columns.text, options.columns.text_pair, label_column,
                                     text_template=options.columns.text_template, require_label=False,
                                     image_column=options.columns.image)
        label_column = text_columns.label
        options = image_text_difficulty(options, text_columns, needs)  # pairs without labels: the CLIP score
        if options.difficulty.source == "clip_score":
            label_free = True
            needs = stage_needs(info, options, method == AUTO_METHOD or find_rate, **given_flags)
        check_vision_plan(options, text_columns, needs)  # image options against the data, before any model loads
        if text_columns.image is not None:
            keep = check_images(dataset, text_columns.image, drop_empty=options.drop_empty, row_ids=ids)
            if keep.size < dataset.num_rows:
                dataset, ids = dataset.select(keep), ids[keep]
                if dataset.num_rows == 0:
                    raise ValueError("Every row has a missing or unreadable image: there is nothing to prune.")
        if text_columns.text is not None and (text_columns.image is None or _captions_used(options, needs)):
            texts = render_texts(dataset, text_columns)
            keep = check_texts(texts, _text_name(text_columns), drop_empty=options.drop_empty)
            if keep.size < len(texts):
                dataset, ids, texts = dataset.select(keep), ids[keep], [texts[int(i)] for i in keep]
                if dataset.num_rows == 0:
                    raise ValueError("Every row has an empty text: there is nothing to prune.")
        elif text_columns.text == RENDERED_TEXT_COLUMN:
            texts = render_texts(dataset, text_columns)
    elif label_column is None and "label" in dataset.column_names:
        label_column = "label"
    labels = None
    if label_column is not None:
        labels = encode_labels(dataset, label_column,  # a bad label column fails here, before any model runs
                               allow_many_classes=options.difficulty.allow_many_classes)
    warnings = []
    if labels is None and needs.difficulty and not label_free:
        label_free = True
        used = () if text_columns is None else (text_columns.text, text_columns.text_pair, text_columns.image,
                                                *text_columns.source_columns)
        warnings.append(label_free_warning(dataset, exclude=used))
        logger.warning("Warning: %s", warnings[-1])
    if label_free and needs.difficulty:
        pseudo = options.difficulty.source != "clip_score"  # the CLIP score needs no embeddings of its own
        needs = Needs(difficulty=True, embeddings=needs.embeddings or (pseudo and not _has_embeddings(options, arrays)),
                      labels=False, texts=needs.texts)
    if label_free and (options.selection.partition == "label" or method == AUTO_METHOD or find_rate):
        what = "partition='label'" if options.selection.partition == "label" else (
            "method='auto'" if method == AUTO_METHOD else "rate='auto'")
        raise InvalidParameterError(
            "label_free", f"{what} reads class labels, which a label-free run does not have; drop it (use "
            "partition 'none'), or give the labels and drop {param:label_free}.")
    if needs.labels and labels is None:
        raise InvalidParameterError(
            "label_column", "This selection reads class labels (the difficulty model, partition label, method auto or "
            "rate auto) but none were found; name them with {set}COLUMN, or pass {param:label_free}.")
    stage_dataset = dataset
    if text_columns is not None and text_columns.text == RENDERED_TEXT_COLUMN:
        stage_dataset = dataset.add_column(RENDERED_TEXT_COLUMN, texts)

    given = _given_arrays(options, dataset, supplied, ids if row_ids is None else None)
    settings = _settings(options, info, rate, needs.difficulty or supplied.difficulty is not None,
                         labelled=labels is not None and not label_free)
    budget = budget_from_rate(dataset.num_rows, rate)
    _check_against_data(options, settings, needs, dataset.num_rows)
    keys = stage_keys(options, needs, stage_dataset, text_columns, label_column, labels, label_free, given.embeddings)
    return RunPlan(options=options, rate=rate, budget=budget, dataset=dataset, stage_dataset=stage_dataset,
                   source=SourceRecord(**{key: value for key, value in record_source.items()
                                          if key in SourceRecord.__dataclass_fields__}),
                   row_ids=ids, text_columns=text_columns, labels=labels, label_column=label_column, needs=needs,
                   settings=settings, label_free=label_free, given=given, find_rate=find_rate,
                   warnings=warnings, keys=keys)


def with_rate(plan: RunPlan, rate: float) -> RunPlan:
    """``plan`` at another rate: its budget and rate-dependent settings recomputed, all else shared."""
    rate = check_rate(rate)
    settings = _settings(plan.options, available_methods().get(plan.options.selection.method), rate,
                         plan.needs.difficulty or plan.given.difficulty is not None,
                         labelled=plan.labels is not None and not plan.label_free)
    return replace(plan, rate=rate, budget=budget_from_rate(plan.num_rows, rate), settings=settings, find_rate=False)


def _source_facts(dataset: Any, source: dict[str, Any]) -> dict[str, Any]:
    """The source split's fingerprint, name and content hash (all columns, Arrow batches): what
    a re-selection checks the rows against (values already in ``source`` are kept)."""
    facts = {"fingerprint": source.get("fingerprint") or getattr(dataset, "_fingerprint", None),
             "dataset_name": source.get("dataset_name") or dataset.info.dataset_name}
    if not source.get("content_hash"):
        facts["content_hash"] = rows_hash(dataset, dataset.column_names)
    return facts


def _captions_used(options: PruneOptions, needs: Needs) -> bool:
    """An image dataset's captions are read: by the CLIP score, or by the graph's vectors."""
    embeds = needs.embeddings and options.embedding.source != "classifier" and options.vision.pair_embedding != "image"
    return embeds or (needs.difficulty and options.difficulty.source == "clip_score")


def _has_embeddings(options: PruneOptions, arrays: GivenArrays | None) -> bool:
    return options.columns.embedding is not None or (arrays is not None and arrays.embeddings is not None)


def _given_arrays(options: PruneOptions, dataset: Any, supplied: GivenArrays, kept: np.ndarray | None) -> GivenArrays:
    """Reads and checks the score / pre-filter / embedding columns (no model involved), and
    the arrays the caller supplied (cut to the rows kept by a sample or ``drop_empty``)."""
    columns = options.columns

    def rows_of(values: np.ndarray | None) -> np.ndarray | None:
        if values is None or kept is None or len(values) == kept.size:
            return values
        return values[kept]

    given = GivenArrays(scores=rows_of(supplied.scores), prefilter_scores=rows_of(supplied.prefilter_scores),
                        embeddings=rows_of(supplied.embeddings), difficulty=supplied.difficulty,
                        mean_margins=rows_of(supplied.mean_margins))
    for name, values in (("scores", given.scores), ("prefilter_scores", given.prefilter_scores)):
        if values is not None:
            check_scores(values, dataset.num_rows, name=name)
    if columns.score is not None:
        values = check_scores(column_as_vector(dataset, columns.score, "difficulty scores", "score_column"),
                              name=f"values of column '{columns.score}'")
        given.scores = values if columns.score_direction == "higher" else -values
    if columns.prefilter is not None:
        values = check_scores(column_as_vector(dataset, columns.prefilter, "pre-filter scores", "prefilter_column"),
                              name=f"values of column '{columns.prefilter}'")
        given.prefilter_scores = values if columns.prefilter_direction == "higher" else -values
    if columns.embedding is not None:
        given.embeddings = check_embeddings(column_as_matrix(dataset, columns.embedding, "embeddings",
                                                             "embedding_column"), name="embeddings")
    return given


def _settings(options: PruneOptions, info: Any, rate: float, from_dynamics: bool, labelled: bool) -> SelectionSettings:
    """The selection settings; ``from_dynamics``: the difficulty comes from training dynamics
    (computed here, or supplied as saved dynamics), so the pipeline's defaults apply (the
    pre-filter and the rate-dependent grouping of ``selection/defaults.py``); ``labelled``: the
    selection may read class labels."""
    selection = options.selection
    method = selection.method if selection.method != AUTO_METHOD else "d2"
    pseudo = not labelled and from_dynamics and options.difficulty.source not in LABEL_FREE_SOURCES
    defaults = pipeline_defaults(method, rate, computed_difficulty=from_dynamics, labelled=labelled,
                                 pseudo_labels=pseudo)
    prefilter = selection.prefilter if selection.prefilter is not None else defaults.prefilter
    # AUM's margin rule stands in for the fraction only when the caller gave neither a fraction nor a pre-filter column
    prefilter_margin = defaults.prefilter_margin if selection.prefilter is None and not options.columns.prefilter \
        else None
    partition = selection.partition if selection.partition is not None else defaults.partition
    duplicates = selection.duplicates if selection.duplicates is not None else defaults.duplicates
    grouping_given = selection.partition is not None
    budget_allocation = selection.budget_allocation
    num_strata = selection.num_strata
    if not grouping_given:  # the default grouping comes with its own budgets
        budget_allocation = budget_allocation if budget_allocation is not None else defaults.budget_allocation
        num_strata = num_strata if num_strata is not None else defaults.num_strata
    takes_params = bool(available_methods()[method].params)
    params = selection.d2
    if takes_params and defaults.reverse is not None and "reverse" not in selection.d2_given:
        params = replace(params, reverse=defaults.reverse)
    if not takes_params:
        given = {name: value for name, value in selection.d2.as_dict().items() if D2Params().as_dict()[name] != value}
        if given:
            raise InvalidParameterError(
                sorted(given)[0], f"The {method!r} method does not take the parameter(s) "
                f"{', '.join(map(repr, sorted(given)))}. It accepts: none.")
    return resolve_settings(method, partition=partition, budget_allocation=budget_allocation,
                            num_strata=num_strata, prefilter=prefilter,
                            params=params if takes_params else None,
                            num_partitions=selection.num_partitions, workers=selection.workers,
                            duplicates=duplicates, duplicate_threshold=selection.duplicate_threshold,
                            prefilter_margin=prefilter_margin)


def _check_against_data(options: PruneOptions, settings: SelectionSettings, needs: Needs, num_rows: int) -> None:
    """The checks that need the data: k against n, recorded epochs against the scores, the
    embedding source against the difficulty source."""
    if settings.params is not None and hasattr(settings.params, "k"):
        check_k(settings.params.k, num_rows)
    if num_rows < 2:
        raise ValueError(f"The dataset has {num_rows} row: there is nothing to choose between.")
    difficulty = options.difficulty
    if needs.difficulty and difficulty.source not in LABEL_FREE_SOURCES:
        snapshots = difficulty.head.num_snapshots if difficulty.source == "head" else difficulty.training.epochs
        flag = "head_epochs" if difficulty.source == "head" else "epochs"
        for name in {difficulty.score, options.selection.prefilter_score, options.selection.strata_score} - {None}:
            needed = SCORES[name].min_epochs
            if snapshots < needed:
                raise InvalidParameterError(
                    flag, f"The '{name}' score compares epochs and needs at least {needed} recorded epochs, but {{name}} "
                    f"gives {snapshots}; pass {{set}}{max(needed, 3)}, or choose another difficulty score.")
    if options.embedding.source == "classifier" and needs.embeddings and difficulty.source != "finetune":
        raise InvalidParameterError("embedding_source", "{name} 'classifier' takes the fine-tuned classifier's "
                                    "features; it needs {param:difficulty_source} finetune.")
    if options.embedding.source == "classifier" and needs.difficulty and difficulty.label_free:
        raise InvalidParameterError("embedding_source", "{name} 'classifier' cannot serve a label-free run: its "
                                    "pseudo-labels come from the embeddings; use sentence-transformers.")


def _text_name(columns: TextColumns) -> str:
    return columns.text if columns.template is None else f"{columns.text} (rendered from {', '.join(columns.source_columns)})"
