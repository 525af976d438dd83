"""Pruning a ``datasets.Dataset``: ``d2_prune``, ``hf_d2.prune``, ``prune_with_scores``.

These are the public entry points. Each turns the caller's options into ``PruneOptions``
(checked once, in the caller's names), makes the run plan (``hf_d2.plan``), runs the stages
(``hf_d2.stages``), selects (``hf_d2.selection``) and returns a new ``Dataset`` with the original
features, rows in original order, a fingerprint derived from the source's fingerprint, the
parameters and the stage cache keys (never from timings), and its ``SelectionRecord``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from hf_d2.coreset import SelectionOutcome, find_rate, select_for_plan
from hf_d2.env import offline_mode
from hf_d2.options import PruneOptions
from hf_d2.plan import RunPlan, make_plan, with_rate
from hf_d2.record import SelectionRecord, build_record, selection_record
from hf_d2.stages import StageOutputs, dynamics_summary, run_stages

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
    """One way through a run: the stages of ``plan`` (``run_stages``, or ``outputs`` already
    computed), the rate of a rate="auto" plan, the selection (``select_for_plan``), the record
    (``build_record``), then the pruned dataset and the scores table (the CLI then writes the folder)."""
    outputs = outputs if outputs is not None else run_stages(plan)
    rate_search = None
    if plan.find_rate:  # rate="auto": the stages' outputs do not depend on the rate
        rate, rate_search = find_rate(plan, outputs, lambda candidate: with_rate(plan, candidate))
        plan = with_rate(plan, rate)
    outcome = replace(select_for_plan(plan, outputs), rate_search=rate_search)
    record = build_record(plan, outputs, outcome)
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
