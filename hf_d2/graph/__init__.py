"""The kNN graph over example embeddings, stored as CSR (O(n·k) memory, never n × n).

``knn_graph`` finds candidate neighbours with faiss (exact flat L2, HNSW, IVF, IVF-PQ or any
faiss ``index_factory`` string; on one or several GPUs when faiss-gpu and CUDA are present), then
re-ranks every row's candidates by the exact Euclidean distance recomputed from the two vectors
(float64 arithmetic, stored float32), so exact duplicates are at distance 0.0 and ties at the k-th
neighbour go to the lowest id whatever faiss's float32 arithmetic reported. ``recall_at_k``
measures an approximate search against exact search on a seeded sample of rows.
``KnnGraph.from_neighbors`` turns (n, k) neighbour arrays into the CSR that the message-passing
stage reads, with a counting-sort union symmetrisation compiled with numba (no global sort).

Modules: ``csr`` (``KnnGraph`` and the CSR build), ``distances`` (exact distances and the
re-ranking), ``backends`` (faiss indexes, the ``auto`` rule, GPUs), ``recall`` (recall@k) and
``search`` (``knn_graph``). The names below are the public API; import them from here.
"""

from hf_d2.graph.backends import (
    APPROXIMATE_BACKENDS,
    AUTO_EXACT_MAX_ROWS,
    AUTO_EXACT_MAX_WORK,
    AUTO_EXACT_MAX_WORK_GPU,
    AUTO_HNSW_MAX_ROWS,
    AUTO_MEMORY_FRACTION,
    BACKENDS,
    DEVICES,
    FACTORY_PREFIX,
    available_memory_bytes,
    check_backend,
    choose_backend,
    default_pq_m,
    gpu_available,
    gpu_count,
    index_bytes,
)
from hf_d2.graph.csr import KnnGraph
from hf_d2.graph.distances import exact_distances
from hf_d2.graph.recall import (
    DEFAULT_RECALL_SAMPLE,
    RECALL_MAX_WORK,
    RECALL_MIN_SAMPLE,
    recall_at_k,
    recall_sample_size,
    with_recall,
)
from hf_d2.graph.search import KNN_PARAMS, SEARCH_BATCH_ROWS, graph_summary, knn_graph

__all__ = [
    "APPROXIMATE_BACKENDS",
    "AUTO_EXACT_MAX_ROWS",
    "AUTO_EXACT_MAX_WORK",
    "AUTO_EXACT_MAX_WORK_GPU",
    "AUTO_HNSW_MAX_ROWS",
    "AUTO_MEMORY_FRACTION",
    "BACKENDS",
    "DEFAULT_RECALL_SAMPLE",
    "DEVICES",
    "FACTORY_PREFIX",
    "KNN_PARAMS",
    "RECALL_MAX_WORK",
    "RECALL_MIN_SAMPLE",
    "SEARCH_BATCH_ROWS",
    "KnnGraph",
    "available_memory_bytes",
    "check_backend",
    "choose_backend",
    "default_pq_m",
    "exact_distances",
    "gpu_available",
    "gpu_count",
    "graph_summary",
    "index_bytes",
    "knn_graph",
    "recall_at_k",
    "recall_sample_size",
    "with_recall",
]
