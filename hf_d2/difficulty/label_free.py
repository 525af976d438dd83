"""Difficulty without labels: k-means pseudo-labels and the prototypicality score.

- ``pseudo_labels``: seeded faiss k-means on the embeddings; each row's cluster is its label.
  Any dynamics-based score then works unchanged: the head (or a fine-tuning) trains on the
  pseudo-labels and its dynamics say which rows sit between clusters (ELFS, Zheng et al. 2025,
  trains on deep-clustering pseudo-labels the same way).
- ``prototypicality``: the distance of each row to its own k-means centroid (Sorscher et al.
  2022, the D2 paper's self-supervised score); higher = harder (less prototypical).

The number of clusters, unless given, follows ``default_num_clusters``: round(√n / 2), at least
2 and at most 100 (n = 300 → 9, n = 8,000 → 45). Deterministic under ``seed``.
"""

from __future__ import annotations

import numpy as np

from hf_d2._validation import check_embeddings, check_positive_int
from hf_d2.graph.backends import faiss_seed, import_faiss
from hf_d2.params import Param, param_group

MIN_CLUSTERS, MAX_CLUSTERS = 2, 100
KMEANS_ITERATIONS = 25
# faiss initialises k-means from random rows; one start often splits a large cluster and merges two
# small ones, even well-separated. The best of several seeded starts (lowest objective) does not.
KMEANS_RESTARTS = 5
LABEL_FREE_PARAMS = param_group(
    "label_free",
    Param("num_clusters", int, None, "k-means clusters for pseudo-labels and prototypicality (default round(√n / 2), "
          "between 2 and 100)", low=2, nullable=True),
)


def default_num_clusters(num_rows: int) -> int:
    """round(√n / 2), clamped to [2, 100] and to n − 1."""
    return int(max(MIN_CLUSTERS, min(MAX_CLUSTERS, round(np.sqrt(num_rows) / 2), num_rows - 1)))


def kmeans(embeddings: np.ndarray, num_clusters: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(assignments (n,) int64, centroids (k, d) float32) of seeded faiss k-means (L2)."""
    faiss = import_faiss()
    vectors = np.ascontiguousarray(check_embeddings(embeddings), dtype=np.float32)
    num_rows = vectors.shape[0]
    k = default_num_clusters(num_rows) if num_clusters is None else check_positive_int("num_clusters", num_clusters, 2)
    if k >= num_rows:
        raise ValueError(f"The 'num_clusters' parameter ({k}) must be smaller than the number of rows ({num_rows}).")
    model = faiss.Kmeans(vectors.shape[1], k, niter=KMEANS_ITERATIONS, nredo=KMEANS_RESTARTS, seed=faiss_seed(seed),
                         verbose=False, min_points_per_centroid=1, max_points_per_centroid=max(256, num_rows // k + 1))
    model.train(vectors)
    _, assignment = model.index.search(vectors, 1)
    return assignment[:, 0].astype(np.int64), model.centroids.astype(np.float32)


def pseudo_labels(embeddings: np.ndarray, num_clusters: int | None = None, seed: int = 0) -> np.ndarray:
    """(n,) int64 cluster ids in [0, k), renumbered so that every id is used (order of first
    appearance by row), so they are valid class labels."""
    assignment, _ = kmeans(embeddings, num_clusters, seed)
    _, first = np.unique(assignment, return_index=True)
    order = np.argsort(first)
    renumber = np.empty(assignment.max() + 1, dtype=np.int64)
    renumber[np.unique(assignment)[order]] = np.arange(order.size)
    return renumber[assignment]


def prototypicality(embeddings: np.ndarray, num_clusters: int | None = None, seed: int = 0) -> np.ndarray:
    """(n,) float64 Euclidean distance of each row to its own k-means centroid; higher = harder."""
    vectors = check_embeddings(embeddings)
    assignment, centroids = kmeans(vectors, num_clusters, seed)
    block = 65_536  # rows per float64 difference: no (n, d) float64 temporaries
    return np.concatenate([np.linalg.norm(vectors[start:start + block].astype(np.float64)
                                          - centroids[assignment[start:start + block]].astype(np.float64), axis=1)
                           for start in range(0, vectors.shape[0], block)])
