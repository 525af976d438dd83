"""Baseline selection strategies on plain arrays (docs/method.md §7).

Every function here takes the arrays of ONE group of n examples and returns LOCAL indices:
an int64 array of length ``budget`` with distinct values in [0, n), in PRIORITY order (the
first entry is kept first). All are deterministic given their inputs and ``seed``. Ties are
broken towards the lowest index. Inputs are assumed validated (see ``hf_d2.selection.select``).
"""

from __future__ import annotations

import numpy as np

#: Rows per block when k-center updates its distance vector (bounds the temporaries).
KCENTER_CHUNK_ROWS = 65536


def random_order(num_rows: int, budget: int, *, seed: int = 0) -> np.ndarray:
    """A uniformly random subset in random priority order.

    Draws ONE permutation of range(num_rows) with ``np.random.default_rng(seed)`` and returns its
    first ``budget`` entries, so the picks for a smaller budget are a prefix of those for a
    larger one (same seed). Returns (budget,) int64.
    """
    permutation = np.random.default_rng(seed).permutation(num_rows)
    return permutation[:budget].astype(np.int64)


def hardest_order(scores: np.ndarray, budget: int) -> np.ndarray:
    """The ``budget`` hardest examples, hardest first.

    scores: (n,) float, higher = harder. Ties: lowest index first (stable sort).
    Returns (budget,) int64.
    """
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:budget].astype(
        np.int64
    )


def easiest_order(scores: np.ndarray, budget: int) -> np.ndarray:
    """The ``budget`` easiest examples, easiest first.

    scores: (n,) float, higher = harder. Ties: lowest index first (stable sort).
    Returns (budget,) int64.
    """
    return np.argsort(np.asarray(scores, dtype=np.float64), kind="stable")[:budget].astype(np.int64)


def _squared_distances_to(
    embeddings: np.ndarray, squared_norms: np.ndarray, center: int, out: np.ndarray
) -> None:
    """Writes ||x_i - x_center||^2 for all rows i into ``out`` (n,) float64, block by block.

    Uses ||x||^2 - 2 x.c + ||c||^2 (a matrix-vector product per block, no (n, d) temporary);
    rounding can make it slightly negative, so it is floored at 0.
    """
    center_vector = embeddings[center]
    center_norm = squared_norms[center]
    for start in range(0, embeddings.shape[0], KCENTER_CHUNK_ROWS):
        stop = min(start + KCENTER_CHUNK_ROWS, embeddings.shape[0])
        dots = embeddings[start:stop] @ center_vector
        block = squared_norms[start:stop] - 2.0 * dots + center_norm
        np.maximum(block, 0.0, out=out[start:stop])


def kcenter_order(embeddings: np.ndarray, budget: int, *, seed: int = 0) -> np.ndarray:
    """k-center greedy (Sener & Savarese) on Euclidean distance.

    embeddings: (n, d) float. The first pick is a random point drawn with
    ``np.random.default_rng(seed)``; each next pick is the point farthest from the picks so
    far (largest distance to its nearest pick; ties: lowest index). Keeps one running
    min-distance vector: O(n) extra memory and O(n · d · budget) time, never an n × n matrix.
    The greedy is prefix-consistent: a smaller budget gives a prefix of the picks.
    Returns (budget,) int64.
    """
    num_rows = embeddings.shape[0]
    order = np.empty(budget, dtype=np.int64)
    if budget == 0:
        return order
    embeddings = np.asarray(embeddings, dtype=np.float32)
    squared_norms = np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64)
    nearest_pick_distance = np.full(num_rows, np.inf, dtype=np.float64)
    distances_to_pick = np.empty(num_rows, dtype=np.float64)
    pick = int(np.random.default_rng(seed).integers(num_rows))
    for position in range(budget):
        order[position] = pick
        if position == budget - 1:
            break
        _squared_distances_to(embeddings, squared_norms, pick, distances_to_pick)
        np.minimum(nearest_pick_distance, distances_to_pick, out=nearest_pick_distance)
        nearest_pick_distance[pick] = -1.0  # picks stay at -1 (min keeps it): never re-picked
        pick = int(np.argmax(nearest_pick_distance))  # argmax returns the lowest index on ties
    return order


def median_embedding_distances(
    embeddings: np.ndarray, labels: np.ndarray | None = None
) -> np.ndarray:
    """Euclidean distance of each example to its class's coordinate-wise median embedding.

    embeddings: (n, d) float. labels: (n,) or None (then one global median).
    Returns (n,) float64.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    distances = np.empty(embeddings.shape[0], dtype=np.float64)
    if labels is None:
        groups = [np.arange(embeddings.shape[0])]
    else:
        _, inverse = np.unique(np.asarray(labels), return_inverse=True)
        inverse = inverse.reshape(-1)
        groups = [np.flatnonzero(inverse == value) for value in range(inverse.max() + 1)]
    for members in groups:
        prototype = np.median(embeddings[members], axis=0)
        distances[members] = np.linalg.norm(embeddings[members] - prototype, axis=1)
    return distances


def moderate_order(
    embeddings: np.ndarray, budget: int, *, labels: np.ndarray | None = None
) -> np.ndarray:
    """Moderate coreset (Xia et al., ICLR 2023): keep examples of "moderate" distance.

    Each example's distance to its class's median embedding (``median_embedding_distances``;
    per label when ``labels`` is given, else to the global median) is compared with the median
    of all those distances; examples are ranked by |distance − median distance| ascending, ties
    lowest index. So the kept set is the CENTRAL band of the distance distribution (the
    reference implementation keeps the two tails instead, a known defect: docs/method.md §8).
    Prefix-consistent (it is a fixed ranking). Returns (budget,) int64.
    """
    distances = median_embedding_distances(embeddings, labels)
    gap_to_median = np.abs(distances - np.median(distances))
    return np.argsort(gap_to_median, kind="stable")[:budget].astype(np.int64)
