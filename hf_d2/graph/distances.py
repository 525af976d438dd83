"""Exact Euclidean distances between embedding rows, as the graph stores them, and the exact
re-ranking of search candidates (every backend's candidates go through ``rerank_rows``).

Distances are float64 arithmetic on the float32 vectors in one fixed order (``_exact_distance``),
rounded once to float32: d(i, j) == d(j, i) and exact duplicates are at 0.0. The embeddings may be
a read-only ``np.memmap`` (the stage cache): rows are read where they lie, never copied whole.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from hf_d2._validation import check_embeddings
from hf_d2.kernels import insert_sorted_pair


@numba.njit(inline="always")
def _exact_distance(embeddings, row, other):  # pragma: no cover - compiled
    """||x_row − x_other||: float64 differences of the float32 inputs, squared and summed in 8
    interleaved partial sums (dimension t goes to sum t mod 8, in increasing t), combined as
    ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), square-rooted, rounded to float32.
    The same order for every pair: d(i, j) == d(j, i), and exact duplicates are at 0.0."""
    dim = embeddings.shape[1]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    full = dim - dim % 8
    for t in range(0, full, 8):
        d0 = np.float64(embeddings[row, t]) - np.float64(embeddings[other, t])
        d1 = np.float64(embeddings[row, t + 1]) - np.float64(embeddings[other, t + 1])
        d2 = np.float64(embeddings[row, t + 2]) - np.float64(embeddings[other, t + 2])
        d3 = np.float64(embeddings[row, t + 3]) - np.float64(embeddings[other, t + 3])
        d4 = np.float64(embeddings[row, t + 4]) - np.float64(embeddings[other, t + 4])
        d5 = np.float64(embeddings[row, t + 5]) - np.float64(embeddings[other, t + 5])
        d6 = np.float64(embeddings[row, t + 6]) - np.float64(embeddings[other, t + 6])
        d7 = np.float64(embeddings[row, t + 7]) - np.float64(embeddings[other, t + 7])
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        s4 += d4 * d4
        s5 += d5 * d5
        s6 += d6 * d6
        s7 += d7 * d7
    for t in range(full, dim):
        diff = np.float64(embeddings[row, t]) - np.float64(embeddings[other, t])
        lane = t - full
        if lane == 0:
            s0 += diff * diff
        elif lane == 1:
            s1 += diff * diff
        elif lane == 2:
            s2 += diff * diff
        elif lane == 3:
            s3 += diff * diff
        elif lane == 4:
            s4 += diff * diff
        elif lane == 5:
            s5 += diff * diff
        else:
            s6 += diff * diff
    return np.float32(np.sqrt(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))))


@numba.njit(parallel=True, cache=True)
def rerank_rows(embeddings, query_rows, candidate_ids, k, out_ids, out_distances):  # pragma: no cover
    """For each query row q = query_rows[r]: exact distances to its candidates
    ``candidate_ids[r]`` ((m, w) int, < 0 = none), the query itself (by id) and repeats dropped,
    the k nearest by (float32 distance, id) → ``out_ids[r]`` (int32, -1 pads) and
    ``out_distances[r]`` (float32, 0 pads)."""
    num_queries, width = candidate_ids.shape
    chunk_rows = 64
    for chunk in numba.prange((num_queries + chunk_rows - 1) // chunk_rows):
        ids = np.empty(width, dtype=np.int64)
        dists = np.empty(width, dtype=np.float32)
        for r in range(chunk * chunk_rows, min(num_queries, (chunk + 1) * chunk_rows)):
            row = query_rows[r]
            count = 0
            for column in range(width):
                candidate = candidate_ids[r, column]
                if candidate < 0 or candidate == row:
                    continue
                count = insert_sorted_pair(dists, ids, count, _exact_distance(embeddings, row, candidate), candidate)
            kept = 0
            last = -1
            for position in range(count):
                if kept == k:
                    break
                if ids[position] == last:
                    continue
                out_ids[r, kept] = ids[position]
                out_distances[r, kept] = dists[position]
                last = ids[position]
                kept += 1
            for position in range(kept, k):
                out_ids[r, position] = -1
                out_distances[r, position] = 0.0


def exact_distances(embeddings: Any, rows: Any, neighbor_ids: Any) -> np.ndarray:
    """(m, w) float32 exact Euclidean distances from each of ``rows`` ((m,) int) to the ids in
    ``neighbor_ids`` ((m, w) int; entries < 0 give 0.0), computed as in the graph (float64
    arithmetic on the float32 vectors, ``_exact_distance``)."""
    embeddings = check_embeddings(embeddings)
    rows = np.asarray(rows, dtype=np.int64)
    neighbor_ids = np.asarray(neighbor_ids, dtype=np.int64)
    return _pair_distances(embeddings, rows, neighbor_ids)


@numba.njit(parallel=True, cache=True)
def _pair_distances(embeddings, rows, neighbor_ids):  # pragma: no cover - compiled
    out = np.zeros(neighbor_ids.shape, dtype=np.float32)
    for r in numba.prange(neighbor_ids.shape[0]):
        for column in range(neighbor_ids.shape[1]):
            other = neighbor_ids[r, column]
            if other >= 0:
                out[r, column] = _exact_distance(embeddings, rows[r], other)
    return out
