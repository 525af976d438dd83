"""The kNN graph over example embeddings, stored as CSR (O(n·k) memory, never n × n).

``knn_graph`` searches with faiss (exact flat L2, HNSW or IVF; on GPU when faiss-gpu and CUDA
are present) and ``KnnGraph.from_neighbors`` turns (n, k) neighbour arrays into the CSR the
message-passing stage reads. Distances are Euclidean (faiss's squared L2, square-rooted).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from hf_d2._validation import check_choice, check_embeddings, check_k, check_positive_int

logger = logging.getLogger(__name__)

BACKENDS = ("exact", "hnsw", "ivf", "auto")
DEVICES = ("auto", "cpu", "gpu")
# `auto` searches exactly up to this many rows (exact search costs O(n² d)); HNSW above it.
AUTO_EXACT_MAX_ROWS = 100_000
# Rows per faiss search call: bounds the (batch, k) result buffers and drives the progress bar.
SEARCH_BATCH_ROWS = 16_384


@dataclass(frozen=True)
class KnnGraph:
    """Neighbour lists of ``num_nodes`` nodes in CSR form.

    Row ``i``'s neighbours are ``indices[indptr[i]:indptr[i+1]]`` (int32 node ids, ascending)
    at Euclidean ``distances`` (float32, same slice). A node is never its own neighbour; an exact
    duplicate is a neighbour at distance 0. ``symmetric`` graphs hold j in N(i) iff i in N(j).
    """

    indptr: np.ndarray  # (n + 1,) int64
    indices: np.ndarray  # (nnz,) int32
    distances: np.ndarray  # (nnz,) float32
    num_nodes: int
    symmetric: bool = True

    def __post_init__(self) -> None:
        if self.indptr.shape != (self.num_nodes + 1,):
            raise ValueError(f"indptr must have num_nodes + 1 = {self.num_nodes + 1} entries.")
        if self.indices.shape != self.distances.shape:
            raise ValueError("indices and distances must have the same length.")

    @property
    def num_edges(self) -> int:
        """Stored (directed) entries; a symmetric graph stores each undirected edge twice."""
        return int(self.indices.shape[0])

    def degrees(self) -> np.ndarray:
        """(n,) int64 number of neighbours per node."""
        return np.diff(self.indptr)

    def neighbors(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour ids, distances) of one node."""
        start, end = self.indptr[node], self.indptr[node + 1]
        return self.indices[start:end], self.distances[start:end]

    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.indices.nbytes + self.distances.nbytes)

    @classmethod
    def from_neighbors(
        cls,
        neighbor_ids: Any,
        distances: Any,
        symmetric: bool = True,
    ) -> "KnnGraph":
        """Builds the CSR graph from per-node neighbour lists.

        neighbor_ids: (n, k) int, row i lists i's nearest neighbours; ids < 0 (faiss's "no
            neighbour") are dropped, and so is i itself (by id: a duplicate of i stays).
        distances: (n, k) float, Euclidean distance to each listed neighbour (>= 0).
        symmetric: True = union-symmetrised (j in N(i) if j in kNN(i) or i in kNN(j); where both
            lists hold the pair, the smaller distance is kept); False = directed (row i holds only
            i's own neighbours).
        """
        neighbor_ids = np.asarray(neighbor_ids)
        distances = np.asarray(distances, dtype=np.float32)
        if neighbor_ids.ndim != 2 or neighbor_ids.shape != distances.shape:
            raise ValueError(
                "neighbor_ids and distances must both be (n, k) arrays of the same shape; got "
                f"{neighbor_ids.shape} and {distances.shape}."
            )
        if not np.issubdtype(neighbor_ids.dtype, np.integer):
            raise ValueError(f"neighbor_ids must hold integer node ids; got dtype {neighbor_ids.dtype}.")
        num_nodes, width = neighbor_ids.shape
        if num_nodes >= np.iinfo(np.int32).max:
            raise ValueError(f"At most {np.iinfo(np.int32).max - 1} nodes are supported; got {num_nodes}.")
        if (neighbor_ids >= num_nodes).any():
            raise ValueError(f"neighbor_ids must be < n = {num_nodes} (ids of rows of the same array).")
        finite = np.isfinite(distances)
        if not finite[neighbor_ids >= 0].all() or (distances[neighbor_ids >= 0] < 0).any():
            raise ValueError("distances must be finite and >= 0 for every listed neighbour.")

        indptr, indices, edge_distances = _csr_from_neighbor_lists(
            neighbor_ids.astype(np.int64, copy=False), np.ascontiguousarray(distances), bool(symmetric)
        )
        return cls(indptr=indptr, indices=indices, distances=edge_distances, num_nodes=num_nodes,
                   symmetric=bool(symmetric))


@numba.njit(cache=True)
def _csr_from_neighbor_lists(neighbor_ids, distances, symmetric):  # pragma: no cover - compiled
    """CSR rows sorted by neighbour id; self ids and ids < 0 dropped; a pair listed twice (both
    directions of a symmetric graph, or a repeated id) keeps its smallest distance."""
    num_nodes, width = neighbor_ids.shape
    counts = np.zeros(num_nodes + 1, dtype=np.int64)
    for node in range(num_nodes):
        for column in range(width):
            neighbour = neighbor_ids[node, column]
            if neighbour < 0 or neighbour == node:
                continue
            counts[node + 1] += 1
            if symmetric:
                counts[neighbour + 1] += 1
    raw_indptr = np.cumsum(counts)
    fill = raw_indptr[:-1].copy()
    raw_indices = np.empty(raw_indptr[-1], dtype=np.int32)
    raw_distances = np.empty(raw_indptr[-1], dtype=np.float32)
    for node in range(num_nodes):
        for column in range(width):
            neighbour = neighbor_ids[node, column]
            if neighbour < 0 or neighbour == node:
                continue
            raw_indices[fill[node]] = neighbour
            raw_distances[fill[node]] = distances[node, column]
            fill[node] += 1
            if symmetric:
                raw_indices[fill[neighbour]] = node
                raw_distances[fill[neighbour]] = distances[node, column]
                fill[neighbour] += 1
    unique_counts = np.zeros(num_nodes + 1, dtype=np.int64)
    for node in range(num_nodes):
        start, stop = raw_indptr[node], raw_indptr[node + 1]
        for position in range(start + 1, stop):  # insertion sort by (id, distance): rows are short
            key_index, key_distance = raw_indices[position], raw_distances[position]
            slot = position - 1
            while slot >= start and (raw_indices[slot] > key_index or (
                    raw_indices[slot] == key_index and raw_distances[slot] > key_distance)):
                raw_indices[slot + 1] = raw_indices[slot]
                raw_distances[slot + 1] = raw_distances[slot]
                slot -= 1
            raw_indices[slot + 1] = key_index
            raw_distances[slot + 1] = key_distance
        kept = 0
        for position in range(start, stop):
            if position > start and raw_indices[position] == raw_indices[position - 1]:
                continue
            raw_indices[start + kept] = raw_indices[position]
            raw_distances[start + kept] = raw_distances[position]
            kept += 1
        unique_counts[node + 1] = kept
    indptr = np.cumsum(unique_counts)
    indices = np.empty(indptr[-1], dtype=np.int32)
    edge_distances = np.empty(indptr[-1], dtype=np.float32)
    for node in range(num_nodes):
        source = raw_indptr[node]
        for offset in range(indptr[node + 1] - indptr[node]):
            indices[indptr[node] + offset] = raw_indices[source + offset]
            edge_distances[indptr[node] + offset] = raw_distances[source + offset]
    return indptr, indices, edge_distances


def knn_graph(
    embeddings: Any,
    k: int = 5,
    backend: str = "exact",
    symmetric: bool = True,
    *,
    device: str = "auto",
    batch_size: int = SEARCH_BATCH_ROWS,
    seed: int = 0,
    show_progress: bool | None = None,
    hnsw_m: int = 32,
    hnsw_ef_search: int | None = None,
    ivf_nlist: int | None = None,
    ivf_nprobe: int = 16,
) -> KnnGraph:
    """kNN graph of ``embeddings`` (n, d) under Euclidean distance, the node itself excluded by id.

    backend: ``exact`` (faiss flat L2, what parity needs), ``hnsw`` (graph index, CPU), ``ivf``
        (inverted lists; trained on the data with ``seed``), or ``auto``: exact up to
        ``AUTO_EXACT_MAX_ROWS`` = 100,000 rows, HNSW above.
    device: ``auto`` uses a GPU when faiss-gpu and CUDA are present (flat and IVF indexes),
        ``gpu`` requires one, ``cpu`` never uses one.
    Memory: the index (n·d floats for flat/HNSW) plus the CSR graph, O(n·k); never n × n.
    """
    embeddings = check_embeddings(embeddings)
    num_nodes, dim = embeddings.shape
    k = check_k(k, num_nodes)
    backend = check_choice("backend", backend, BACKENDS)
    device = check_choice("device", device, DEVICES)
    batch_size = check_positive_int("batch_size", batch_size)
    if backend == "auto":
        backend = "exact" if num_nodes <= AUTO_EXACT_MAX_ROWS else "hnsw"

    faiss = _import_faiss()
    index = _build_index(faiss, embeddings, backend, device, seed, hnsw_m, hnsw_ef_search, ivf_nlist,
                         ivf_nprobe, k)
    # k + 1 so that dropping the node itself still leaves k neighbours.
    neighbor_ids, squared_distances = _batched_search(index, embeddings, k + 1, batch_size, show_progress)
    neighbor_ids, squared_distances = _drop_self(neighbor_ids, squared_distances)
    distances = np.sqrt(np.maximum(squared_distances, 0.0), dtype=np.float32)
    distances[neighbor_ids < 0] = 0.0
    return KnnGraph.from_neighbors(neighbor_ids, distances, symmetric=symmetric)


def _import_faiss():
    try:
        import faiss  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - faiss-cpu is a dependency
        raise ImportError(
            "hf-d2 needs faiss for the kNN graph: pip install faiss-cpu (or hf-d2[gpu] for faiss-gpu)."
        ) from error
    return faiss


def gpu_available() -> bool:
    """True when the installed faiss has GPU support and sees at least one CUDA device."""
    faiss = _import_faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _build_index(faiss, embeddings, backend, device, seed, hnsw_m, hnsw_ef_search, ivf_nlist, ivf_nprobe, k):
    num_nodes, dim = embeddings.shape
    use_gpu = device == "gpu" or (device == "auto" and backend != "hnsw" and gpu_available())
    if use_gpu and not gpu_available():
        raise ValueError(
            "device='gpu' needs faiss with GPU support and a CUDA device: pip install 'hf-d2[gpu]' "
            "on a CUDA machine, or pass device='cpu'."
        )
    if backend == "exact":
        index = faiss.IndexFlatL2(dim)
    elif backend == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m)
        index.hnsw.efConstruction = max(40, 2 * hnsw_m)
        index.hnsw.efSearch = hnsw_ef_search or max(64, 4 * (k + 1))
    else:  # ivf
        nlist = ivf_nlist or max(1, min(int(4 * np.sqrt(num_nodes)), num_nodes // 39))
        quantizer = faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist)
        index.cp.seed = int(seed)
        index.nprobe = min(ivf_nprobe, nlist)
    if use_gpu:
        if backend == "hnsw":
            logger.info("faiss HNSW runs on the CPU; use backend='ivf' or 'exact' for GPU search.")
        else:
            resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(resources, 0, index)
            index.referenced_resources = resources  # keep alive with the index
    if backend == "ivf":
        # k-means on 64 rows per list (faiss asks for at least 39): a seeded sample, not all n.
        training_rows = min(num_nodes, 64 * index.nlist if hasattr(index, "nlist") else num_nodes)
        rng = np.random.default_rng(seed)
        sample = embeddings[np.sort(rng.choice(num_nodes, size=training_rows, replace=False))]
        index.train(sample)
    index.add(embeddings)
    return index


def _batched_search(index, embeddings: np.ndarray, width: int, batch_size: int,
                    show_progress: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """(n, width) int64 ids and float32 squared L2 distances, searched batch by batch."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    num_nodes = embeddings.shape[0]
    neighbor_ids = np.empty((num_nodes, width), dtype=np.int64)
    squared_distances = np.empty((num_nodes, width), dtype=np.float32)
    if show_progress is None:
        show_progress = num_nodes > 4 * batch_size and not os.environ.get("HF_D2_DISABLE_PROGRESS")
    with tqdm(total=num_nodes, desc="kNN search", unit="rows", disable=not show_progress) as bar:
        for start in range(0, num_nodes, batch_size):
            stop = min(start + batch_size, num_nodes)
            squared_distances[start:stop], neighbor_ids[start:stop] = index.search(embeddings[start:stop], width)
            bar.update(stop - start)
    return neighbor_ids, squared_distances


def _drop_self(neighbor_ids: np.ndarray, squared_distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Removes each row's own id from its k + 1 results, or the last result when the row is
    absent (crowded out by more than k duplicates), keeping k columns in distance order."""
    num_nodes, width = neighbor_ids.shape
    is_self = neighbor_ids == np.arange(num_nodes)[:, None]
    drop_column = np.where(is_self.any(axis=1), is_self.argmax(axis=1), width - 1)
    keep = np.ones_like(is_self)
    keep[np.arange(num_nodes), drop_column] = False
    return (neighbor_ids[keep].reshape(num_nodes, width - 1),
            squared_distances[keep].reshape(num_nodes, width - 1))
