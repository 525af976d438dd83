"""From a plan's arrays to the coreset: the one place that calls ``hf_d2.selection.select`` for
the pipeline (prune, evaluate and re-selection all come here).

``select_for_plan(plan, outputs)`` chooses the settings (``auto`` picks them per rate by inner
cross-validation, ``hf_d2.selection.auto``), ranks the rows (every row that survives the
pre-filter for prefix-consistent methods without partitions, so any smaller budget is a
prefix), and warns when the coreset is lopsided across classes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hf_d2._validation import assign
from hf_d2.cache import record_timing
from hf_d2.estimate import selection_timing_key, selection_work
from hf_d2.selection import available_methods, select
from hf_d2.selection.defaults import margin_prefilter
from hf_d2.selection.partition import prefilter_count, reads_embeddings
from hf_d2.selection.selector import SelectionDetails, SelectionSettings

logger = logging.getLogger("hf_d2")

# A coreset is lopsided when a class keeps fewer than this many rows ...
MIN_ROWS_PER_CLASS = 3
# ... or when one class keeps this many times the fraction another keeps.
MAX_KEPT_FRACTION_RATIO = 2.0


@dataclass
class SelectionArrays:
    """What a selection reads, aligned with the rows: difficulty ``scores`` (n,), higher =
    harder; ``prefilter_scores`` / ``strata_scores`` (n,) (None: use ``scores``); ``embeddings``
    (n, d); ``labels`` (n,) int64 (None: label-free; a label-free run partitioned by its
    k-means pseudo-labels gets those); ``mean_margins`` (n,) the difficulty model's mean margin
    over training (probability of the label minus the best other class; low = confidently
    wrong), None when the difficulty did not come from training dynamics."""

    scores: np.ndarray | None
    embeddings: np.ndarray | None
    labels: np.ndarray | None
    prefilter_scores: np.ndarray | None = None
    strata_scores: np.ndarray | None = None
    mean_margins: np.ndarray | None = None


@dataclass
class SelectionOutcome:
    """settings: what ran. order: row positions in priority order (the first ``budget`` are
    kept). kept_positions: sorted positions kept. pick_rank: (n,) rank in ``order``, -1 when
    not ranked. forward_scores: (n,) D2's forward scores (NaN elsewhere). ranked_rows:
    ``len(order)``. auto: the candidates and their inner scores when ``method="auto"``. graph:
    the kNN graph(s) the selection built (``hf_d2.selection.groups.summarise_graphs``: backend,
    reason, recall, k, num_edges; a summary with ``per_group`` for several groups), None for
    methods without one. num_groups: groups selected in. seconds: wall time of the selection
    (graph included). duplicates: the duplicate groups' counts (``SelectionDetails.duplicates``),
    None when every row counted on its own. rate_search: with rate="auto", how the rate was chosen
    (``find_rate``), None otherwise."""

    settings: SelectionSettings
    order: np.ndarray
    kept_positions: np.ndarray
    pick_rank: np.ndarray
    forward_scores: np.ndarray
    ranked_rows: int
    auto: dict[str, Any] | None = None
    graph: dict[str, Any] | None = None
    num_groups: int = 1
    seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    duplicates: dict[str, Any] | None = None
    rate_search: dict[str, Any] | None = None

    def timing_rows(self) -> list[dict[str, Any]]:
        """The selection's row of a record's timings: its seconds (the kNN graph included; the
        graph's own seconds are in the record's graph), none when not timed."""
        if self.seconds is None:
            return []
        what = f"graph {self.graph.get('backend')} + select" if self.graph else "select"
        return [{"stage": "select", "seconds": round(self.seconds, 3), "cache": "-", "what": what}]


def rank_rows(settings: SelectionSettings, budget: int, arrays: SelectionArrays, num_rows: int,
              seed: int) -> tuple[SelectionDetails, int]:
    """(the selection's details, ranked rows) of one selection: ``details.order[:budget]`` is the
    coreset; ``details.graph`` summarises the kNN graph(s) built (backend, reason, recall, ...)."""
    info = available_methods()[settings.method]
    prefix = info.prefix_consistent and settings.partition == "none"
    ranked = num_rows - prefilter_count(num_rows, settings.prefilter, budget) if prefix else budget
    uses_scores = info.needs_scores or settings.partition == "strata" or settings.prefilter > 0
    details = select(
        settings.method, ranked, num_rows=num_rows, seed=seed,
        scores=arrays.scores if uses_scores else None,
        embeddings=arrays.embeddings if reads_embeddings(info.needs_embeddings, settings.partition,
                                                         settings.duplicates) else None,
        labels=arrays.labels, partition=settings.partition, budget_allocation=settings.budget_allocation,
        num_strata=settings.num_strata, prefilter=settings.prefilter,
        prefilter_scores=arrays.prefilter_scores if uses_scores else None,
        strata_scores=arrays.strata_scores if uses_scores else None,
        params=settings.params, num_partitions=settings.num_partitions, workers=settings.workers,
        duplicates=settings.duplicates, duplicate_threshold=settings.duplicate_threshold, return_details=True)
    return details, int(ranked)


def coreset_positions(settings: SelectionSettings, budget: int, arrays: SelectionArrays, num_rows: int,
                      seed: int) -> np.ndarray:
    """Sorted (budget,) int64 positions that ``settings`` keeps."""
    details, _ = rank_rows(settings, budget, arrays, num_rows, seed)
    return np.sort(details.order[:budget]).astype(np.int64)


def selection_arrays(plan: Any, outputs: Any) -> SelectionArrays:
    """What the selection of ``plan`` reads, from its stage outputs. A label-free run that
    partitions by label (the pipeline's default for pseudo-label dynamics) reads the k-means
    pseudo-labels its difficulty model trained on, never the dataset's labels."""
    labels = plan.selection_labels
    if labels is None and plan.label_free and plan.settings.partition == "label":
        labels = outputs.pseudo_labels
    return SelectionArrays(scores=outputs.scores, embeddings=outputs.embeddings, labels=labels,
                           prefilter_scores=outputs.prefilter_scores, strata_scores=outputs.strata_scores,
                           mean_margins=outputs.mean_margins)


def settings_for(plan: Any, arrays: SelectionArrays) -> tuple[SelectionSettings, dict[str, Any] | None]:
    """(the settings the selection of ``plan`` runs with, auto's record or None): the plan's own,
    or, for ``method="auto"``, those that auto chooses at the plan's rate. A margin pre-filter
    (``settings.prefilter_margin``) becomes the fraction of rows it drops here, from the dynamics."""
    if plan.options.selection.method != "auto":
        return with_margin_prefilter(plan.settings, arrays), None
    from hf_d2.selection.auto import choose_settings  # noqa: PLC0415

    return choose_settings(arrays, rate=plan.rate, params=d2_params(plan), seed=plan.options.seeds.for_selection,
                           duplicates=plan.settings.duplicates, duplicate_threshold=plan.settings.duplicate_threshold)


def d2_params(plan: Any) -> Any:
    """The D2 parameters of ``plan`` as its selection runs them: the caller's, with the pipeline's
    defaults for those not set (``reverse="relative"``); what auto's D2 candidates use."""
    return plan.settings.params if plan.settings.params is not None else plan.options.selection.d2


def with_margin_prefilter(settings: SelectionSettings, arrays: SelectionArrays) -> SelectionSettings:
    """``settings`` with the pre-filter fraction of its margin rule (``prefilter_margin``: the rows
    whose mean margin over training is below ``-prefilter_margin``), unchanged without one."""
    if settings.prefilter_margin is None:
        return settings
    if arrays.mean_margins is None:
        raise ValueError("The margin pre-filter needs the difficulty model's training dynamics, which this run does not "
                         "have; pass prefilter= a fraction (e.g. 0.1) or 0.")
    return replace(settings, prefilter=margin_prefilter(arrays.mean_margins, settings.prefilter_margin))


def find_rate(plan: Any, outputs: Any, plan_at: Any) -> tuple[float, dict[str, Any]]:
    """(the rate that ``rate="auto"`` picks, the record of the search): the inner curve of the
    selection of ``plan_at(rate)`` at every rate of the grid (``selection.rate_finder``), and the
    largest rate within ``plan.options.max_drop`` points of the full pool."""
    from hf_d2.selection.rate_finder import choose_rate, rate_curve  # noqa: PLC0415

    started = time.perf_counter()
    arrays = selection_arrays(plan, outputs)
    curve = rate_curve(arrays, lambda rate: settings_for(plan_at(rate), arrays)[0], d2_params(plan),
                       plan.options.seeds.for_selection)
    chosen = choose_rate(curve, plan.options.max_drop)
    logger.info("rate auto: %s; chose %g", ", ".join(f"{p['rate']:g}: -{p['drop']:.2f}" for p in curve["points"]), chosen)
    return chosen, {"chosen": chosen, "max_drop": plan.options.max_drop, **curve,
                    "seconds": round(time.perf_counter() - started, 2)}


def select_for_plan(plan: Any, outputs: Any) -> SelectionOutcome:
    """The coreset of a run plan from its stage outputs (see the module docstring)."""
    arrays = selection_arrays(plan, outputs)
    seed = plan.options.seeds.for_selection
    settings, auto = settings_for(plan, arrays)
    started = time.perf_counter()
    groups = "" if settings.partition == "none" else f" inside {settings.partition} groups"
    logger.info("Selecting %s of %s rows (%s%s) ...", f"{plan.budget:,}", f"{plan.num_rows:,}", settings.method, groups)
    warm_up = _warm_up_kernels()
    selecting = time.perf_counter()
    details, ranked = rank_rows(settings, plan.budget, arrays, plan.num_rows, seed)
    seconds = time.perf_counter() - started
    logger.info("Selected in %.1f s.", seconds)
    record_timing(plan.options.cache_dir, selection_timing_key(settings.method, settings.partition),
                  work=selection_work(plan.num_rows, details.num_groups), seconds=time.perf_counter() - selecting,
                  fixed_seconds=warm_up)
    order = details.order
    kept = np.sort(order[:plan.budget]).astype(np.int64)
    pick_rank = np.full(plan.num_rows, -1, dtype=np.int64)
    pick_rank[order] = np.arange(order.size)
    # random keeps every class in proportion in expectation: a lopsided random coreset is chance, not advice
    warnings = lopsided_warnings(plan.labels, kept, settings) if not plan.label_free and settings.method != "random" \
        else []
    for warning in warnings:
        logger.warning("Warning: %s", warning)
    return SelectionOutcome(settings=settings, order=order, kept_positions=kept, pick_rank=pick_rank,
                            forward_scores=details.forward_scores, ranked_rows=ranked, auto=auto,
                            graph=details.graph, num_groups=details.num_groups, seconds=seconds, warnings=warnings,
                            duplicates=details.duplicates)


_warmed_up = []  # the kernels were loaded in this process


def _warm_up_kernels() -> float:
    """Seconds to load the selection's compiled kernels (numba's cache, faiss), by selecting from
    32 random rows, on the first selection of a process (0 after): the fixed part of the
    selection's measured time; the first use on a machine also compiles them."""
    if _warmed_up:
        return 0.0
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    select("d2", 8, num_rows=32, scores=rng.random(32), embeddings=rng.normal(size=(32, 8)).astype(np.float32))
    _warmed_up.append(True)
    return time.perf_counter() - started


def lopsided_warnings(labels: Any, kept: np.ndarray, settings: SelectionSettings | None = None) -> list[str]:
    """One line when a class keeps fewer than ``MIN_ROWS_PER_CLASS`` rows, or when the kept
    fractions of two classes differ by ``MAX_KEPT_FRACTION_RATIO``×, with the fix in the caller's
    words: the label partition, or, when the selection already runs inside each class, no
    pre-filter (it drops the hardest rows of the whole set first, so one class can lose most);
    nothing when it runs inside each class without a pre-filter (its budgets are proportional)."""
    if labels is None or kept.size == 0:
        return []
    partition, prefilter = (settings.partition, settings.prefilter) if settings is not None else ("none", 0.0)
    if partition == "label" and not prefilter:
        return []
    before = np.bincount(labels.ids, minlength=labels.num_labels)
    after = np.bincount(labels.ids[kept], minlength=labels.num_labels)
    present = before > 0
    fractions = np.where(present, after / np.maximum(before, 1), np.nan)
    if partition == "label":
        fix = (f"the selection already runs inside each class, but the pre-filter first drops the hardest {prefilter:.0%} "
               f"of all rows; pass {assign('prefilter', 0)} to keep each class in proportion")
    else:
        fix = f"pass {assign('partition', 'label')} to keep each class in proportion"
    few = [labels.names[i] for i in np.flatnonzero(present & (after < MIN_ROWS_PER_CLASS) & (before >= MIN_ROWS_PER_CLASS))]
    if few:
        return [f"The coreset keeps fewer than {MIN_ROWS_PER_CLASS} rows of class(es) {', '.join(map(str, few))}; {fix}."]
    low, high = int(np.nanargmin(fractions)), int(np.nanargmax(fractions))
    if fractions[low] > 0 and fractions[high] / fractions[low] >= MAX_KEPT_FRACTION_RATIO:
        return [f"The coreset keeps {fractions[low]:.0%} of class {labels.names[low]} but {fractions[high]:.0%} of class "
                f"{labels.names[high]}; {fix}."]
    return []
