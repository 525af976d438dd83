"""D2 message passing on a kNN graph (docs/method.md §3-4): the hot loop, compiled with numba.

forward:  S_i = s_i (+ or ·) Σ_{j∈N(i)} exp(−γf · d_ij) · max(s_j, ε)
reverse:  repeatedly pick the unselected node with the largest S (ties → lowest index) and
          lower each unselected neighbour j by exp(−γr · d_ij) · S_i (weighted) or S_i (absolute).

Exactness. The forward sum is computed exactly and rounded once (``kernels.exact_add``), so it does
not depend on the order of the neighbour terms: scores equal in exact arithmetic of the float64
terms (e.g. exact duplicates, whose neighbour lists are permutations of each other) are
bit-identical, and the tie goes to the lowest id as docs/method.md §4 says. The reverse updates are
applied in pick order, one rounding each: two nodes with bit-identical scores that receive the
same sequence of updates (the same picks at the same distances, as exact duplicates do until one
of them is picked) stay bit-identical, so their tie still goes to the lowest index. What is not
guaranteed: scores reached through *different* update sequences are compared as computed, so two
that are equal only in exact arithmetic (say 1 − 0.3 − 0.2 and 1 − 0.2 − 0.3) may differ by an ulp.

The greedy keeps a lazy tournament tree over the node ids (fan-out 16, see ``_reverse_kernel``):
a decrease costs O(1), an increase or a pick O(log n); O(n/15) extra memory for the tree, against
the reference's O(n) argmax per pick over a dense n × n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from hf_d2._validation import check_budget, check_scores
from hf_d2.graph import KnnGraph
from hf_d2.kernels import CHUNK_ROWS, certified_total, exact_add, exact_total, prefetch
from hf_d2.params import Param, param_group

FORWARD_MODES = ("sum", "product")
REVERSE_MODES = ("weighted", "absolute", "relative")
EPSILON = 1e-7  # floor on neighbour scores in the forward pass (the reference's epsilon)
# The passes' parameters, declared here, where ``forward_pass`` and ``reverse_pass`` read their defaults
# and check them (``hf_d2.selection.d2_params`` lists them in the "d2" group).
PASSING_PARAMS = param_group(
    "message_passing",
    Param("gamma_forward", float, 1.0, "forward kernel width γf: neighbour j adds exp(−γf·d_ij)·s_j"),
    Param("gamma_reverse", float, 0.1, "reverse suppression width γr: a pick lowers neighbour j by exp(−γr·d_ij)·S_i"),
    Param("forward", str, "sum", "forward messages: sum (S_i = s_i + Σ …) or product (S_i = s_i · Σ …)",
          choices=FORWARD_MODES),
    Param("reverse", str, "weighted", "reverse updates: weighted (a pick lowers neighbour j by exp(−γr·d)·S_pick, "
          "the reference), absolute (by S_pick) or relative (j keeps the fraction 1 − exp(−γr·d) of its own score: "
          "never negative, so a pick's duplicate goes last)", choices=REVERSE_MODES),
    Param("clip_negative", bool, False, "floor a pick's score at 0 before it suppresses its neighbours "
          "(the reference does not)"),
)

_FORWARD_CODE = {"sum": 0, "product": 1}
_REVERSE_CODE = {"weighted": 0, "absolute": 1, "relative": 2}


# Forward pass: each node's S_i is the correctly rounded sum of its terms (what CPython's
# math.fsum returns), so the order in which the neighbour terms arrive cannot change a bit of the
# result: two nodes with the same multiset of terms (exact duplicates) get bit-identical forward
# scores, and so do any two whose sums are equal in exact arithmetic. A compensated sum with a
# rigorous error bound gives it for almost every node (``kernels.certified_total``); the rest take
# Shewchuk's exact partials, finished as math.fsum does.
_MAX_PARTIALS = 96  # non-overlapping float64 partials of an exact sum: at most ~40 are ever live
_PREFETCH_EDGES = 16  # edges ahead whose neighbour score the forward pass prefetches


@numba.njit(inline="always")
def _term(scores, indices, distances, edge, gamma, epsilon):  # pragma: no cover - compiled
    """The forward message along ``edge``: exp(−γ·d) · max(s_neighbour, ε), in float64."""
    neighbour_score = scores[indices[edge]]
    if neighbour_score < epsilon:
        neighbour_score = epsilon
    return np.exp(-gamma * np.float64(distances[edge])) * neighbour_score


@numba.njit(parallel=True, cache=True)
def _forward_kernel(indptr, indices, distances, scores, gamma, mode, epsilon, out):  # pragma: no cover - compiled
    num_nodes = scores.shape[0]
    num_chunks = (num_nodes + CHUNK_ROWS - 1) // CHUNK_ROWS
    for chunk in numba.prange(num_chunks):
        partials = np.empty(_MAX_PARTIALS, dtype=np.float64)
        first = chunk * CHUNK_ROWS
        stop = min(num_nodes, first + CHUNK_ROWS)
        last_edge = indptr[stop]
        for node in range(first, stop):
            # fast path: a compensated sum, kept when it is certified correctly rounded
            high = scores[node] if mode == 0 else 0.0
            low = 0.0
            magnitude = abs(high)
            terms = 1 if mode == 0 else 0
            for edge in range(indptr[node], indptr[node + 1]):
                if edge + _PREFETCH_EDGES < last_edge:
                    prefetch(scores, indices[edge + _PREFETCH_EDGES])
                term = _term(scores, indices, distances, edge, gamma, epsilon)
                total = high + term
                virtual = total - high
                low += (high - (total - virtual)) + (term - virtual)
                high = total
                magnitude += abs(term)
                terms += 1
            total = certified_total(high, low, magnitude, terms)
            if total != total:  # not certified (rare): the exact partials
                count = 0
                if mode == 0:
                    count = exact_add(partials, count, scores[node])
                for edge in range(indptr[node], indptr[node + 1]):
                    if count < _MAX_PARTIALS:
                        count = exact_add(partials, count, _term(scores, indices, distances, edge, gamma, epsilon))
                total = exact_total(partials, count)
            if not (total - total == 0.0):  # inf or NaN terms (a huge negative gamma): plain IEEE sum
                total = scores[node] if mode == 0 else 0.0
                for edge in range(indptr[node], indptr[node + 1]):
                    total += _term(scores, indices, distances, edge, gamma, epsilon)
            out[node] = total if mode == 0 else scores[node] * total


# The same loop compiled without threads, for graphs of one work item (each node's sum is computed
# alone, so the two give the same bits).
_forward_kernel_serial = numba.njit(cache=True)(_forward_kernel.py_func)


# Reverse pass: a lazy tournament tree over the node ids (fan-out 16). Leaves are the nodes'
# current scores (``values``; a picked node's entry is NaN, which no comparison selects);
# internal entry (key, id) is an upper bound, in the order (key desc, id asc), of the pairs
# (values[j], j) in its subtree, and is exact right after it is recomputed. Children are in id
# order, so the first child holding the largest key also holds the lowest id: a scan needs no
# id comparison. A decrease only writes the leaf (the bounds above go stale); an increase climbs
# while it beats the bound. The root names the true maximum as soon as its key equals that
# node's current value; otherwise that node's path is recomputed and the root read again.
# The internal levels take n/15 entries (~8 MB at 10M nodes), so the search stays in cache and
# the node-indexed arrays are the only large ones touched.
_FANOUT = 16


@numba.njit(inline="always")
def _scan_leaves(values, first, stop):  # pragma: no cover - compiled
    """(largest value, its lowest id) over values[first:stop], NaN (picked) skipped; a node at
    -inf is returned only when nothing is larger; (-inf, -1) when all are picked."""
    best_key = -np.inf
    best = -1
    for node in range(first, stop):
        key = values[node]
        better = key > best_key
        best_key = key if better else best_key
        best = node if better else best
    if best < 0:
        for node in range(first, stop):
            if values[node] == values[node]:
                return values[node], node
    return best_key, best


@numba.njit(inline="always")
def _scan_entries(keys, ids, first, stop):  # pragma: no cover - compiled
    best_key = -np.inf
    best = -1
    for slot in range(first, stop):
        key = keys[slot]
        better = key > best_key
        best_key = key if better else best_key
        best = slot if better else best
    if best < 0:
        for slot in range(first, stop):
            if ids[slot] >= 0:
                return keys[slot], ids[slot]
        return -np.inf, -1
    return best_key, ids[best]


@numba.njit(inline="always")
def _recompute_path(values, keys, ids, offsets, sizes, levels, leaf):  # pragma: no cover - compiled
    """Recomputes the entries on the path from ``leaf`` to the root from their children."""
    parent = leaf // _FANOUT
    first = parent * _FANOUT
    key, node = _scan_leaves(values, first, min(first + _FANOUT, sizes[0]))
    keys[offsets[1] + parent] = key
    ids[offsets[1] + parent] = node
    for level in range(2, levels + 1):
        child = parent
        parent = child // _FANOUT
        first = offsets[level - 1] + parent * _FANOUT
        key, node = _scan_entries(keys, ids, first, offsets[level - 1] + min((parent + 1) * _FANOUT, sizes[level - 1]))
        keys[offsets[level] + parent] = key
        ids[offsets[level] + parent] = node


@numba.njit(cache=True)
def _reverse_kernel(indptr, indices, distances, values, budget, gamma, mode, clip_negative,
                    keys, ids, offsets, sizes, order, picked_scores):  # pragma: no cover - compiled
    """The exact greedy. ``values`` holds the forward scores on entry and the final scores on
    exit (a pick's entry: its score when picked); ``order`` receives the picks. Returns the
    number of picks made (< budget only if the scores overflowed to NaN)."""
    num_nodes = values.shape[0]
    levels = sizes.shape[0] - 1
    for parent in range(sizes[1]):
        first = parent * _FANOUT
        key, node = _scan_leaves(values, first, min(first + _FANOUT, num_nodes))
        keys[offsets[1] + parent] = key
        ids[offsets[1] + parent] = node
    for level in range(2, levels + 1):
        for parent in range(sizes[level]):
            first = offsets[level - 1] + parent * _FANOUT
            key, node = _scan_entries(keys, ids, first, offsets[level - 1] + min((parent + 1) * _FANOUT, sizes[level - 1]))
            keys[offsets[level] + parent] = key
            ids[offsets[level] + parent] = node
    root = offsets[levels]
    made = 0
    for step in range(budget):
        picked = ids[root]
        while picked >= 0 and values[picked] != keys[root]:  # a stale bound: recompute its path
            _recompute_path(values, keys, ids, offsets, sizes, levels, picked)
            picked = ids[root]
        if picked < 0:
            break
        order[step] = picked
        made += 1
        message = values[picked]
        picked_scores[step] = message
        values[picked] = np.nan
        start, stop = indptr[picked], indptr[picked + 1]
        for edge in range(start, stop):
            prefetch(values, indices[edge])
        _recompute_path(values, keys, ids, offsets, sizes, levels, picked)
        upcoming = ids[root]
        if upcoming >= 0:  # most likely the next pick: fetch its score and row early
            prefetch(values, upcoming)
            prefetch(indptr, upcoming)
        if clip_negative and message < 0.0:
            message = 0.0
        for edge in range(start, stop):
            neighbour = indices[edge]
            current = values[neighbour]
            if current != current:  # picked
                continue
            if mode == 0:
                decrease = np.exp(-gamma * np.float64(distances[edge])) * message
            elif mode == 1:
                decrease = message
            else:  # relative: the neighbour keeps the fraction 1 − exp(−γ·d) of its own score
                decrease = np.exp(-gamma * np.float64(distances[edge])) * current if current > 0.0 else 0.0
            current -= decrease
            values[neighbour] = current
            if decrease < 0.0:  # raised (a negative pick): climb while it beats the bound
                parent = neighbour // _FANOUT
                for level in range(1, levels + 1):
                    slot = offsets[level] + parent
                    bound = keys[slot]
                    if current > bound or (current == bound and (ids[slot] < 0 or neighbour < ids[slot])):
                        keys[slot] = current
                        ids[slot] = neighbour
                        parent = parent // _FANOUT
                    else:
                        break
        upcoming = ids[root]
        if upcoming >= 0:
            row = indptr[upcoming]
            prefetch(indices, row)
            prefetch(distances, row)
    for step in range(made):
        values[order[step]] = picked_scores[step]
    return made


def _tree_layout(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, sizes) of the tournament tree: level 0 = the n leaves, level L = the root;
    internal level l's entries live at offsets[l] : offsets[l] + sizes[l]."""
    sizes = [num_nodes]
    while sizes[-1] > 1 or len(sizes) == 1:
        sizes.append((sizes[-1] + _FANOUT - 1) // _FANOUT)
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    offsets[2:] = np.cumsum(sizes[1:])
    return offsets, np.asarray(sizes, dtype=np.int64)


def forward_pass(
    graph: KnnGraph,
    scores: np.ndarray,
    *,
    gamma: float = PASSING_PARAMS["gamma_forward"].default,
    mode: str = PASSING_PARAMS["forward"].default,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Forward message passing (one round).

    scores: (n,) float, higher = harder. Returns (n,) float64 forward scores, higher = picked
    earlier. ``mode='sum'`` adds the neighbour messages to the node's own score, ``'product'``
    multiplies them by it. Neighbour scores are floored at ``epsilon``; the node's own is not.
    Each S_i is the exact sum of s_i (sum mode) and the float64 terms exp(−γ·d_ij)·max(s_j, ε),
    rounded once to float64 (what ``math.fsum`` returns), so it is independent of the order of
    the neighbours. Parallel over nodes (numba ``prange``); O(n + nnz) time.
    """
    scores = check_scores(scores, graph.num_nodes)
    gamma = PASSING_PARAMS["gamma_forward"].check(gamma)
    mode = PASSING_PARAMS["forward"].check(mode)
    out = np.empty(graph.num_nodes, dtype=np.float64)
    arguments = (graph.indptr, graph.indices, graph.distances, scores, gamma, _FORWARD_CODE[mode], float(epsilon), out)
    if graph.num_nodes < CHUNK_ROWS:  # one work item: the same loop without the thread pool's start-up
        _forward_kernel_serial(*arguments)
    else:
        with numba.parallel_chunksize(1):  # dynamic scheduling: a busy core does not hold the other up
            _forward_kernel(*arguments)
    return out


@dataclass(frozen=True)
class ReverseResult:
    """Output of the reverse pass.

    order: (budget,) int64 node ids in pick order (first = picked first).
    final_scores: (n,) float64; a picked node's entry is its score when it was picked, an
        unpicked node's its score after all picks.
    """

    order: np.ndarray
    final_scores: np.ndarray


def reverse_pass(
    graph: KnnGraph,
    forward_scores: np.ndarray,
    budget: int,
    *,
    gamma: float = PASSING_PARAMS["gamma_reverse"].default,
    mode: str = PASSING_PARAMS["reverse"].default,
    clip_negative: bool = PASSING_PARAMS["clip_negative"].default,
) -> ReverseResult:
    """Reverse message passing: the exact greedy selection of ``budget`` nodes.

    Each pick lowers its unselected neighbours by exp(−γr · d) · S_pick (``weighted``) or S_pick
    (``absolute``), where S_pick is the pick's current score. A negative S_pick raises them, as
    in the reference; ``clip_negative=True`` floors S_pick at 0 instead. ``relative`` multiplies
    each neighbour's own score by 1 − exp(−γr · d) instead (when some forward score is negative,
    all are first shifted up so that the lowest is 0): scores never go negative (the reference's
    saturation, docs/method.md §4), an exact duplicate of a pick drops to 0 and goes last, and
    among suppressed rows the one far from every pick keeps more (the shift is added back to
    ``final_scores``). Prefix-consistent: the
    first B picks of a run with budget n are the picks for budget B. Ties (bit-equal current
    scores) go to the lowest index; see the module docstring for what equal means here.
    forward_scores: (n,) float64. Time O((n + nnz) log n) at worst, memory O(n).
    """
    forward_scores = check_scores(forward_scores, graph.num_nodes, name="forward_scores")
    budget = check_budget(budget, graph.num_nodes)
    gamma = PASSING_PARAMS["gamma_reverse"].check(gamma)
    mode = PASSING_PARAMS["reverse"].check(mode)
    shift = min(float(forward_scores.min()), 0.0) if mode == "relative" and forward_scores.size else 0.0
    final_scores = forward_scores - shift if shift else forward_scores.copy()
    order = np.empty(budget, dtype=np.int64)
    if graph.num_nodes == 0 or budget == 0:
        return ReverseResult(order=order, final_scores=forward_scores.copy())
    offsets, sizes = _tree_layout(graph.num_nodes)
    keys = np.empty(int(offsets[-1]), dtype=np.float64)
    ids = np.empty(int(offsets[-1]), dtype=np.int32)
    picked_scores = np.empty(budget, dtype=np.float64)
    made = _reverse_kernel(graph.indptr, graph.indices, graph.distances, final_scores, budget, gamma,
                           _REVERSE_CODE[mode], bool(clip_negative), keys, ids, offsets, sizes, order, picked_scores)
    if made < budget:
        raise ValueError(
            f"The reverse pass stopped after {made} of {budget} picks: scores overflowed to NaN; "
            "lower gamma_reverse / gamma_forward (negative widths make exp(−γ·d) explode) or rescale the scores.")
    if shift:
        final_scores += shift
    return ReverseResult(order=order, final_scores=final_scores)
