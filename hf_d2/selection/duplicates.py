"""Duplicate groups: rows whose embeddings are identical (``exact``) or nearly so (``near``:
much closer than typical neighbours, or at a given cosine similarity), so that a selection can treat each group as one
candidate (docs/method.md §4, saturation; §5, duplicates).

Pure functions over arrays; inputs are assumed validated by ``hf_d2.selection.select``. A
grouping is an (n,) int64 array of group ids, numbered 0, 1, ... in the order of each group's
first row, so the *representative* of a group, its lowest row, comes first.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

DUPLICATE_MODES = ("none", "exact", "near")
# Near duplicates without a given cosine threshold: at most ADAPTIVE_RATIO times the typical
# neighbourhood radius, the median over the rows of the distance to their NEAR_NEIGHBOURS-th
# nearest row (a radius that copies do not shrink unless a row has that many). With MiniLM on
# review texts or docstrings that is cosine >= ~0.95; with 8 x 8 digits' pixels, >= ~0.993.
ADAPTIVE_RATIO = 0.3
NEAR_NEIGHBOURS = 10  # each row's nearest rows (Euclidean) checked for near duplicates
HASH_BLOCK_ROWS = 65_536


def exact_groups(embeddings: np.ndarray) -> np.ndarray:
    """(n,) int64 group ids: rows with bit-identical vectors share a group. A 64-bit hash of each
    row's bytes finds the candidates block by block (a memory map is never read whole); rows
    with equal hashes are then compared byte for byte, so a hash collision never merges rows."""
    num_rows = embeddings.shape[0]
    hashes = np.empty(num_rows, dtype=np.uint64)
    width = embeddings.shape[1] * embeddings.dtype.itemsize // 4 if embeddings.ndim == 2 else 0
    powers = np.cumprod(np.full(max(width, 1), 0x100000001B3, dtype=np.uint64)) if width else None
    with np.errstate(over="ignore"):
        for start in range(0, num_rows, HASH_BLOCK_ROWS):
            block = np.ascontiguousarray(embeddings[start:start + HASH_BLOCK_ROWS])
            words = block.view(np.uint32).reshape(block.shape[0], -1).astype(np.uint64)
            hashes[start:start + block.shape[0]] = (words * powers).sum(axis=1) if width else 0
    order = np.argsort(hashes, kind="stable")
    group_of = np.arange(num_rows, dtype=np.int64)  # a row's group: its first identical row
    boundaries = np.flatnonzero(np.diff(hashes[order])) + 1
    for run in np.split(order, boundaries):
        if run.size < 2:
            continue
        rows = np.sort(run)
        vectors = np.asarray(embeddings[rows])
        for position, row in enumerate(rows):
            if group_of[row] != row:
                continue
            same = np.all(vectors[position + 1:] == vectors[position], axis=1)
            group_of[rows[position + 1:][same]] = row
    return _numbered(group_of)


def near_groups(embeddings: np.ndarray | None, threshold: float | None = None, *, graph: Any = None,
                knn: str = "exact", seed: int = 0) -> np.ndarray:
    """(n,) int64 group ids of near duplicates: exact duplicates first (any count), then stars.

    Rows are visited in order; a row not yet in a group starts one and takes in those of its
    ``NEAR_NEIGHBOURS`` nearest rows (Euclidean) that are not yet in a group and are near it. No
    chains: every member is near its group's first row. Near means cosine similarity >=
    ``threshold``, or, with ``threshold=None`` (the default), a distance between the unit vectors
    of at most ``ADAPTIVE_RATIO`` times the typical neighbourhood radius (the median, over the
    rows, of the distance to the farthest of their listed neighbours), so "near" adapts to how
    crowded the embedding space is: light edits of a sentence under sentence-transformers
    (neighbourhoods at cosine ~0.5, copies above ~0.95), but only near-identical images in 64
    raw pixels (neighbourhoods at cosine ~0.92).
    graph: a ``KnnGraph`` over the same rows to take the candidate pairs from instead of a new
    search (its distances read as those of unit vectors when ``embeddings`` is None)."""
    base = exact_groups(embeddings) if embeddings is not None else np.arange(graph.num_nodes, dtype=np.int64)
    first = _first_rows(base)
    if first.size < 2:
        return base
    if graph is None:
        from hf_d2.graph import knn_graph  # noqa: PLC0415 - the graph layer is only needed here

        vectors = np.asarray(embeddings[first], dtype=np.float32)
        graph = knn_graph(vectors, k=min(NEAR_NEIGHBOURS, first.size - 1), backend=knn, symmetric=False,
                          seed=seed, check_recall=0)
    else:
        vectors = None if embeddings is None else np.asarray(embeddings[first], dtype=np.float32)
        graph = graph.subgraph(first)
    sources, targets, distances = _edges(graph)
    cosines = _cosines(vectors, sources, targets, distances)
    if threshold is None:
        unit_distance = np.sqrt(np.maximum(2.0 - 2.0 * cosines, 0.0))
        farthest = np.zeros(first.size)
        np.maximum.at(farthest, sources, unit_distance)
        listed = np.diff(graph.indptr) > 0
        typical = float(np.median(farthest[listed])) if listed.any() else 0.0
        near = unit_distance <= ADAPTIVE_RATIO * typical
    else:
        near = cosines >= threshold
    leader = _star_groups(graph.indptr, targets.astype(np.int64), near)
    return _numbered(leader[base])


@numba.njit(cache=True)
def _star_groups(indptr, targets, near):  # pragma: no cover - compiled
    """(m,) int64 leader of each row: rows in order; an unassigned row leads, and takes in its
    unassigned listed neighbours that are near it."""
    num_rows = indptr.shape[0] - 1
    leader = np.full(num_rows, -1, dtype=np.int64)
    for row in range(num_rows):
        if leader[row] >= 0:
            continue
        leader[row] = row
        for edge in range(indptr[row], indptr[row + 1]):
            if near[edge] and leader[targets[edge]] < 0:
                leader[targets[edge]] = row
    return leader


def duplicate_groups(mode: str, embeddings: np.ndarray | None, threshold: float | None = None, *,
                     graph: Any = None, knn: str = "exact", seed: int = 0) -> np.ndarray:
    """(n,) int64 group ids of ``mode`` ("exact" or "near"; see the two functions above)."""
    if mode == "exact":
        return exact_groups(embeddings)
    return near_groups(embeddings, threshold, graph=graph, knn=knn, seed=seed)


def representatives(group_of: np.ndarray) -> np.ndarray:
    """(n,) bool: True at the first (lowest) row of each group."""
    mask = np.zeros(group_of.size, dtype=bool)
    mask[_first_rows(group_of)] = True
    return mask


def _numbered(labels: np.ndarray) -> np.ndarray:
    """Group ids renumbered 0, 1, ... by each group's first row."""
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first_index.size, dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(first_index.size)
    return rank[inverse.reshape(-1)]


def _first_rows(group_of: np.ndarray) -> np.ndarray:
    """The first row of each group, in group-id order (ids numbered by first row: ascending)."""
    _, first_index = np.unique(group_of, return_index=True)
    return first_index.astype(np.int64)


def _edges(graph: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sources = np.repeat(np.arange(graph.num_nodes, dtype=np.int64), np.diff(graph.indptr))
    return sources, graph.indices.astype(np.int64), graph.distances.astype(np.float64)


def _cosines(vectors: np.ndarray | None, sources: np.ndarray, targets: np.ndarray,
             distances: np.ndarray) -> np.ndarray:
    """Cosine similarity of each pair: from the vectors, or 1 − d²/2 (unit vectors) without them."""
    if vectors is None:
        return 1.0 - distances ** 2 / 2.0
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    dots = np.einsum("ij,ij->i", vectors[sources].astype(np.float64), vectors[targets].astype(np.float64))
    return dots / np.maximum(norms[sources] * norms[targets], 1e-300)
