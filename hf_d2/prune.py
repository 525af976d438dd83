"""``Dataset.d2_prune`` / ``DatasetDict.d2_prune``: select a coreset and return it as a Dataset.

The array-given path reads the difficulty (``score_column``) and the embeddings
(``embedding_column``) from the dataset and runs no model. The result is a new ``Dataset`` with
the original features and rows in their original order, a deterministic fingerprint derived
from the source's and the parameters, and a selection record (``selection_record(pruned)``)
that survives ``save_to_disk``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hf_d2._io import to_jsonable
from hf_d2._validation import budget_from_rate, check_choice, check_rate
from hf_d2.data import (
    arrow_column,
    column_as_matrix,
    column_as_vector,
    encode_labels,
    infer_columns,
    require_column,
)
from hf_d2.pipeline import StageSettings, run_model_stages
from hf_d2.selection import available_methods, resolve_method_settings, select
from hf_d2.selection.partition import prefilter_count

SCORE_DIRECTIONS = ("higher", "lower")  # which end of the score column is hard
ADDED_COLUMNS = ("d2_difficulty", "d2_forward_score", "d2_pick_rank", "d2_original_index")
RECORD_MARKER = "\n\n<!-- hf-d2 selection record -->\n"
DEFAULT_TRAIN_SPLITS = ("train",)
# Full pipeline: d2 drops the hardest 10% by AUM first (D2-SPEC §9: measured; the reference too).
DEFAULT_PIPELINE_PREFILTER = 0.1


@dataclass(frozen=True)
class PruneResult:
    """A pruning run.

    dataset: the pruned ``datasets.Dataset`` (original features, rows in original order).
    record: the selection record (also stored on ``dataset``; see ``selection_record``).
    scores: a ``datasets.Dataset`` with one row per SOURCE example: ``original_index``,
        ``difficulty`` (oriented, higher = harder; NaN without scores), ``forward_score`` (NaN
        for methods without a graph), ``pick_rank`` (0 = picked first; -1 = not ranked) and
        ``kept``. For prefix-consistent methods without partitions every row that survives the
        pre-filter is ranked (without a pre-filter: every row), so keeping the rows with
        ``0 <= pick_rank < round((1 - r) · n)`` is the coreset at any other rate r that leaves
        the same survivors (``hf_d2.hub.reselect`` checks that).
    """

    dataset: Any
    record: dict[str, Any]
    scores: Any


def prune_dataset(dataset: Any, rate: float, **kwargs: Any):
    """Prunes ``dataset``; returns the pruned ``datasets.Dataset`` (see ``prune_with_scores``)."""
    return prune_with_scores(dataset, rate, **kwargs).dataset


def prune_with_scores(
    dataset: Any,
    rate: float,
    *,
    method: str = "d2",
    score_column: str | None = None,
    embedding_column: str | None = None,
    label_column: str | None = None,
    score_direction: str = "higher",
    prefilter: float | None = None,
    prefilter_column: str | None = None,
    prefilter_direction: str = "higher",
    partition: str | None = None,
    budget_allocation: str | None = None,
    num_strata: int | None = None,
    seed: int = 0,
    add_columns: bool = False,
    keep_in_memory: bool = False,
    new_fingerprint: str | None = None,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    difficulty: str = "variability",
    model: str | None = None,
    embedding_model: str | None = None,
    embedding_source: str = "sentence-transformers",
    epochs: int = 3,
    batch_size: int = 8,
    learning_rate: float = 5e-5,
    warmup_ratio: float = 0.05,
    max_length: int = 128,
    cache_dir: str | None = None,
    load_from_cache_file: bool = True,
    cache_file_name: str | None = None,
    source: dict[str, Any] | None = None,
    source_row_ids: Any = None,
    **method_params: Any,
) -> PruneResult:
    """Prunes ``dataset`` to ``round((1 - rate) · n)`` rows; returns a ``PruneResult``.

    rate: fraction of rows REMOVED, 0 <= rate < 1 (0.7 keeps 30%).
    method: a name from ``hf_d2.selection.available_methods()``: "d2" (default), "random",
        "hard", "easy", "kcenter", "moderate", "ccs", "ccs-d2".
    score_column: difficulty per row; ``score_direction="higher"`` means higher = harder,
        "lower" (AUM, confidence) flips it. embedding_column: one equal-length vector per row.
    label_column: class labels; used by ``partition="label"``, by moderate's per-class median,
        and for the per-label counts in the record (defaults to a "label" column if present).
    prefilter: fraction of the hardest rows dropped before selecting (default 0 here: with only
        a score column given, no pre-filter runs unless asked for; the ccs presets use 0.1);
        ``prefilter_column`` / ``prefilter_direction`` choose the score it drops by (e.g. AUM,
        "lower"); default: the difficulty.
    partition / budget_allocation / num_strata: see ``hf_d2.selection.select``.
    seed: every stochastic step is seeded by it.
    add_columns: add ``d2_difficulty`` (oriented, higher = harder), ``d2_forward_score`` (NaN
        for methods without a graph), ``d2_pick_rank`` (0 = picked first) and
        ``d2_original_index``.
    **method_params: the method's own parameters, e.g. ``k=10, gamma_reverse=0.5`` for d2.

    Full pipeline: when the method needs difficulty and no ``score_column`` is given, a
    classifier is fine-tuned and its training dynamics scored (``difficulty``, default
    variability); when it needs embeddings and no ``embedding_column`` is given, they are
    computed (``embedding_model``, default all-MiniLM-L6-v2; or ``embedding_source="classifier"``).
    Both stages are cached (``cache_dir``; ``load_from_cache_file=False`` recomputes), so changing
    only ``rate``, ``k`` or γ re-runs only the selection. In the full pipeline ``d2`` drops the
    hardest 10% by AUM first (``prefilter=0.1``; D2-SPEC §9) and the CCS presets pre-filter and
    stratify by AUM; ``prefilter=0`` runs the bare algorithm. ``text_column`` /
    ``text_pair_column`` / ``label_column`` override the inferred columns; ``model``, ``epochs``,
    ``batch_size``, ``learning_rate``, ``warmup_ratio``, ``max_length`` set the fine-tuning.
    ``cache_file_name`` / ``keep_in_memory`` are passed to ``Dataset.select`` as in ``datasets``.
    source / source_row_ids: where the rows came from (set by ``hf_d2.prune``), for the record.
    """
    import datasets  # noqa: PLC0415

    if isinstance(dataset, datasets.IterableDataset):
        raise ValueError(
            "d2_prune needs a map-style Dataset (it ranks all rows at once); materialise the stream "
            "first, e.g. Dataset.from_generator(lambda: (yield from iterable_ds), features=iterable_ds.features)."
        )
    rate = check_rate(rate)
    methods = available_methods()
    if method not in methods:
        raise ValueError(f"The 'method' parameter must be one of {', '.join(map(repr, methods))}. Got {method!r}.")
    info = methods[method]
    score_direction = check_choice("score_direction", score_direction, SCORE_DIRECTIONS)
    prefilter_direction = check_choice("prefilter_direction", prefilter_direction, SCORE_DIRECTIONS)
    num_rows = dataset.num_rows
    if num_rows == 0:
        raise ValueError("The dataset is empty (0 rows): there is nothing to prune; check the split and any filters.")
    for added in ADDED_COLUMNS:
        if add_columns and added in dataset.column_names:
            raise ValueError(
                f"The dataset already has a column '{added}'; remove it (dataset.remove_columns('{added}')) "
                "or pass add_columns=False."
            )

    stage_settings = StageSettings(
        difficulty=difficulty, model=model, embedding_model=embedding_model, embedding_source=embedding_source,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, warmup_ratio=warmup_ratio,
        max_length=max_length, cache_dir=cache_dir, load_from_cache_file=load_from_cache_file,
    )
    needs = _stage_needs(info, score_column, embedding_column, prefilter_column, prefilter, partition)
    if needs["difficulty"] and prefilter is None and method == "d2":
        prefilter = DEFAULT_PIPELINE_PREFILTER
    outputs = None
    if needs["difficulty"] or needs["embeddings"]:
        columns = infer_columns(dataset, text_column, text_pair_column, label_column)
        label_column = columns.label
        encode_labels(dataset, label_column)  # a bad label column fails here, before any model runs
        outputs = run_model_stages(dataset, columns, need_difficulty=needs["difficulty"],
                                   need_embeddings=needs["embeddings"], settings=stage_settings, seed=seed)

    if score_column is not None:
        scores = _oriented(column_as_vector(dataset, score_column, "difficulty scores", "score_column"), score_direction)
    else:
        scores = outputs.scores if outputs is not None else None
    if embedding_column is not None:
        embeddings = column_as_matrix(dataset, embedding_column, "embeddings", "embedding_column")
    else:
        embeddings = outputs.embeddings if outputs is not None else None
    if prefilter_column is not None:
        prefilter_scores = _oriented(
            column_as_vector(dataset, prefilter_column, "pre-filter scores", "prefilter_column"), prefilter_direction)
    else:
        prefilter_scores = outputs.aum_hardness if outputs is not None and score_column is None else None
    labels, label_names, label_column = _labels(dataset, label_column)

    budget = budget_from_rate(num_rows, rate)
    settings = resolve_method_settings(method, partition=partition, budget_allocation=budget_allocation,
                                       num_strata=num_strata, prefilter=prefilter, **method_params)
    # Prefix-consistent runs without partitions rank every row that survives the pre-filter (the
    # coreset is the first `budget`; without a pre-filter that is every row), so the scores table
    # can re-select at any rate that leaves the same survivors.
    prefix_ranking = info.prefix_consistent and settings["partition"] == "none"
    ranks_all_rows = prefix_ranking and settings["prefilter"] == 0
    num_ranked = num_rows - prefilter_count(num_rows, settings["prefilter"], budget) if prefix_ranking else budget
    ranking, forward_scores = select(
        method, num_ranked, scores=scores, embeddings=embeddings, labels=labels,
        num_rows=num_rows, seed=seed, partition=partition, budget_allocation=budget_allocation,
        num_strata=num_strata, prefilter=prefilter, prefilter_scores=prefilter_scores,
        return_forward_scores=True, **method_params,
    )
    order = ranking[:budget]
    kept_indices = np.sort(order)
    row_ids = np.arange(num_rows) if source_row_ids is None else np.asarray(source_row_ids, dtype=np.int64)
    pick_rank = np.full(num_rows, -1, dtype=np.int64)
    pick_rank[ranking] = np.arange(ranking.size)
    difficulty = scores if scores is not None else np.full(num_rows, np.nan)
    record = {
        "hf_d2_version": _version(),
        **to_jsonable(settings),
        "ranks_all_rows": bool(ranks_all_rows),
        "ranked_rows": int(num_ranked),
        "rate": rate,
        "budget": int(budget),
        "num_rows_before": int(num_rows),
        "num_rows_after": int(kept_indices.size),
        "seed": int(seed),
        "score_column": score_column,
        "score_direction": f"{score_direction} = harder" if score_column else None,
        "embedding_column": embedding_column,
        "label_column": label_column,
        "prefilter_column": prefilter_column,
        "prefilter_direction": f"{prefilter_direction} = harder" if prefilter_column else None,
        "source": {**_source_info(dataset), **(source or {})},
        "stages": outputs.record if outputs is not None else None,
        "timings": outputs.timings if outputs is not None else [],
        "label_counts_before": _label_counts(labels, label_names, None),
        "label_counts_after": _label_counts(labels, label_names, kept_indices),
        "kept_row_ids": row_ids[kept_indices].tolist(),
    }
    fingerprint = new_fingerprint or _derived_fingerprint(dataset, record)
    if not add_columns:
        pruned = dataset.select(kept_indices, keep_in_memory=keep_in_memory, indices_cache_file_name=cache_file_name,
                                new_fingerprint=fingerprint)
    else:
        pruned = dataset.select(kept_indices, keep_in_memory=keep_in_memory, indices_cache_file_name=cache_file_name,
                                new_fingerprint=_step_fingerprint(fingerprint, "select"))
        extra = {
            "d2_difficulty": difficulty[kept_indices],
            "d2_forward_score": forward_scores[kept_indices],
            "d2_pick_rank": pick_rank[kept_indices],
            "d2_original_index": row_ids[kept_indices],
        }
        for name, values in extra.items():
            step = fingerprint if name == ADDED_COLUMNS[-1] else _step_fingerprint(fingerprint, name)
            pruned = pruned.add_column(name, values, new_fingerprint=step)
    pruned.info.description = _with_record(dataset.info.description, record)
    kept = np.zeros(num_rows, dtype=bool)
    kept[kept_indices] = True
    scores_table = datasets.Dataset.from_dict({
        "original_index": row_ids,
        "difficulty": difficulty,
        "forward_score": forward_scores,
        "pick_rank": pick_rank,
        "kept": kept,
    })
    return PruneResult(dataset=pruned, record=record, scores=scores_table)


def prune_dataset_dict(dataset_dict: Any, rate: float, *, splits: Sequence[str] | str | None = None, **kwargs: Any):
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
            raise ValueError(
                f"No 'train' split to prune; the splits are: {', '.join(dataset_dict)}. "
                "Name the training split(s) with splits=[...]."
            )
    missing = [name for name in splits if name not in dataset_dict]
    if missing:
        raise ValueError(
            f"Split(s) {', '.join(missing)} not found; the splits are: {', '.join(dataset_dict)}."
        )
    return datasets.DatasetDict(
        {name: prune_dataset(split, rate, **kwargs) if name in splits else split
         for name, split in dataset_dict.items()}
    )


def selection_record(dataset: Any) -> dict[str, Any] | None:
    """The selection record stored on a pruned dataset (None when it was not pruned by hf-d2)."""
    description = dataset.info.description or ""
    if RECORD_MARKER not in description:
        return None
    return json.loads(description.split(RECORD_MARKER, 1)[1])


def _stage_needs(info, score_column, embedding_column, prefilter_column, prefilter, partition) -> dict[str, bool]:
    """Which model stages the selection needs: difficulty when scores are needed (by the method,
    by strata or by a pre-filter) and no column holds them; embeddings likewise."""
    from hf_d2.selection import Preset  # noqa: PLC0415

    stratified = partition == "strata" or isinstance(info, Preset)
    prefiltered = (prefilter or 0) > 0 or isinstance(info, Preset)
    needs_scores = info.needs_scores or stratified or (prefiltered and prefilter_column is None)
    return {"difficulty": needs_scores and score_column is None,
            "embeddings": info.needs_embeddings and embedding_column is None}


def _oriented(values: np.ndarray, direction: str) -> np.ndarray:
    return values if direction == "higher" else -values


def _labels(dataset, label_column):
    """(labels or None, class names or None, the column used)."""
    import datasets  # noqa: PLC0415

    if label_column is None:
        if "label" not in dataset.column_names:
            return None, None, None
        label_column = "label"
    require_column(dataset, label_column, "class labels", "label_column")
    feature = dataset.features[label_column]
    names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    labels = arrow_column(dataset, label_column).to_numpy()
    if labels.dtype == object:
        labels = labels.astype(str)
    return labels, names, label_column


def _label_counts(labels, names, kept_indices) -> dict[str, int] | None:
    if labels is None:
        return None
    chosen = labels if kept_indices is None else labels[kept_indices]
    counts = Counter(chosen.tolist())
    def name_of(value):
        return names[value] if names is not None and 0 <= int(value) < len(names) else str(value)
    return {name_of(value): int(counts[value]) for value in sorted(counts)}


def _source_info(dataset) -> dict[str, Any]:
    info = dataset.info
    return {
        "fingerprint": getattr(dataset, "_fingerprint", None),
        "dataset_name": info.dataset_name,
        "config_name": info.config_name,
        "split": str(dataset.split) if dataset.split is not None else None,
        "version": str(info.version) if info.version else None,
    }


def _derived_fingerprint(dataset, record) -> str:
    from datasets.fingerprint import Hasher  # noqa: PLC0415

    parameters = {key: value for key, value in record.items() if key != "kept_row_ids"}
    return Hasher.hash([getattr(dataset, "_fingerprint", None), "hf_d2.d2_prune", parameters])


def _step_fingerprint(fingerprint: str, step: str) -> str:
    from datasets.fingerprint import Hasher  # noqa: PLC0415

    return Hasher.hash([fingerprint, step])


def _with_record(description: str | None, record: dict[str, Any]) -> str:
    """Keeps the user's description and (re)places the record block after it."""
    user_text = (description or "").split(RECORD_MARKER, 1)[0]
    return user_text + RECORD_MARKER + json.dumps(record, sort_keys=True)


def _version() -> str:
    from hf_d2 import __version__  # noqa: PLC0415

    return __version__


def register_dataset_methods() -> None:
    """Adds ``d2_prune`` to ``datasets.Dataset`` and ``datasets.DatasetDict`` (idempotent)."""
    import datasets  # noqa: PLC0415

    def dataset_d2_prune(self, rate: float, **kwargs: Any):
        return prune_dataset(self, rate, **kwargs)

    def dataset_dict_d2_prune(self, rate: float, **kwargs: Any):
        return prune_dataset_dict(self, rate, **kwargs)

    dataset_d2_prune.__doc__ = prune_dataset.__doc__
    dataset_dict_d2_prune.__doc__ = prune_dataset_dict.__doc__
    datasets.Dataset.d2_prune = dataset_d2_prune
    datasets.DatasetDict.d2_prune = dataset_dict_d2_prune


def sample_row_ids(num_rows: int, max_examples: int | None, seed: int) -> np.ndarray | None:
    """Sorted ids of a seeded uniform sample of ``max_examples`` rows (None: use every row)."""
    from hf_d2._validation import check_positive_int  # noqa: PLC0415

    if max_examples is None or max_examples >= num_rows:
        return None
    max_examples = check_positive_int("max_examples", max_examples)
    return np.sort(np.random.default_rng(seed).choice(num_rows, size=max_examples, replace=False))


def prune(
    dataset: Any,
    rate: float,
    *,
    config: str | None = None,
    split: str | None = None,
    max_examples: int | None = None,
    offline: bool = False,
    seed: int = 0,
    return_result: bool = False,
    **kwargs: Any,
):
    """Prunes a dataset given as a ``Dataset``, a ``DatasetDict`` (its training split) or a name
    (Hub id, ``repo:config``, local path, bundled ``rotten_tomatoes`` / ``imdb``), computing
    difficulty and embeddings as needed; returns the pruned ``Dataset`` (``DatasetDict`` for a
    dict), or the ``PruneResult`` with ``return_result=True``.

    max_examples: prune a seeded uniform sample of this many rows (kept row ids still refer to
    the source split). Other keyword arguments: see ``prune_with_scores``.
    """
    import datasets  # noqa: PLC0415

    from hf_d2.data import resolve_dataset  # noqa: PLC0415

    if isinstance(dataset, datasets.DatasetDict):
        if return_result or max_examples is not None:
            raise ValueError("Pass one split (dataset_dict['train']) for return_result or max_examples.")
        return prune_dataset_dict(dataset, rate, splits=split, seed=seed, **kwargs)
    source = None
    if isinstance(dataset, str):
        resolved = resolve_dataset(dataset, config, split, offline=offline)
        dataset, source = resolved.dataset, {**resolved.source, "name": resolved.source.get("name", dataset)}
    if dataset.num_rows == 0:
        raise ValueError("The dataset split is empty (0 rows): check --split and any filters.")
    row_ids = sample_row_ids(dataset.num_rows, max_examples, seed)
    if row_ids is not None:
        source = {**(source or {}), "max_examples": int(max_examples), "num_rows_in_split": dataset.num_rows}
        dataset = dataset.select(row_ids)
    result = prune_with_scores(dataset, rate, seed=seed, source=source, source_row_ids=row_ids, **kwargs)
    return result if return_result else result.dataset
