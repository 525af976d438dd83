"""``select``: validate once, pre-filter, partition, allocate budgets, run a strategy per group
(``hf_d2.selection.groups``: here, in a process pool, or across ``accelerate launch`` ranks),
merge into one global priority order (docs/method.md §5, §7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_d2._validation import (
    InvalidParameterError,
    check_budget,
    check_embeddings,
    check_k,
    check_labels,
    check_positive_int,
    check_scores,
)
from hf_d2.params import Param, register_params
from hf_d2.selection.groups import GroupTask, run_groups, summarise_graphs
from hf_d2.selection.partition import (
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
SELECTION_PARAMS = register_params(
    "selection",
    Param("prefilter", float, None, "fraction of the hardest rows (by the pre-filter score) dropped before selecting; "
          "default: the method's (see docs/method.md)", low=0, high=1, high_open=True, nullable=True,
          meaning="the fraction of the hardest rows to drop before selecting"),
    Param("partition", str, None, "select inside groups: none, label (one group per class), strata (equal-width "
          "score strata) or cluster (k-means partitions of the embeddings: D2 within memory limits, in parallel "
          "across --workers or accelerate launch ranks); default: the method's", choices=PARTITIONS, nullable=True),
    Param("budget_allocation", str, None, "how the budget is split over groups: proportional (to size) or uniform "
          "(smallest-first, CCS); default: the method's", choices=BUDGET_ALLOCATIONS, nullable=True),
    Param("num_strata", int, None, "strata for partition strata (default 50)", low=1, nullable=True),
    Param("num_partitions", int, None, "k-means partitions for partition cluster (default: one per 250,000 rows, "
          "rounded up)", low=1, nullable=True),
    Param("workers", int, 1, "processes on this machine that select inside the partitions in parallel (a process "
          "pool; the coreset is the same for any count)", low=1),
)
DEFAULT_NUM_STRATA = 50


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
    num_strata: strata for ``partition="strata"``; default 50.
    prefilter: fraction β in [0, 1) of the WHOLE input dropped as hardest before anything else;
        default 0 (presets: 0.1). ⌊β · n⌋ rows are dropped, but never so many that fewer than
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
    return_details: return a ``SelectionDetails`` (order, forward scores, the groups' count and
        the summary of the kNN graphs the strategy built) instead of the arrays.
    **method_params: the same as keywords (see ``available_methods()[method].params``), e.g.
        ``k=10, gamma_reverse=0.5`` for d2; give one or the other.

    Priority order: without partitions, the strategy's own order. With several groups, the
    pick at rank r (0-based) of a group with budget b gets key (r + 1) / b, and picks are
    merged by key ascending, ties by group order (labels ascending / strata lowest score
    first), then by id. Partitioned selections are generally not prefix-consistent across
    budgets (group budgets change with the total), even when the strategy is.
    """
    info, strategy = _resolve_method(method)
    (scores, embeddings, labels, prefilter_scores, strata_scores), total_rows = _check_arrays(
        scores, embeddings, labels, prefilter_scores, strata_scores, num_rows
    )
    budget = check_budget(budget, total_rows)
    seed = check_positive_int("seed", seed, minimum=0)
    settings = _resolve_settings(info, partition, budget_allocation, num_strata, prefilter, num_partitions)
    workers = SELECTION_PARAMS["workers"].check(1 if workers is None else workers)
    params = _method_params(info, strategy, params, method_params)
    _check_requirements(info, strategy, settings, scores, embeddings, labels, prefilter_scores, strata_scores)
    if params is not None and hasattr(params, "k"):
        # k must fit the whole input; inside smaller groups (labels, strata) it is clamped.
        check_k(params.k, total_rows)

    difficulty_for_filter = prefilter_scores if prefilter_scores is not None else scores
    num_dropped = prefilter_count(total_rows, settings["prefilter"], budget)
    if num_dropped > 0:
        kept_rows = prefilter_keep(difficulty_for_filter, num_dropped)
    else:
        kept_rows = np.arange(total_rows, dtype=np.int64)

    difficulty_for_strata = next(array for array in (strata_scores, prefilter_scores, scores, np.zeros(total_rows))
                                 if array is not None)
    groups = _partition(settings, kept_rows, labels, difficulty_for_strata, embeddings, seed)
    sizes = np.array([group.size for group in groups], dtype=np.int64)
    if settings["budget_allocation"] == "uniform":
        group_budgets = allocate_smallest_first(sizes, budget)
    else:
        group_budgets = allocate_proportional(sizes, budget)

    tasks = [GroupTask(position, kept_rows[group], int(group_budget),
                       seed if len(groups) == 1 else _derived_seed(seed, position))
             for position, (group, group_budget) in enumerate(zip(groups, group_budgets))]
    results = run_groups(strategy, tasks, scores=scores, embeddings=embeddings, labels=labels, params=params,
                         workers=workers, distributed=settings["partition"] == "cluster")
    forward_scores = np.full(total_rows, np.nan)
    group_orders = []
    for task, result in zip(tasks, results):
        if result.forward_scores is not None:
            forward_scores[task.rows] = result.forward_scores
        local = _check_strategy_output(strategy.name, result.order, task.budget, task.rows.size)
        group_orders.append(task.rows[local])
    order = group_orders[0] if len(group_orders) == 1 else merge_by_relative_rank(group_orders)
    if return_details:
        return SelectionDetails(order=order, forward_scores=forward_scores, num_groups=len(groups),
                                graph=summarise_graphs([result.graph for result in results]))
    return (order, forward_scores) if return_forward_scores else order


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


@dataclass(frozen=True)
class SelectionSettings:
    """What ``select`` runs with, every default filled in: the method, how rows are grouped and
    budgeted, the pre-filter fraction, and the strategy's checked parameter object (``D2Params``
    for d2, None for a strategy without parameters). num_partitions: the k-means partitions of
    ``partition="cluster"`` (None: the rule of ``partition.default_num_partitions``, applied to
    the rows left after the pre-filter). workers: processes that run the groups (never changes
    the result)."""

    method: str
    partition: str
    budget_allocation: str
    num_strata: int
    prefilter: float
    params: Any = None
    num_partitions: int | None = None
    workers: int = 1

    @property
    def method_params(self) -> dict[str, Any]:
        return self.params.as_dict() if self.params is not None else {}


def resolve_settings(method: str, *, partition: str | None = None, budget_allocation: str | None = None,
                     num_strata: int | None = None, prefilter: float | None = None,
                     params: Any = None, num_partitions: int | None = None,
                     workers: int | None = None) -> SelectionSettings:
    """``SelectionSettings`` for ``method`` (same checks and defaults as ``select``)."""
    info, strategy = _resolve_method(method)
    resolved = _resolve_settings(info, partition, budget_allocation, num_strata, prefilter, num_partitions)
    return SelectionSettings(method=method, **resolved, params=_method_params(info, strategy, params, {}),
                             workers=SELECTION_PARAMS["workers"].check(1 if workers is None else workers))


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


def _check_arrays(scores, embeddings, labels, prefilter_scores, strata_scores, num_rows):
    """Converts the arrays (scores float64, embeddings float32) and checks they agree on n."""
    total_rows = None
    if num_rows is not None:
        total_rows = check_positive_int("num_rows", num_rows, minimum=1)
    if embeddings is not None:
        embeddings = check_embeddings(embeddings)
        total_rows = _agree(total_rows, embeddings.shape[0], "embeddings")
    if scores is not None:
        scores = check_scores(scores, total_rows)
        total_rows = scores.shape[0]
    if prefilter_scores is not None:
        prefilter_scores = check_scores(prefilter_scores, total_rows, name="prefilter_scores")
        total_rows = prefilter_scores.shape[0]
    if strata_scores is not None:
        strata_scores = check_scores(strata_scores, total_rows, name="strata_scores")
        total_rows = strata_scores.shape[0]
    if labels is not None:
        if total_rows is None:
            total_rows = len(np.asarray(labels))
        labels = check_labels(labels, total_rows)
    if total_rows is None:
        raise ValueError(
            "select needs the examples to choose from: pass 'scores', 'embeddings', 'labels' or "
            "'num_rows'. Got none of them."
        )
    if total_rows == 0:
        raise ValueError("There are 0 examples: there is nothing to select from.")
    return (scores, embeddings, labels, prefilter_scores, strata_scores), total_rows


def _agree(expected: int | None, actual: int, name: str) -> int:
    if expected is not None and expected != actual:
        raise ValueError(
            f"The '{name}' have {actual} rows but 'num_rows' is {expected}; pass one row per example."
        )
    return actual


def _resolve_settings(info, partition, budget_allocation, num_strata, prefilter,
                      num_partitions=None) -> dict[str, Any]:
    is_preset = isinstance(info, Preset)
    partition, budget_allocation, num_strata, prefilter, num_partitions = (
        SELECTION_PARAMS[name].check(value) for name, value in (
            ("partition", partition), ("budget_allocation", budget_allocation), ("num_strata", num_strata),
            ("prefilter", prefilter), ("num_partitions", num_partitions)))
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


def _check_requirements(
    info, strategy, settings, scores, embeddings, labels, prefilter_scores, strata_scores
) -> None:
    if strategy.needs_embeddings and embeddings is None:
        raise ValueError(
            f"The {info.name!r} method needs 'embeddings' ((n, d) array, one vector per example). Got None."
        )
    if strategy.needs_scores and scores is None:
        raise ValueError(
            f"The {info.name!r} method needs 'scores' ((n,) difficulty, higher = harder). Got None."
        )
    if settings["partition"] == "cluster" and embeddings is None:
        raise ValueError("partition='cluster' needs 'embeddings' ((n, d) array) to cut k-means partitions. Got None.")
    if settings["partition"] == "label" and labels is None:
        raise ValueError("partition='label' needs 'labels' (one label per example). Got None.")
    if scores is None and prefilter_scores is None and strata_scores is None and settings["partition"] == "strata":
        raise ValueError(
            f"partition='strata' (used by {info.name!r}) needs scores to stratify: pass 'strata_scores', "
            "'prefilter_scores' (e.g. negated AUM, higher = harder) or 'scores'. Got none of them."
        )
    if scores is None and prefilter_scores is None:
        if settings["prefilter"] > 0:
            raise ValueError(
                f"prefilter={settings['prefilter']} drops the hardest rows and needs 'prefilter_scores' "
                "(higher = harder) or 'scores'. Got neither; pass one, or prefilter=0."
            )


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


def _check_strategy_output(name: str, local: Any, budget: int, group_size: int) -> np.ndarray:
    local = np.asarray(local, dtype=np.int64)
    if (
        local.shape != (budget,)
        or (budget and (local.min() < 0 or local.max() >= group_size))
        or np.unique(local).size != budget
    ):
        raise RuntimeError(
            f"Strategy {name!r} broke its contract: it must return {budget} distinct indices in "
            f"[0, {group_size}); got {local.shape[0] if local.ndim else local} values."
        )
    return local
