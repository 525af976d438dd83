"""``knn_graph``: the kNN graph of the embeddings, searched with faiss (``backends``), every
candidate re-ranked by its exact distance (``distances``), the recall measured (``recall``), and
the lists turned into CSR (``csr``)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hf_d2._validation import InvalidParameterError, check_choice, check_embeddings, check_k, check_positive_int
from hf_d2.env import progress_disabled
from hf_d2.graph import backends
from hf_d2.graph.csr import KnnGraph, csr_from_lists
from hf_d2.graph.distances import rerank_rows
from hf_d2.graph.recall import recall_of_lists, recall_sample_size
from hf_d2.params import Param, param_group

logger = logging.getLogger("hf_d2.graph")  # its records reach handlers on "hf_d2"


def _check_knn(value: str) -> str:
    """A kNN backend: one of ``BACKENDS`` or "factory:<faiss string>"."""
    return backends.check_backend(value, name="knn")


# The graph's parameters as D2 takes them (``hf_d2.selection.d2_params`` lists them in the "d2" group),
# declared here, where ``knn_graph`` reads their defaults.
KNN_PARAMS = param_group(
    "knn",
    Param("k", int, 5, "neighbours per example in the kNN graph", low=1),
    Param("symmetric", bool, True, "union-symmetrised kNN graph (the reference); --no-symmetric keeps each "
          "node's own k out-neighbours", flag="--symmetric"),
    Param("knn", str, "exact", "kNN search backend: " + " | ".join(backends.BACKENDS) + f" | {backends.FACTORY_PREFIX}"
          "<faiss index_factory string>; auto chooses by n, d and free memory and the record says which",
          validate=_check_knn),
)

# Rows per faiss search call: bounds the (batch, candidates) result buffers and drives the progress bar.
SEARCH_BATCH_ROWS = 16_384


def knn_graph(
    embeddings: Any,
    k: int = KNN_PARAMS["k"].default,
    backend: str = KNN_PARAMS["knn"].default,
    symmetric: bool = KNN_PARAMS["symmetric"].default,
    *,
    device: str = "auto",
    batch_size: int = SEARCH_BATCH_ROWS,
    seed: int = 0,
    show_progress: bool | None = None,
    hnsw_m: int = 32,
    hnsw_ef_search: int | None = None,
    ivf_nlist: int | None = None,
    ivf_nprobe: int = 16,
    pq_m: int | None = None,
    pq_nbits: int | None = None,
    candidates: int | None = None,
    check_recall: int | bool | None = None,
) -> KnnGraph:
    """kNN graph of ``embeddings`` (n, d) under Euclidean distance, the node itself excluded by id.

    backend: ``exact`` (faiss flat L2, what parity needs); ``hnsw`` (graph index, CPU); ``ivf``
        (inverted lists, k-means trained on a seeded sample); ``ivfpq`` (IVF with product-quantised
        codes: pq_m bytes a row, for data that does not fit in memory as float32);
        ``"factory:<string>"``, any faiss ``index_factory`` string (e.g. "factory:IVF4096,PQ32");
        or ``auto``, which picks exact, ivf or ivfpq (never hnsw) by n, d and free memory (``choose_backend``),
        logs the choice on the "hf_d2" logger and records it in ``graph.backend`` / ``graph.info``.
    Every backend's candidates (``candidates`` per row; default k + 2 for exact, 2k + 1 for
        hnsw / ivf, 16(k + 1) for ivfpq / factory) are re-ranked by the exact distance recomputed
        from the vectors (``hf_d2.graph.distances``): distances are exact and exact duplicates are at 0.0
        whatever the index, and the k kept are the nearest by (distance, id).
    device: ``auto`` uses the GPUs when faiss-gpu and CUDA are present (all of them, as replicas,
        when there are several; HNSW stays on the CPU), ``gpu`` requires one, ``cpu`` never uses one.
    check_recall: rows whose approximate neighbours are compared with exact search
        (``recall_at_k`` on the search's own lists; the result is ``graph.recall``); None = for
        approximate backends ``DEFAULT_RECALL_SAMPLE`` = 500 rows, fewer (>= 100) when
        rows · n · d would pass ``RECALL_MAX_WORK`` = 1e11, and 0 (not measured) for exact;
        True = 500; 0 or False = off.
    candidates: search results re-ranked per row (>= k + 1); HNSW's efSearch is
        ``hnsw_ef_search`` if given, else max(64, 2 · candidates), and never below candidates.
    batch_size: rows per faiss ``add`` and ``search`` call (the search streams over the rows in
        blocks of this many).
    Memory: the index (n·d floats for flat / HNSW / IVF, n·pq_m bytes for IVF-PQ) plus the CSR
        graph, O(n·k); never n × n. ``embeddings`` may be a float32 ``np.memmap`` (the stage
        cache, ``hf_d2.cache.load_array(mmap=True)``): it is checked, added to the index and
        searched block by block and re-ranked where it lies, never copied whole into memory.
    """
    started = time.perf_counter()
    embeddings = check_embeddings(embeddings)
    num_nodes, dim = embeddings.shape
    k = check_k(k, num_nodes)
    requested = backends.check_backend(backend)
    device = check_choice("device", device, backends.DEVICES)
    batch_size = check_positive_int("batch_size", batch_size)
    hnsw_m = check_positive_int("hnsw_m", hnsw_m, minimum=2)
    ivf_nprobe = check_positive_int("ivf_nprobe", ivf_nprobe)
    if ivf_nlist is not None:
        ivf_nlist = check_positive_int("ivf_nlist", ivf_nlist)
    if hnsw_ef_search is not None:
        hnsw_ef_search = check_positive_int("hnsw_ef_search", hnsw_ef_search)
    if pq_m is not None:
        pq_m = check_positive_int("pq_m", pq_m)
        if dim % pq_m:
            raise InvalidParameterError(
                "pq_m", f"{{name}} (IVF-PQ sub-quantizers) must divide the embedding dimension d = {dim}; "
                f"got {pq_m}. Pass a divisor of {dim}, e.g. {{set}}{backends.default_pq_m(dim)}.")
    if pq_nbits is not None:
        pq_nbits = check_positive_int("pq_nbits", pq_nbits)
        if pq_nbits > 16:
            raise InvalidParameterError("pq_nbits", f"{{name}} must be in [1, 16] (bits per sub-quantizer code); got {pq_nbits}.")
    if candidates is not None:
        candidates = check_positive_int("candidates", candidates)
    recall_rows = recall_sample_size(check_recall, requested, num_nodes, dim)

    faiss = backends.import_faiss()
    gpus = backends.gpu_count(faiss)
    if device == "gpu" and gpus == 0:
        raise InvalidParameterError(
            "device", "{name} 'gpu' needs faiss with GPU support and a CUDA device: pip install 'hf-d2[gpu]' "
            "on a CUDA machine, or pass {set}'cpu'.")
    use_gpu = device != "cpu" and gpus > 0
    chosen, reason = requested, None
    if requested == "auto":
        chosen, reason = backends.choose_backend(num_nodes, dim, gpu=use_gpu,
                                                 available_bytes=backends.available_memory_bytes(),
                                                 hnsw_m=hnsw_m, pq_m=pq_m)
        logger.info("knn='auto' chose %r: %s", chosen, reason)
        if recall_rows is None:
            recall_rows = recall_sample_size(check_recall, chosen, num_nodes, dim)
    kind = "factory" if chosen.startswith(backends.FACTORY_PREFIX) else chosen
    width = min(num_nodes, candidates if candidates is not None else backends.default_candidates(kind, k))
    if width < k + 1 and width < num_nodes:
        raise InvalidParameterError(
            "candidates", f"{{name}} (search results re-ranked per row) must be >= k + 1 = {k + 1}; got {candidates}.")
    if kind == "hnsw" and use_gpu:
        logger.info("faiss HNSW runs on the CPU; backend='ivf', 'ivfpq' or 'exact' can search on the GPU.")
        use_gpu = False

    index = backends.build_index(faiss, embeddings, kind, chosen, seed, hnsw_m, hnsw_ef_search, ivf_nlist,
                                 ivf_nprobe, pq_m, pq_nbits, width)
    built = time.perf_counter()
    device_used = "cpu"
    training = None if index.is_trained else backends.training_sample(faiss, index, embeddings, seed)
    if use_gpu:
        index, device_used = backends.index_to_gpus(faiss, index, kind, training, gpus, required=device == "gpu")
    if not index.is_trained:
        index.train(np.ascontiguousarray(training))
    del training
    for start in range(0, num_nodes, batch_size):  # in blocks: a memory-mapped input is never read whole
        index.add(np.ascontiguousarray(embeddings[start:start + batch_size]))
    trained = time.perf_counter()
    neighbor_ids, distances = _search_and_rerank(index, embeddings, k, width, batch_size, show_progress)
    searched = time.perf_counter()
    del index

    recall = None
    if recall_rows:
        recall = recall_of_lists(embeddings, neighbor_ids, k, recall_rows, seed)
    checked = time.perf_counter()
    indptr, indices, edge_distances = csr_from_lists(neighbor_ids, distances, bool(symmetric), validate=False)
    info = {
        "requested": requested, "backend": chosen, "reason": reason, "device": device_used, "k": k,
        "candidates": width, "recall_at_k": recall, "recall_sample": min(recall_rows or 0, num_nodes) or None,
        "index_s": round(trained - started, 4), "search_s": round(searched - trained, 4),
        "recall_s": round(checked - searched, 4), "build_index_s": round(built - started, 4),
        "total_s": round(time.perf_counter() - started, 4),
    }
    return KnnGraph(indptr=indptr, indices=indices, distances=edge_distances, num_nodes=num_nodes,
                    symmetric=bool(symmetric), backend=chosen, recall=recall, info=info)


def graph_summary(graph: KnnGraph) -> dict[str, Any]:
    """What a selection record stores about one graph (JSON-ready): ``backend`` (the search that
    ran: "exact", "hnsw", "ivf", "ivfpq", "factory:<string>"; None for given lists), ``requested``
    (what the caller asked for, e.g. "auto"), ``reason`` (why ``auto`` chose it; None otherwise),
    ``recall`` (recall@k on ``recall_sample`` rows, in [0, 1]; None when not measured), ``k``,
    ``num_nodes``, ``num_edges`` (stored directed entries), ``device`` and ``seconds`` (the whole
    build)."""
    info = graph.info or {}
    return {"backend": graph.backend, "requested": info.get("requested"), "reason": info.get("reason"),
            "recall": graph.recall, "recall_sample": info.get("recall_sample"), "k": info.get("k"),
            "num_nodes": int(graph.num_nodes), "num_edges": int(graph.num_edges), "device": info.get("device"),
            "seconds": info.get("total_s")}


def _search_and_rerank(index, embeddings: np.ndarray, k: int, width: int, batch_size: int,
                       show_progress: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) int32 ids (-1 = none) and float32 exact distances: each batch of rows is searched
    for ``width`` candidates and re-ranked exactly (``rerank_rows``)."""
    num_nodes = embeddings.shape[0]
    neighbor_ids = np.empty((num_nodes, k), dtype=np.int32)
    distances = np.empty((num_nodes, k), dtype=np.float32)
    if show_progress is None:
        show_progress = num_nodes > 4 * batch_size and not progress_disabled()
    with tqdm(total=num_nodes, desc="kNN search", unit="rows", disable=not show_progress) as bar:
        for start in range(0, num_nodes, batch_size):
            stop = min(start + batch_size, num_nodes)
            _, candidate_ids = index.search(np.ascontiguousarray(embeddings[start:stop]), width)
            rerank_rows(embeddings, np.arange(start, stop, dtype=np.int64), np.ascontiguousarray(candidate_ids),
                        k, neighbor_ids[start:stop], distances[start:stop])
            bar.update(stop - start)
    return neighbor_ids, distances
