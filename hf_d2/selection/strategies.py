"""The registry of selection strategies and presets: one small entry per method.

A *strategy* orders the examples of ONE group (a whole dataset, one label, one score stratum):

    strategy.select(budget, *, num_rows, scores, embeddings, labels, seed, params)
        -> (budget,) int64   or   ((budget,) int64, (n,) float64 forward scores)

returning LOCAL indices (distinct, in [0, n)) in PRIORITY order, deterministic given ``seed``.
A strategy that computes a per-example score on the way (d2's forward scores) may return it
as the second element of a tuple; ``select(..., return_forward_scores=True)`` passes it on.
``params`` is the strategy's checked parameter object (``D2Params`` for d2; None for a
strategy without parameters), declared once in the parameter table (``hf_d2.params``).
``scores``: (n,) float64, higher = harder, or None; ``embeddings``: (n, d) float32 or None;
``labels``: (n,) or None. A strategy may also return a ``StrategyResult`` (order, forward
scores, and what it knows about the kNN graph it built, for the selection record).
``hf_d2.selection.select`` validates the inputs, guarantees that the
arrays a strategy declares it needs are present, and handles pre-filter, partitions and budgets.

A *preset* is a named recipe over a strategy (pre-filter + partition + budget allocation),
such as CCS. To add a method, write its function here and add one entry to ``STRATEGIES``
(or ``PRESETS``); nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError
from hf_d2.graph import graph_summary
from hf_d2.selection.baselines import (
    easiest_order,
    hardest_order,
    kcenter_order,
    moderate_order,
    random_order,
)
from hf_d2.selection.d2 import rank_with_params
from hf_d2.selection.d2_params import D2_PARAMS, D2Params
from hf_d2.selection.partition import DEFAULT_NUM_STRATA

StrategyFunction = Callable[..., Any]


@dataclass(frozen=True)
class StrategyResult:
    """What a strategy returns for one group: ``order`` (budget,) int64 local indices in priority
    order; ``forward_scores`` (n,) float64 scores computed on the way (d2's forward pass), or
    None; ``graph`` the record's summary of the kNN graph it built (``hf_d2.graph.graph_summary``:
    backend, reason, recall, k, num_edges, ...), or None."""

    order: np.ndarray
    forward_scores: np.ndarray | None = None
    graph: dict[str, Any] | None = None


@dataclass(frozen=True)
class Strategy:
    """A selection strategy over one group.

    name: registry key. select: the function (see module docstring). description: one line
    for ``--help``. needs_embeddings / needs_scores: which arrays it reads. prefix_consistent:
    the picks for a smaller budget are a prefix of the picks for a larger one (same seed), so
    one ranking serves every pruning rate. params: the accepted parameters (name → ``Param``,
    with its default), or empty. params_type: the typed bundle they travel in (``D2Params``).
    takes_graph: the function accepts ``graph=`` (a ``KnnGraph`` over the group's rows) and then
    reads it instead of building one from the embeddings.
    """

    name: str
    select: StrategyFunction
    description: str
    needs_embeddings: bool
    needs_scores: bool
    prefix_consistent: bool
    params: Mapping[str, Any] = field(default_factory=dict)
    params_type: type | None = None
    takes_graph: bool = False

    def make_params(self, values: Mapping[str, Any] | None, *, method: str | None = None) -> Any:
        """The checked parameter object from caller-given names (None for a strategy without
        parameters; then any name is an error)."""
        values = dict(values or {})
        if self.params_type is None:
            if values:
                raise InvalidParameterError(
                    sorted(values)[0], f"The {(method or self.name)!r} method does not take the parameter(s) "
                    f"{', '.join(map(repr, sorted(values)))}. It accepts: none.")
            return None
        return self.params_type.from_values(values, method=method or self.name)


@dataclass(frozen=True)
class Preset:
    """A named recipe: pre-filter, then partition, then ``strategy`` inside each group.

    prefilter: default fraction dropped as hardest (the caller may override it).
    partition / budget_allocation / num_strata: how groups and their budgets are formed.
    Scores: the pre-filter and the strata use ``prefilter_scores`` when given (e.g. negated
    AUM, higher = harder), else ``scores``; the inner strategy uses ``scores``. So
    ``needs_scores`` means "``scores`` or ``prefilter_scores``" when the inner strategy needs
    none (ccs = random inside).
    """

    name: str
    strategy: str
    description: str
    prefilter: float
    partition: str
    budget_allocation: str
    num_strata: int
    needs_embeddings: bool
    needs_scores: bool
    prefix_consistent: bool = False

    @property
    def params(self) -> Mapping[str, Any]:
        """Parameters of the inner strategy (name → ``Param``)."""
        return STRATEGIES[self.strategy].params

    def make_params(self, values: Mapping[str, Any] | None, *, method: str | None = None) -> Any:
        return STRATEGIES[self.strategy].make_params(values, method=method or self.name)


def _random(
    budget: int, *, num_rows: int, params=None, scores=None, embeddings=None, labels=None, seed: int = 0
) -> np.ndarray:
    return random_order(num_rows, budget, seed=seed)


def _hard(
    budget: int, *, num_rows: int, params=None, scores, embeddings=None, labels=None, seed: int = 0
) -> np.ndarray:
    return hardest_order(scores, budget)


def _easy(
    budget: int, *, num_rows: int, params=None, scores, embeddings=None, labels=None, seed: int = 0
) -> np.ndarray:
    return easiest_order(scores, budget)


def _kcenter(
    budget: int, *, num_rows: int, params=None, scores=None, embeddings, labels=None, seed: int = 0
) -> np.ndarray:
    return kcenter_order(embeddings, budget, seed=seed)


def _moderate(
    budget: int, *, num_rows: int, params=None, scores=None, embeddings, labels=None, seed: int = 0
) -> np.ndarray:
    return moderate_order(embeddings, budget, labels=labels)


def _d2(
    budget: int,
    *,
    num_rows: int,
    scores,
    embeddings,
    labels=None,
    seed: int = 0,
    params: D2Params,
    graph=None,
) -> StrategyResult:
    """D2 inside one group; returns the pick order, the (n,) forward scores and the summary of the
    kNN graph (which backend ran, why, its recall) via ``hf_d2.selection.d2.rank_with_params``
    (the seed only matters to approximate kNN).

    Small groups: ``k`` is clamped to n − 1 (a group of 4 gets k = 3), since a node cannot
    have more distinct neighbours; a group of n <= 1 rows has no graph and is returned in
    score order (hardest first). Budget 0 returns an empty order (forward scores NaN). A budget
    equal to the group size still runs D2: the set is the whole group, but the pick ORDER is
    D2's, which is what the global merge and prefix (smaller budget) users rely on. ``graph``: the
    group's kNN graph, given (an induced subgraph of one graph over all rows), used as it is.
    """
    if budget == 0:
        return StrategyResult(np.empty(0, dtype=np.int64), np.full(num_rows, np.nan))
    if num_rows <= 1:  # an isolated node: sum mode keeps s_i, product mode gives s_i · 0
        forward = scores.copy() if params.forward == "sum" else np.zeros(num_rows)
        return StrategyResult(hardest_order(scores, budget), forward)
    if graph is not None:
        ranking = rank_with_params(None, scores, budget, params, graph=graph, seed=seed)
        return StrategyResult(np.asarray(ranking.order, dtype=np.int64),
                              np.asarray(ranking.forward_scores, np.float64), graph_summary(graph))
    if params.k > num_rows - 1:
        params = D2Params(**{**params.as_dict(), "k": num_rows - 1})
    ranking = rank_with_params(embeddings, scores, budget, params, seed=seed)
    return StrategyResult(np.asarray(ranking.order, dtype=np.int64), np.asarray(ranking.forward_scores, np.float64),
                          graph_summary(ranking.graph))


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (
        Strategy(
            "d2",
            _d2,
            "D2 Pruning: message passing over a kNN graph balancing difficulty and diversity.",
            needs_embeddings=True,
            needs_scores=True,
            prefix_consistent=True,
            params=D2_PARAMS,
            params_type=D2Params,
            takes_graph=True,
        ),
        Strategy(
            "random",
            _random,
            "Uniform random subset (seeded; prefixes of one permutation).",
            needs_embeddings=False,
            needs_scores=False,
            prefix_consistent=True,
        ),
        Strategy(
            "hard",
            _hard,
            "Keep the hardest examples (highest score; ties: lowest index).",
            needs_embeddings=False,
            needs_scores=True,
            prefix_consistent=True,
        ),
        Strategy(
            "easy",
            _easy,
            "Keep the easiest examples (lowest score; ties: lowest index).",
            needs_embeddings=False,
            needs_scores=True,
            prefix_consistent=True,
        ),
        Strategy(
            "kcenter",
            _kcenter,
            "k-center greedy on embeddings from a seeded random start (coverage).",
            needs_embeddings=True,
            needs_scores=False,
            prefix_consistent=True,
        ),
        Strategy(
            "moderate",
            _moderate,
            "Moderate coreset: keep examples whose distance to their class median is closest to the median distance.",
            needs_embeddings=True,
            needs_scores=False,
            prefix_consistent=True,
        ),
    )
}

CCS_PREFILTER = 0.1  # CCS drops the hardest 10% first (docs/method.md §5); both CCS presets do
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "ccs",
            "random",
            f"Coverage-centric coreset: drop the hardest {CCS_PREFILTER:.0%}, {DEFAULT_NUM_STRATA} equal-width score "
            "strata, smallest-first budgets, random inside.",
            prefilter=CCS_PREFILTER,
            partition="strata",
            budget_allocation="uniform",
            num_strata=DEFAULT_NUM_STRATA,
            needs_embeddings=False,
            needs_scores=True,
        ),
        Preset(
            "ccs-d2",
            "d2",
            f"CCS strata and budgets (hardest {CCS_PREFILTER:.0%} dropped, {DEFAULT_NUM_STRATA} strata) with D2 order "
            "inside each stratum.",
            prefilter=CCS_PREFILTER,
            partition="strata",
            budget_allocation="uniform",
            num_strata=DEFAULT_NUM_STRATA,
            needs_embeddings=True,
            needs_scores=True,
        ),
    )
}


def available_methods() -> dict[str, Strategy | Preset]:
    """Every method name ``select`` accepts, strategies first, with its metadata.

    Each value has ``name``, ``description`` (one line), ``needs_embeddings``,
    ``needs_scores``, ``prefix_consistent`` and ``params`` (accepted keyword parameters).
    """
    return {**STRATEGIES, **PRESETS}
