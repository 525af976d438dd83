"""Recall of an approximate kNN search: ``recall_at_k`` (a seeded sample of rows searched
exactly, their listed neighbours scored against the exact ones), ``with_recall`` (measure it on a
built graph) and the default sample size that ``knn_graph(check_recall=None)`` uses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError, check_embeddings, check_k, check_positive_int
from hf_d2.graph import backends
from hf_d2.graph.csr import KnnGraph
from hf_d2.graph.distances import rerank_rows

# Rows whose approximate neighbours are checked against exact search when check_recall is not
# given: DEFAULT_RECALL_SAMPLE, fewer (not below RECALL_MIN_SAMPLE) when sample · n · d would
# exceed RECALL_MAX_WORK (≈ 1-2 s of exact search on 2 CPU cores). 500 rows · k = 5 neighbours
# estimate a recall near 0.95 to about ± 0.01 (two standard errors).
DEFAULT_RECALL_SAMPLE = 500
RECALL_MIN_SAMPLE = 100
RECALL_MAX_WORK = 1e11


def recall_sample_size(check_recall: int | bool | None, backend: str, num_nodes: int, dim: int) -> int | None:
    if check_recall is None:
        if backend == "auto":
            return None  # decided once the backend is known
        if backend == "exact":
            return 0
        affordable = int(RECALL_MAX_WORK / (float(num_nodes) * dim))
        return max(RECALL_MIN_SAMPLE, min(DEFAULT_RECALL_SAMPLE, affordable))
    if check_recall is True:
        return DEFAULT_RECALL_SAMPLE
    if check_recall is False:
        return 0
    return check_positive_int("check_recall", check_recall, minimum=0)


def recall_at_k(
    embeddings: Any,
    neighbors: Any,
    k: int | None = None,
    *,
    sample_size: int = DEFAULT_RECALL_SAMPLE,
    seed: int = 0,
) -> float:
    """Recall@k of approximate neighbour lists against exact search, on a seeded sample of rows.

    embeddings: (n, d) float, the vectors the lists were built from.
    neighbors: a ``KnnGraph`` or an (n, m) int array of neighbour ids per row (< 0 = none).
    k: neighbours scored per row; default m for an array, ``graph.info["k"]`` for a graph built
        by ``knn_graph`` (required for other graphs).
    For each sampled row i, the k listed neighbours nearest to i (exact distances, i itself
    dropped by id) are compared with the exact k nearest neighbours of i: a listed neighbour is
    a hit when its exact distance is <= the exact k-th neighbour distance (so a tie at the k-th
    distance counts, whichever id it has). Returns hits / (rows · k), in [0, 1]. For a symmetric
    graph a row may hold more than k entries; its k nearest are scored.
    sample_size: rows scored (all n when >= n); seed: which rows (numpy default_rng).
    Cost: an exact search of the sampled rows, O(sample_size · n · d).
    """
    embeddings = check_embeddings(embeddings)
    num_nodes = embeddings.shape[0]
    if isinstance(neighbors, KnnGraph):
        if neighbors.num_nodes != num_nodes:
            raise ValueError(
                f"The graph has {neighbors.num_nodes} nodes but 'embeddings' has {num_nodes} rows; pass the "
                "embeddings the graph was built from.")
        if k is None:
            k = neighbors.info.get("k")
            if k is None:
                raise InvalidParameterError("k", "{name} is needed for a graph not built by knn_graph: pass {set}5 "
                                                 "(the k the lists were searched with).")
        lists = neighbors
    else:
        lists = np.asarray(neighbors)
        if lists.ndim != 2 or lists.shape[0] != num_nodes or not np.issubdtype(lists.dtype, np.integer):
            raise ValueError(
                f"'neighbors' must be a KnnGraph or an (n, m) int array with n = {num_nodes} rows; got "
                f"{lists.dtype} {lists.shape}.")
        if k is None:
            k = lists.shape[1]
    k = check_k(k, num_nodes)
    sample_size = check_positive_int("sample_size", sample_size)
    return recall_of_lists(embeddings, lists, k, sample_size, seed)


def recall_of_lists(embeddings: np.ndarray, lists, k: int, sample_size: int, seed: int) -> float:
    faiss = backends.import_faiss()
    num_nodes = embeddings.shape[0]
    if sample_size >= num_nodes:
        rows = np.arange(num_nodes, dtype=np.int64)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(num_nodes, size=sample_size, replace=False)).astype(np.int64)
    # Exact reference: flat search with a margin of k extra candidates, re-ranked exactly.
    width = min(num_nodes, 2 * k + 1)
    queries = embeddings[rows]
    if hasattr(faiss, "knn"):
        _, exact_candidates = faiss.knn(queries, embeddings, width)
    else:  # pragma: no cover - faiss < 1.7.3
        flat = faiss.IndexFlatL2(embeddings.shape[1])
        flat.add(embeddings)
        _, exact_candidates = flat.search(queries, width)
    exact_ids = np.empty((rows.shape[0], k), dtype=np.int32)
    exact_dist = np.empty((rows.shape[0], k), dtype=np.float32)
    rerank_rows(embeddings, rows, np.ascontiguousarray(exact_candidates, dtype=np.int64), k, exact_ids, exact_dist)
    kth = exact_dist[:, k - 1]
    # The approximate lists of the same rows, as a padded (m, w) array.
    if isinstance(lists, KnnGraph):
        degrees = lists.indptr[rows + 1] - lists.indptr[rows]
        listed = np.full((rows.shape[0], max(1, int(degrees.max()))), -1, dtype=np.int64)
        for position, row in enumerate(rows):
            ids = lists.indices[lists.indptr[row]:lists.indptr[row + 1]]
            listed[position, :ids.shape[0]] = ids
    else:
        listed = np.ascontiguousarray(lists[rows], dtype=np.int64)
    approx_ids = np.empty((rows.shape[0], k), dtype=np.int32)
    approx_dist = np.empty((rows.shape[0], k), dtype=np.float32)
    rerank_rows(embeddings, rows, listed, k, approx_ids, approx_dist)
    hits = (approx_ids >= 0) & (approx_dist <= kth[:, None])
    return float(hits.sum() / (rows.shape[0] * k))


def with_recall(graph: KnnGraph, embeddings: Any, *, sample_size: int = DEFAULT_RECALL_SAMPLE,
                seed: int = 0) -> KnnGraph:
    """A copy of ``graph`` (built by ``knn_graph``) whose ``recall`` is measured now."""
    recall = recall_at_k(embeddings, graph, graph.info.get("k"), sample_size=sample_size, seed=seed)
    return replace(graph, recall=recall, info={**graph.info, "recall_at_k": recall,
                                               "recall_sample": min(sample_size, graph.num_nodes)})
