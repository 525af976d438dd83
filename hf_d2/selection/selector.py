"""``select``: validate once, pre-filter, partition, allocate budgets, run a strategy per group
(``hf_d2.selection.groups``: here, in a process pool, or across ``accelerate launch`` ranks),
merge into one global priority order (docs/method.md §5, §7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError, check_budget, check_k, check_positive_int
from hf_d2.params import Param, param_group
from hf_d2.selection.duplicates import DUPLICATE_MODES, duplicate_groups, representatives
from hf_d2.selection.groups import GroupTask, run_groups, summarise_graphs
from hf_d2.selection.inputs import check_arrays, check_requirements, check_strategy_output
from hf_d2.selection.partition import (
    DEFAULT_NUM_STRATA,
    allocate_proportional,
    allocate_smallest_first,
    cluster_groups,
    default_num_partitions,
    label_groups,
    merge_by_relative_rank,
    prefilter_count,
    prefilter_keep,
    strata_groups,
)
from hf_d2.selection.strategies import (
    STRATEGIES,
    Preset,
    Strategy,
    available_methods,
)

PARTITIONS = ("none", "label", "strata", "cluster")
BUDGET_ALLOCATIONS = ("proportional", "uniform")
SELECTION_PARAMS = param_group(
    "selection",
    Param("prefilter", float, None, "fraction of the hardest rows (by the pre-filter score) dropped before selecting; "
          "default: the method's (see docs/method.md)", low=0, high=1, high_open=True, nullable=True,
          meaning="the fraction of the hardest rows to drop before selecting"),
    Param("partition", str, None, "select inside groups: none, label (one group per class), strata (equal-width "
          "score strata) or cluster (k-means partitions of the embeddings: D2 within memory limits, in parallel "
          "across --workers or accelerate launch ranks); default: the method's", choices=PARTITIONS, nullable=True),
    Param("budget_allocation", str, None, "how the budget is split over groups: proportional (to size) or uniform "
          "(smallest-first, CCS); default: the method's", choices=BUDGET_ALLOCATIONS, nullable=True),
    Param("num_strata", int, None, f"strata for partition strata (default {DEFAULT_NUM_STRATA})", low=1, nullable=True),
    Param("num_partitions", int, None, "k-means partitions for partition cluster (default: one per 250,000 rows, "
          "rounded up)", low=1, nullable=True),
    Param("workers", int, 1, "processes on this machine that select inside the partitions in parallel (a process "
          "pool; the coreset is the same for any count)", low=1),
    Param("duplicates", str, None, "rows whose embeddings are identical (exact) or nearly so (near: much closer "
          "than typical neighbours, or cosine >= --duplicate-threshold) count as one candidate: no second copy is kept "
          "while a distinct row is dropped; none keeps the reference behaviour; default: the method's",
          choices=DUPLICATE_MODES, nullable=True),
    Param("duplicate_threshold", float, None, "cosine similarity at or above which duplicates='near' counts two rows "
          "as one (default: adaptive, 0.3 times the typical nearest-neighbour distance)", low=0, high=1,
          nullable=True),
)

def select(
    method: str,
    budget: int,
    *,
    scores: Any = None,
    embeddings: Any = None,
    labels: Any = None,
    num_rows: int | None = None,
    seed: int = 0,
    partition: str | None = None,
    budget_allocation: str | None = None,
    num_strata: int | None = None,
    prefilter: float | None = None,
    prefilter_scores: Any = None,
    strata_scores: Any = None,
    return_forward_scores: bool = False,
    params: Any = None,
    num_partitions: int | None = None,
    workers: int | None = None,
    return_details: bool = False,
    duplicates: str | None = None,
    duplicate_threshold: float | None = None,
    graph: Any = None,
    **method_params: Any,
) -> np.ndarray | tuple[np.ndarray, np.ndarray] | SelectionDetails:
    """Selects ``budget`` of n examples; returns (budget,) int64 row ids in PRIORITY order.

    method: a name from ``available_methods()``: a strategy ("d2", "random", "hard", "easy",
        "kcenter", "moderate") or a preset ("ccs", "ccs-d2").
    budget: rows to keep, 0 <= budget <= n. Exactly ``budget`` distinct ids in [0, n) come back.
    scores: (n,) float, difficulty, higher = harder. Read by the strategy (d2, hard, easy), and
        by the pre-filter and the strata when ``prefilter_scores`` is not given.
    embeddings: (n, d) float; read by d2, kcenter and moderate.
    labels: (n,) any values; needed by ``partition="label"``; moderate uses the per-label median.
    num_rows: n, for methods that need no array (``select("random", 10, num_rows=100)``).
    seed: int >= 0. With one group the strategy gets ``seed`` itself; with several, group g
        gets a seed derived from (seed, g) so groups are not correlated.
    partition: "none" (default; presets: "strata"), "label" (one group per label value),
        "strata" (``num_strata`` equal-width strata of the stratification scores over the
        rows left after the pre-filter; the last stratum is closed on the right) or "cluster"
        (``num_partitions`` seeded k-means partitions of the embeddings of the rows left after
        the pre-filter, ``partition.cluster_groups``: D2 runs inside each, so no graph spans more
        than one partition's rows; needs ``embeddings``).
    budget_allocation: how the budget is split over groups: "proportional" (default; largest
        remainder) or "uniform" (smallest-first, CCS; the default of the presets).
    num_strata: strata for ``partition="strata"``; default ``partition.DEFAULT_NUM_STRATA``.
    prefilter: fraction β in [0, 1) of the WHOLE input dropped as hardest before anything else;
        default 0 (presets: their own, ``strategies.CCS_PREFILTER``). ⌊β · n⌋ rows are dropped, but never so many that fewer than
        ``budget`` remain: then only n − budget are dropped.
    prefilter_scores: (n,) float, higher = harder (e.g. negated AUM: low AUM = likely
        mislabelled). Drives the pre-filter; defaults to ``scores``.
    strata_scores: (n,) float, the score that ``partition="strata"`` cuts into equal-width
        strata (the authors' CCS drops by AUM and may stratify by another score); defaults to
        ``prefilter_scores``, then ``scores``.
    return_forward_scores: also return (n,) float64 per-example scores the strategy computed
        on the way: d2's forward-pass scores (within each row's group), NaN for rows of
        other methods, of pre-filtered rows and of groups with a budget of 0.
    params: the strategy's parameters as its typed bundle (``D2Params`` for d2), or None.
    num_partitions: k-means partitions for ``partition="cluster"``; default one per 250,000
        rows (``partition.default_num_partitions``). The k-means is seeded by ``seed``.
    workers: processes on this machine that run the groups in parallel (default 1: here). Under
        ``accelerate launch`` a ``"cluster"`` selection shares its partitions among the ranks
        instead (every rank calls ``select`` with the same arguments and gets the same result).
        Group g's seed never depends on where it runs, so the result is the same for any count.
    return_details: return a ``SelectionDetails`` (order, forward scores, the groups' count, the
        summary of the kNN graphs the strategy built and the duplicate counts) instead of the arrays.
    duplicates: "none" (default: every row on its own), "exact" (rows with identical embeddings)
        or "near" (also rows much closer than typical neighbours, or at cosine similarity >=
        ``duplicate_threshold`` when given; ``duplicates.near_groups``) form groups among the
        rows left after the pre-filter, and each group counts as ONE candidate, its lowest row: the
        selection runs on those representatives; only when the budget exceeds their number does it
        continue, with the rest of the budget, on the remaining rows. So no second copy is kept while a distinct row is dropped.
    graph: a ``KnnGraph`` over all n rows. d2 then reads each group's induced subgraph
        (``KnnGraph.subgraph``) instead of building a kNN graph from the embeddings, and
        ``duplicates="near"`` takes its pairs from it. For many selections over one pool.
    **method_params: the same as keywords (see ``available_methods()[method].params``), e.g.
        ``k=10, gamma_reverse=0.5`` for d2; give one or the other.

    Priority order: without partitions, the strategy's own order. With several groups, the
    pick at rank r (0-based) of a group with budget b gets key (r + 1) / b, and picks are
    merged by key ascending, ties by group order (labels ascending / strata lowest score
    first), then by id. Partitioned selections are generally not prefix-consistent across
    budgets (group budgets change with the total), even when the strategy is.
    """
    info, strategy = _resolve_method(method)
    (scores, embeddings, labels, prefilter_scores, strata_scores), total_rows = check_arrays(
        scores, embeddings, labels, prefilter_scores, strata_scores, num_rows if graph is None else (
            num_rows if num_rows is not None else graph.num_nodes))
    budget = check_budget(budget, total_rows)
    seed = check_positive_int("seed", seed, minimum=0)
    settings = _resolve_settings(info, partition, budget_allocation, num_strata, prefilter, num_partitions,
                                 duplicates, duplicate_threshold)
    workers = SELECTION_PARAMS["workers"].check(1 if workers is None else workers)
    params = _method_params(info, strategy, params, method_params)
    check_requirements(info, strategy, settings, scores, embeddings, labels, prefilter_scores, strata_scores, graph)
    if params is not None and hasattr(params, "k") and graph is None:
        # k must fit the whole input; inside smaller groups (labels, strata) it is clamped.
        check_k(params.k, total_rows)

    difficulty_for_filter = prefilter_scores if prefilter_scores is not None else scores
    num_dropped = prefilter_count(total_rows, settings["prefilter"], budget)
    if num_dropped > 0:
        kept_rows = prefilter_keep(difficulty_for_filter, num_dropped)
    else:
        kept_rows = np.arange(total_rows, dtype=np.int64)
    arrays = {"scores": scores, "embeddings": embeddings, "labels": labels,
              "strata": next(array for array in (strata_scores, prefilter_scores, scores, np.zeros(total_rows))
                             if array is not None)}
    rounds, duplicate_counts = [kept_rows], None
    if settings["duplicates"] != "none":
        group_of = duplicate_groups(settings["duplicates"], None if embeddings is None else embeddings[kept_rows],
                                    settings["duplicate_threshold"], seed=seed,
                                    graph=None if graph is None else graph.subgraph(kept_rows),
                                    knn=getattr(params, "knn", "exact"))
        first = representatives(group_of)
        rounds = [kept_rows[first], kept_rows[~first]]
        duplicate_counts = {"mode": settings["duplicates"], "threshold": settings["duplicate_threshold"],
                            "groups": int(first.sum()), "duplicate_rows": int((~first).sum()),
                            "dropped": int(min((~first).sum(), kept_rows.size - budget))}
    forward_scores = np.full(total_rows, np.nan)
    orders, num_groups, graphs = [], 0, None
    for rows in rounds:
        round_budget = min(budget - sum(order.size for order in orders), rows.size)
        if round_budget <= 0 and orders:
            break
        order, groups_used, round_graphs = _select_among(rows, round_budget, settings, info, strategy, params, arrays,
                                                         seed, workers, graph, forward_scores)
        orders.append(order)
        num_groups = max(num_groups, groups_used)
        graphs = round_graphs if graphs is None else graphs  # the record describes the first round's graphs
    order = np.concatenate(orders) if len(orders) > 1 else orders[0]
    if return_details:
        return SelectionDetails(order=order, forward_scores=forward_scores, num_groups=num_groups,
                                graph=summarise_graphs(graphs), duplicates=duplicate_counts)
    return (order, forward_scores) if return_forward_scores else order


def _select_among(rows: np.ndarray, budget: int, settings: dict[str, Any], info: Any, strategy: Strategy,
                  params: Any, arrays: dict[str, Any], seed: int, workers: int, graph: Any,
                  forward_scores: np.ndarray) -> tuple[np.ndarray, int, list]:
    """Partition ``rows`` (ascending ids), allocate ``budget`` over the groups, run the strategy in
    each, merge: (order of ids, groups, the groups' graph summaries); writes the forward scores."""
    groups = _partition(settings, rows, arrays["labels"], arrays["strata"], arrays["embeddings"], seed)
    sizes = np.array([group.size for group in groups], dtype=np.int64)
    if settings["budget_allocation"] == "uniform":
        group_budgets = allocate_smallest_first(sizes, budget)
    else:
        group_budgets = allocate_proportional(sizes, budget)
    tasks = [GroupTask(position, rows[group], int(group_budget),
                       seed if len(groups) == 1 else _derived_seed(seed, position))
             for position, (group, group_budget) in enumerate(zip(groups, group_budgets))]
    results = run_groups(strategy, tasks, scores=arrays["scores"], embeddings=arrays["embeddings"],
                         labels=arrays["labels"], params=params, workers=workers,
                         distributed=settings["partition"] == "cluster", graph=graph)
    group_orders = []
    for task, result in zip(tasks, results):
        if result.forward_scores is not None:
            forward_scores[task.rows] = result.forward_scores
        local = check_strategy_output(strategy.name, result.order, task.budget, task.rows.size)
        group_orders.append(task.rows[local])
    order = group_orders[0] if len(group_orders) == 1 else merge_by_relative_rank(group_orders)
    return order, len(groups), [result.graph for result in results]


@dataclass(frozen=True)
class SelectionDetails:
    """``select(..., return_details=True)``: ``order`` (budget,) int64 row ids in priority order;
    ``forward_scores`` (n,) float64 (NaN where the strategy computed none); ``num_groups`` the
    groups selected in (1 without a partition); ``graph`` the summary of the kNN graph(s) the
    strategy built (``groups.summarise_graphs``: backend, reason, recall, k, num_edges, ...), None
    for methods without a graph."""

    order: np.ndarray
    forward_scores: np.ndarray
    num_groups: int
    graph: dict[str, Any] | None = None
    duplicates: dict[str, Any] | None = None


@dataclass(frozen=True)
class SelectionSettings:
    """What ``select`` runs with, every default filled in: the method, how rows are grouped and
    budgeted, the pre-filter fraction, and the strategy's checked parameter object (``D2Params``
    for d2, None for a strategy without parameters). num_partitions: the k-means partitions of
    ``partition="cluster"`` (None: the rule of ``partition.default_num_partitions``, applied to
    the rows left after the pre-filter). workers: processes that run the groups (never changes
    the result). duplicates / duplicate_threshold: which rows count as one candidate ("none",
    "exact", "near") and the cosine of "near". prefilter_margin: the pre-filter as AUM's rule
    (drop the rows whose mean margin over training is below ``-prefilter_margin``); ``prefilter``
    is then the fraction that rule drops, worked out from the dynamics before selecting
    (``hf_d2.coreset.settings_for``). None: ``prefilter`` is the caller's fraction."""

    method: str
    partition: str
    budget_allocation: str
    num_strata: int
    prefilter: float
    params: Any = None
    num_partitions: int | None = None
    workers: int = 1
    duplicates: str = "none"
    duplicate_threshold: float | None = None
    prefilter_margin: float | None = None

    @property
    def method_params(self) -> dict[str, Any]:
        return self.params.as_dict() if self.params is not None else {}


def resolve_settings(method: str, *, partition: str | None = None, budget_allocation: str | None = None,
                     num_strata: int | None = None, prefilter: float | None = None,
                     params: Any = None, num_partitions: int | None = None,
                     workers: int | None = None, duplicates: str | None = None,
                     duplicate_threshold: float | None = None,
                     prefilter_margin: float | None = None) -> SelectionSettings:
    """``SelectionSettings`` for ``method`` (same checks and defaults as ``select``)."""
    info, strategy = _resolve_method(method)
    resolved = _resolve_settings(info, partition, budget_allocation, num_strata, prefilter, num_partitions,
                                 duplicates, duplicate_threshold)
    return SelectionSettings(method=method, **resolved, params=_method_params(info, strategy, params, {}),
                             workers=SELECTION_PARAMS["workers"].check(1 if workers is None else workers),
                             prefilter_margin=None if prefilter_margin is None else float(prefilter_margin))


def resolve_method_settings(
    method: str,
    *,
    partition: str | None = None,
    budget_allocation: str | None = None,
    num_strata: int | None = None,
    prefilter: float | None = None,
    **method_params: Any,
) -> dict[str, Any]:
    """The settings ``select`` would run with, every default filled in (for selection records):
    {"method", "partition", "budget_allocation", "num_strata", "prefilter", "method_params"}.
    Raises the same ValueErrors as ``select`` for unknown methods or parameters."""
    info, strategy = _resolve_method(method)
    settings = _resolve_settings(info, partition, budget_allocation, num_strata, prefilter)
    params = _method_params(info, strategy, None, method_params)
    return {"method": method, **settings, "method_params": params.as_dict() if params is not None else {}}


def _resolve_method(method: Any) -> tuple[Strategy | Preset, Strategy]:
    methods = available_methods()
    if not isinstance(method, str) or method not in methods:
        names = ", ".join(repr(name) for name in methods)
        raise ValueError(f"The 'method' parameter must be one of {names}. Got {method!r} instead.")
    info = methods[method]
    strategy = STRATEGIES[info.strategy] if isinstance(info, Preset) else info
    return info, strategy


def _resolve_settings(info, partition, budget_allocation, num_strata, prefilter,
                      num_partitions=None, duplicates=None, duplicate_threshold=None) -> dict[str, Any]:
    is_preset = isinstance(info, Preset)
    partition, budget_allocation, num_strata, prefilter, num_partitions, duplicates = (
        SELECTION_PARAMS[name].check(value) for name, value in (
            ("partition", partition), ("budget_allocation", budget_allocation), ("num_strata", num_strata),
            ("prefilter", prefilter), ("num_partitions", num_partitions), ("duplicates", duplicates)))
    duplicate_threshold = SELECTION_PARAMS["duplicate_threshold"].check(duplicate_threshold)
    if partition is None:
        partition = info.partition if is_preset else "none"
    if is_preset and partition != info.partition:
        raise InvalidParameterError(
            "partition", f"{{name}} cannot be changed for the '{info.name}' method, which always partitions by score "
            f"strata. Got {partition!r}; drop it, or use the {info.strategy!r} method with that partition.")
    if budget_allocation is None:
        budget_allocation = info.budget_allocation if is_preset else "proportional"
    if num_strata is None:
        num_strata = info.num_strata if is_preset else DEFAULT_NUM_STRATA
    if prefilter is None:
        prefilter = info.prefilter if is_preset else 0.0
    return {
        "partition": partition,
        "budget_allocation": budget_allocation,
        "num_strata": num_strata,
        "prefilter": float(prefilter),
        "num_partitions": num_partitions,
        "duplicates": duplicates or "none",
        "duplicate_threshold": None if duplicate_threshold is None else float(duplicate_threshold),
    }


def _method_params(info, strategy: Strategy, params: Any, method_params: dict[str, Any]) -> Any:
    """The strategy's checked parameter object, from ``params`` or from keywords (not both)."""
    if params is not None:
        if method_params:
            raise InvalidParameterError(
                sorted(method_params)[0], "{name} was given as a keyword and in 'params'; give it once.")
        if strategy.params_type is None or not isinstance(params, strategy.params_type):
            expected = strategy.params_type.__name__ if strategy.params_type else "None (no parameters)"
            raise InvalidParameterError("params", f"{{name}} of the {info.name!r} method must be {expected}. "
                                        f"Got {type(params).__name__}.")
        return params
    return info.make_params(method_params, method=info.name)


def _partition(settings, kept_rows, labels, difficulty_for_filter, embeddings, seed) -> list[np.ndarray]:
    """Groups as positions into ``kept_rows``."""
    if settings["partition"] == "cluster":
        count = settings["num_partitions"] or default_num_partitions(kept_rows.size)
        return cluster_groups(embeddings, kept_rows, count, seed)
    if settings["partition"] == "label":
        return label_groups(labels[kept_rows])
    if settings["partition"] == "strata":
        return strata_groups(difficulty_for_filter[kept_rows], settings["num_strata"])
    return [np.arange(kept_rows.size, dtype=np.int64)]


def _derived_seed(seed: int, group_position: int) -> int:
    return int(np.random.SeedSequence([seed, group_position]).generate_state(1)[0])
