"""Pruning a ``datasets.Dataset``: ``d2_prune``, ``hf_d2.prune``, ``prune_with_scores``.

These are the public entry points. Each turns the caller's options into ``PruneOptions``
(checked once, in the caller's names), makes the run plan (``hf_d2.plan``), runs the stages
(``hf_d2.stages``), selects (``hf_d2.selection``) and returns a new ``Dataset`` with the original
features, rows in original order, a fingerprint derived from the source's fingerprint, the
parameters and the stage cache keys (never from timings), and its ``SelectionRecord``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hf_d2.coreset import SelectionOutcome, find_rate, select_for_plan
from hf_d2.env import offline_mode
from hf_d2.options import PruneOptions
from hf_d2.plan import RunPlan, make_plan, with_rate
from hf_d2.record import ColumnsRecord, SeedsRecord, SelectionRecord, selection_record
from hf_d2.stages import StageOutputs, dynamics_summary, run_stages
from hf_d2.version import __version__

logger = logging.getLogger("hf_d2")

ADDED_COLUMNS = ("d2_difficulty", "d2_forward_score", "d2_pick_rank", "d2_original_index")
DEFAULT_TRAIN_SPLITS = ("train",)


@dataclass(frozen=True)
class PruneResult:
    """A pruning run.

    dataset: the pruned ``datasets.Dataset`` (original features, rows in original order).
    record: its ``SelectionRecord`` (also stored on ``dataset``; see ``hf_d2.selection_record``).
    scores: a ``datasets.Dataset`` with one row per row selected from: ``original_index``,
        ``difficulty`` (oriented, higher = harder; NaN without scores), ``forward_score`` (NaN
        for methods without a graph), ``pick_rank`` (0 = picked first; -1 = not ranked),
        ``kept``, and, when the difficulty came from training dynamics, ``confidence`` and
        ``variability`` (the data map). For prefix-consistent methods without partitions every
        row that survives the pre-filter is ranked, so keeping the rows with
        ``0 <= pick_rank < round((1 - r) · n)`` is the coreset at any other rate r that leaves
        the same survivors.
    """

    dataset: Any
    record: SelectionRecord
    scores: Any


def prune_with_scores(dataset: Any, rate: float, *, config: str | None = None, split: str | None = None,
                      offline: bool = False, revision: str | None = None, keep_in_memory: bool = False,
                      new_fingerprint: str | None = None, cache_file_name: str | None = None,
                      source: dict[str, Any] | None = None, source_row_ids: Any = None,
                      **options: Any) -> PruneResult:
    """Prunes ``dataset`` to ``round((1 - rate) · n)`` rows; returns a ``PruneResult``.

    dataset: a ``Dataset``, or a name (Hub id, ``repo:config``, local path, bundled
        ``rotten_tomatoes`` / ``imdb``; ``config`` / ``split`` / ``revision`` / ``offline`` pick it).
    rate: fraction of rows REMOVED, 0 <= rate < 1 (0.7 keeps 30%); or "auto": the largest rate of
        0.1, ..., 0.9 whose coreset loses at most ``max_drop`` accuracy points (default 0.5) against
        the full pool, measured by inner cross-validation (``hf_d2.selection.rate_finder``; the
        record's ``rate_search`` holds the curve).
    offline: nothing connects to the network (``hf_d2.env.offline_mode``); the default models are
        the bundled ones.
    options: any hf-d2 option by name (``method="d2"``, ``k=10``, ``gamma_reverse=0.5``,
        ``score_column="difficulty"``, ``embedding_column="emb"``, ``difficulty="aum"``,
        ``difficulty_source="finetune"``, ``epochs=2``, ``max_examples=2000``, ``seed=0``,
        ``selection_seed=1``, ...; docs/options.md lists every one with its default). With a
        score and an embedding column no model runs; otherwise the missing stages run and are
        cached (``cache_dir``; ``use_cache=False`` recomputes).
    keep_in_memory / cache_file_name / new_fingerprint: passed to ``Dataset.select`` as in
        ``datasets``. source / source_row_ids: where given rows came from (for the record).
    """
    with offline_mode(offline):  # nothing connects; the default models are the bundled ones
        plan = make_plan(dataset, rate, PruneOptions.from_values(options), config=config, split=split,
                         offline=offline, revision=revision, source=source, row_ids=source_row_ids)
        return run_plan(plan, keep_in_memory=keep_in_memory, new_fingerprint=new_fingerprint,
                        cache_file_name=cache_file_name)


def run_plan(plan: RunPlan, *, keep_in_memory: bool = False, new_fingerprint: str | None = None,
             cache_file_name: str | None = None, outputs: StageOutputs | None = None) -> PruneResult:
    """Runs the stages of ``plan`` (or takes ``outputs`` already computed), selects and builds
    the pruned dataset, its record and the scores table."""
    outputs = outputs if outputs is not None else run_stages(plan)
    rate_search = None
    if plan.find_rate:  # rate="auto": the stages' outputs do not depend on the rate
        rate, rate_search = find_rate(plan, outputs, lambda candidate: with_rate(plan, candidate))
        plan = with_rate(plan, rate)
    outcome = select_for_plan(plan, outputs)
    record = _record(plan, outputs, outcome)
    record.rate_search = rate_search
    dataset = plan.dataset
    for added in ADDED_COLUMNS:
        if plan.options.add_columns and added in dataset.column_names:
            raise ValueError(f"The dataset already has a column '{added}'; remove it (dataset.remove_columns('{added}')) "
                             "or pass add_columns=False.")
    fingerprint = new_fingerprint or derived_fingerprint(dataset, record)
    kept = outcome.kept_positions
    pruned = dataset.select(kept, keep_in_memory=keep_in_memory, indices_cache_file_name=cache_file_name,
                            new_fingerprint=fingerprint if not plan.options.add_columns else _step(fingerprint, "select"))
    difficulty = outputs.scores if outputs.scores is not None else np.full(plan.num_rows, np.nan)
    if plan.options.add_columns:
        extra = {"d2_difficulty": difficulty[kept], "d2_forward_score": outcome.forward_scores[kept],
                 "d2_pick_rank": outcome.pick_rank[kept], "d2_original_index": plan.row_ids[kept]}
        for name, values in extra.items():
            step = fingerprint if name == ADDED_COLUMNS[-1] else _step(fingerprint, name)
            pruned = pruned.add_column(name, values, new_fingerprint=step)
    pruned.info.description = record.attach(dataset.info.description)
    _describe_coreset(pruned)
    return PruneResult(dataset=pruned, record=record, scores=scores_table(plan, outputs, outcome, difficulty))


def scores_table(plan: RunPlan, outputs: StageOutputs, outcome: SelectionOutcome, difficulty: np.ndarray) -> Any:
    """The per-row table (see ``PruneResult.scores``)."""
    import datasets  # noqa: PLC0415

    kept = np.zeros(plan.num_rows, dtype=bool)
    kept[outcome.kept_positions] = True
    columns = {"original_index": plan.row_ids, "difficulty": difficulty, "forward_score": outcome.forward_scores,
               "pick_rank": outcome.pick_rank, "kept": kept, **dynamics_summary(outputs.dynamics, outputs.embeddings)}
    return datasets.Dataset.from_dict(columns)


def derived_fingerprint(dataset: Any, record: SelectionRecord) -> str:
    """The pruned dataset's fingerprint: the source's, the parameters and the stage cache keys
    (``SelectionRecord.fingerprint_fields``), never timings."""
    from datasets.fingerprint import Hasher  # noqa: PLC0415

    return Hasher.hash([getattr(dataset, "_fingerprint", None), "hf_d2.d2_prune", record.fingerprint_fields()])


def prune_dataset(dataset: Any, rate: float, **options: Any):
    """Prunes ``dataset``; returns the pruned ``datasets.Dataset`` (see ``prune_with_scores``)."""
    return prune_with_scores(dataset, rate, **options).dataset


def prune_dataset_dict(dataset_dict: Any, rate: float, *, splits: Sequence[str] | str | None = None, **options: Any):
    """Prunes the training split(s) of a ``DatasetDict``; the other splits are returned untouched.

    splits: the split name(s) to prune; default "train" (an error lists the splits when the
    dict has none named train).
    """
    import datasets  # noqa: PLC0415

    if isinstance(splits, str):
        splits = [splits]
    if splits is None:
        splits = [name for name in DEFAULT_TRAIN_SPLITS if name in dataset_dict]
        if not splits:
            raise ValueError(f"No 'train' split to prune; the splits are: {', '.join(dataset_dict)}. Name the training "
                             "split(s) with splits=[...].")
    missing = [name for name in splits if name not in dataset_dict]
    if missing:
        raise ValueError(f"Split(s) {', '.join(missing)} not found; the splits are: {', '.join(dataset_dict)}.")
    return datasets.DatasetDict({name: prune_dataset(part, rate, **options) if name in splits else part
                                 for name, part in dataset_dict.items()})


def prune(dataset: Any, rate: float, *, config: str | None = None, split: str | None = None, offline: bool = False,
          return_result: bool = False, **options: Any):
    """Prunes a dataset given as a ``Dataset``, a ``DatasetDict`` (its training split) or a name
    (Hub id, ``repo:config``, local path, bundled ``rotten_tomatoes`` / ``imdb``), computing
    difficulty and embeddings as needed; returns the pruned ``Dataset`` (``DatasetDict`` for a
    dict), or the ``PruneResult`` with ``return_result=True``. Options: see ``prune_with_scores``."""
    import datasets  # noqa: PLC0415

    if isinstance(dataset, datasets.DatasetDict):
        if return_result or options.get("max_examples") is not None:
            raise ValueError("Pass one split (dataset_dict['train']) for return_result or max_examples.")
        with offline_mode(offline):
            return prune_dataset_dict(dataset, rate, splits=split, **options)
    result = prune_with_scores(dataset, rate, config=config, split=split, offline=offline, **options)
    return result if return_result else result.dataset


def _record(plan: RunPlan, outputs: StageOutputs, outcome: SelectionOutcome) -> SelectionRecord:

    options, settings = plan.options, outcome.settings
    columns = options.columns
    text = plan.text_columns
    labels = plan.labels
    kept_ids = plan.row_ids[outcome.kept_positions]
    return SelectionRecord(
        method=options.selection.method, rate=plan.rate, budget=plan.budget, num_rows_before=plan.num_rows,
        num_rows_after=int(kept_ids.size), kept_row_ids=kept_ids.tolist(), hf_d2_version=__version__,
        partition=settings.partition, budget_allocation=settings.budget_allocation, num_strata=settings.num_strata,
        prefilter=settings.prefilter, strata_score=options.selection.strata_score if plan.needs.difficulty else None,
        num_partitions=outcome.num_groups if settings.partition == "cluster" else None,
        method_params=settings.method_params, options=_recorded_options(options), ranked_rows=outcome.ranked_rows,
        ranks_all_rows=outcome.ranked_rows == plan.num_rows, label_free=plan.label_free,
        seeds=SeedsRecord(sample=options.seeds.sample, training=options.seeds.training,
                          selection=options.seeds.for_selection),
        columns=ColumnsRecord(text=text.text if text and text.template is None else None,
                              text_pair=text.text_pair if text else None, text_template=text.template if text else None,
                              label=plan.label_column, score=columns.score,
                              score_direction=f"{columns.score_direction} = harder" if columns.score else None,
                              embedding=columns.embedding, prefilter=columns.prefilter,
                              prefilter_direction=f"{columns.prefilter_direction} = harder" if columns.prefilter else None,
                              image=text.image if text else None),
        source=plan.source, difficulty=outputs.difficulty, embeddings=outputs.embedding, graph=outcome.graph,
        auto=outcome.auto, duplicates=outcome.duplicates, label_counts_before=_label_counts(labels, None),
        label_counts_after=_label_counts(labels, outcome.kept_positions),
        warnings=[*plan.warnings, *outputs.warnings, *outcome.warnings],
        timings=[*outputs.timings, *_selection_timing(outcome)])


def _selection_timing(outcome: SelectionOutcome) -> list[dict[str, Any]]:
    """The selection's row of the timings: its seconds (the kNN graph included; its own seconds
    are in the record's graph)."""
    if outcome.seconds is None:
        return []
    graph = outcome.graph or {}
    what = f"graph {graph.get('backend')} + select" if graph else "select"
    return [{"stage": "select", "seconds": round(outcome.seconds, 3), "cache": "-", "what": what}]


def _recorded_options(options: PruneOptions) -> dict[str, Any]:
    """The options given non-default values, minus where files live (the cache)."""
    return {name: value for name, value in options.changed_values().items() if name not in ("cache_dir",)}


def _label_counts(labels: Any, positions: np.ndarray | None) -> dict[str, int] | None:
    if labels is None:
        return None
    ids = labels.ids if positions is None else labels.ids[positions]
    counts = np.bincount(ids, minlength=labels.num_labels)
    return {name: int(count) for name, count in zip(labels.names, counts)}


def _describe_coreset(pruned: Any) -> None:
    """Makes ``info.splits`` (written to dataset_info.json) describe the coreset, not the source:
    ``select`` keeps the source's split sizes."""
    import datasets  # noqa: PLC0415

    info = pruned.info
    split_name = str(pruned.split) if pruned.split is not None else "train"
    info.splits = datasets.SplitDict({split_name: datasets.SplitInfo(name=split_name, num_examples=pruned.num_rows)})
    info.download_size = info.dataset_size = info.size_in_bytes = None
    info.download_checksums = None


def _step(fingerprint: str, step: str) -> str:
    from datasets.fingerprint import Hasher  # noqa: PLC0415

    return Hasher.hash([fingerprint, step])


__all__ = ["ADDED_COLUMNS", "PruneResult", "derived_fingerprint", "prune", "prune_dataset", "prune_dataset_dict",
           "prune_with_scores", "run_plan", "scores_table", "selection_record"]
