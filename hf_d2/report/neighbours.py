"""The rows D2's reverse pass suppressed because a near neighbour was kept, and the kept row
nearest to each of them: the report's "pruned because a near neighbour was kept" list."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

NEIGHBOUR_CHUNK = 65_536  # embedding rows per block when searching nearest kept neighbours


def suppressed_by_neighbours(forward_scores: Any, kept: Any, groups: Any = None) -> np.ndarray:
    """Positions of the rows D2's reverse pass suppressed because a near neighbour was kept,
    highest forward score first.

    D2 picks rows greedily by score and, after each pick, lowers the scores of the picked row's
    graph neighbours. Without those updates it would keep the rows with the highest forward
    scores. So a row is counted as suppressed when it is NOT kept although its forward score
    ranks within the top b of its group, where b is the number of rows kept in that group (the
    whole selection, or one label with ``partition="label"``: ``groups`` (n,) gives each row's
    group). Ties rank the lower position first, as D2 does. Rows without a forward score (NaN:
    another method, or dropped by the pre-filter) are never counted.
    """
    forward = np.asarray(forward_scores, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if forward.shape != kept.shape or forward.ndim != 1:
        raise ValueError(f"forward_scores and kept must be (n,) arrays of one length; got {forward.shape}, "
                         f"{kept.shape}.")
    groups = np.zeros(forward.size, dtype=np.int64) if groups is None else np.asarray(groups)
    finite = np.isfinite(forward)
    found = []
    for value in np.unique(groups):
        members = np.flatnonzero((groups == value) & finite)
        budget = int(kept[members].sum())
        order = members[np.lexsort((members, -forward[members]))]  # forward desc, position asc
        top = order[:budget]
        found.append(top[~kept[top]])
    positions = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return positions[np.lexsort((positions, -forward[positions]))]


def nearest_kept(embeddings: Any, queries: Sequence[int], kept: Any,
                 chunk: int = NEIGHBOUR_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """For each query position, the kept position nearest to it by Euclidean distance between
    embedding rows (the distance D2's graph uses) and that distance: ((m,) int64, (m,) float64).
    ``embeddings`` (n, d) may be memory-mapped; it is read in blocks of ``chunk`` rows."""
    kept_positions = np.flatnonzero(np.asarray(kept, dtype=bool))
    queries = np.asarray(queries, dtype=np.int64)
    best = np.full(queries.size, -1, dtype=np.int64)
    best_distance = np.full(queries.size, np.inf)
    if queries.size == 0 or kept_positions.size == 0:
        return best, best_distance
    query_vectors = np.asarray(embeddings[queries], dtype=np.float64)
    query_norms = (query_vectors ** 2).sum(axis=1)
    for start in range(0, kept_positions.size, chunk):
        block = kept_positions[start:start + chunk]
        vectors = np.asarray(embeddings[block], dtype=np.float64)
        squared = query_norms[:, None] + (vectors ** 2).sum(axis=1)[None, :] - 2.0 * query_vectors @ vectors.T
        squared[block[None, :] == queries[:, None]] = np.inf  # a row is not its own neighbour
        column = squared.argmin(axis=1)
        distance = np.sqrt(np.maximum(squared[np.arange(queries.size), column], 0.0))
        better = distance < best_distance
        best[better], best_distance[better] = block[column[better]], distance[better]
    return best, best_distance
