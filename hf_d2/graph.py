"""The kNN graph over example embeddings, stored as CSR (O(n·k) memory, never n × n).

``knn_graph`` finds candidate neighbours with faiss (exact flat L2, HNSW, IVF, IVF-PQ or any
faiss ``index_factory`` string; on one or several GPUs when faiss-gpu and CUDA are present), then
re-ranks every row's candidates by the exact Euclidean distance recomputed from the two vectors
(float64 arithmetic, stored float32), so exact duplicates are at distance 0.0 and ties at the k-th
neighbour go to the lowest id whatever faiss's float32 arithmetic reported. ``recall_at_k``
measures an approximate search against exact search on a seeded sample of rows.
``KnnGraph.from_neighbors`` turns (n, k) neighbour arrays into the CSR that the message-passing
stage reads, with a counting-sort union symmetrisation compiled with numba (no global sort).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hf_d2._validation import InvalidParameterError, check_choice, check_embeddings, check_k, check_positive_int

logger = logging.getLogger(__name__)  # "hf_d2.graph": its records reach handlers on "hf_d2"

BACKENDS = ("exact", "hnsw", "ivf", "ivfpq", "auto")
# knn / backend "factory:<faiss index_factory string>", e.g. "factory:IVF4096,PQ32": for experts.
FACTORY_PREFIX = "factory:"
APPROXIMATE_BACKENDS = ("hnsw", "ivf", "ivfpq", "factory")
DEVICES = ("auto", "cpu", "gpu")

# The rule of backend="auto" (``choose_backend``):
# exact while a flat search is cheap: n² · d <= this (≈ 10 s of faiss flat search on 2 CPU cores;
# 100,000 rows at d = 32, 32,000 rows at d = 384) ...
AUTO_EXACT_MAX_WORK = 4e11
# ... or this on a GPU (≈ 1M rows at d = 384 on one recent data-centre GPU).
AUTO_EXACT_MAX_WORK_GPU = 4e14
# HNSW (CPU only) up to this many rows; above it IVF builds much faster on few cores.
AUTO_HNSW_MAX_ROWS = 2_000_000
# An index "fits" when it needs at most this fraction of the available memory.
AUTO_MEMORY_FRACTION = 0.5
# Kept for backwards compatibility: the largest n that auto searches exactly at d <= 40.
AUTO_EXACT_MAX_ROWS = 100_000
# Rows per faiss search call: bounds the (batch, candidates) result buffers and drives the progress bar.
SEARCH_BATCH_ROWS = 16_384
# Rows whose approximate neighbours are checked against exact search when check_recall is not
# given: DEFAULT_RECALL_SAMPLE, fewer (not below RECALL_MIN_SAMPLE) when sample · n · d would
# exceed RECALL_MAX_WORK (≈ 1-2 s of exact search on 2 CPU cores). 500 rows · k = 5 neighbours
# estimate a recall near 0.95 to about ± 0.01 (two standard errors).
DEFAULT_RECALL_SAMPLE = 500
RECALL_MIN_SAMPLE = 100
RECALL_MAX_WORK = 1e11

_INT32_MAX = np.iinfo(np.int32).max
_CHUNK_ROWS = 4_096  # rows per parallel work item of the numba kernels (dynamic scheduling)


@intrinsic
def _prefetch(typingctx, array, index):  # pragma: no cover - compiled
    """``llvm.prefetch`` (read, high locality) of ``array[index]``: a hint that never faults."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None
    signature = types.void(array, index)

    def codegen(context, builder, sig, args):
        array_type, index_type = sig.args
        view = context.make_array(array_type)(context, builder, args[0])
        position = context.cast(builder, args[1], index_type, types.intp)
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [position], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]), "llvm.prefetch.p0i8")
        builder.call(function, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return signature, codegen


@dataclass(frozen=True)
class KnnGraph:
    """Neighbour lists of ``num_nodes`` nodes in CSR form.

    Row ``i``'s neighbours are ``indices[indptr[i]:indptr[i+1]]`` (int32 node ids, ascending)
    at Euclidean ``distances`` (float32, same slice). A node is never its own neighbour; an exact
    duplicate is a neighbour at distance 0. ``symmetric`` graphs hold j in N(i) iff i in N(j).

    backend: the search that produced the lists ("exact", "hnsw", "ivf", "ivfpq" or
        "factory:<string>"); None for a graph built from given lists (``from_neighbors``).
    recall: recall@k of that search against exact search on a sample of rows, in [0, 1]
        (``recall_at_k``); None when not measured (exact search, or check_recall=0).
    info: what a selection record may store (JSON-ready): requested and chosen backend, the
        reason of an ``auto`` choice, device, k, candidates re-ranked per row, recall and its
        sample size, and seconds: index (build + train + add), search (+ exact re-ranking),
        recall (the check), total (including the CSR build).
    """

    indptr: np.ndarray  # (n + 1,) int64
    indices: np.ndarray  # (nnz,) int32
    distances: np.ndarray  # (nnz,) float32
    num_nodes: int
    symmetric: bool = True
    backend: str | None = None
    recall: float | None = None
    info: dict = field(default_factory=dict, compare=False, repr=False)

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

        neighbor_ids: (n, k) int (int32 and int64 are used without a copy), row i lists i's
            nearest neighbours; ids < 0 (faiss's "no neighbour") are dropped, and so is i itself
            (by id: a duplicate of i stays).
        distances: (n, k) float, Euclidean distance to each listed neighbour (>= 0); used as given.
        symmetric: True = union-symmetrised (j in N(i) if j in kNN(i) or i in kNN(j); where both
            lists hold the pair, the smaller distance is kept); False = directed (row i holds only
            i's own neighbours).
        Time O(n·k) (a counting sort by target, then a merge per row, no global sort); memory at
        peak about 24 bytes per listed pair beyond the inputs, 8 per stored entry after.
        """
        neighbor_ids = np.asarray(neighbor_ids)
        distances = np.asarray(distances)
        if neighbor_ids.ndim != 2 or neighbor_ids.shape != distances.shape:
            raise ValueError(
                "neighbor_ids and distances must both be (n, k) arrays of the same shape; got "
                f"{neighbor_ids.shape} and {distances.shape}."
            )
        if not np.issubdtype(neighbor_ids.dtype, np.integer):
            raise ValueError(f"neighbor_ids must hold integer node ids; got dtype {neighbor_ids.dtype}.")
        num_nodes = neighbor_ids.shape[0]
        if num_nodes >= _INT32_MAX:
            raise ValueError(f"At most {_INT32_MAX - 1} nodes are supported; got {num_nodes}.")
        if neighbor_ids.dtype not in (np.int32, np.int64):
            neighbor_ids = neighbor_ids.astype(np.int64)
        neighbor_ids = np.ascontiguousarray(neighbor_ids)
        distances = np.ascontiguousarray(distances, dtype=np.float32)
        indptr, indices, edge_distances = _csr_from_lists(neighbor_ids, distances, bool(symmetric), validate=True)
        return cls(indptr=indptr, indices=indices, distances=edge_distances, num_nodes=num_nodes,
                   symmetric=bool(symmetric))


# --------------------------------------------------------------------------------------------
# CSR construction (union symmetrisation without a global sort and without random scatter):
#   1. one sequential pass validates the lists and counts the edges s → t per block of targets
#      (2^shift consecutive ids, ~16k: a block's rows fit in the L2 cache);
#   2. one sequential pass appends each edge to its block's segment (block order, source order);
#   3. per block, in parallel: a counting sort of the block's edges by target (stable, so each
#      row's incoming sources stay ascending), then each row's own list, sorted by (id, distance),
#      merged with its incoming list, repeats collapsed to the smallest distance, written at the
#      row's upper-bound slot i·k + (incoming edges before i);
#   4. the rows are moved left to their final CSR offsets (sequential, in place).


@numba.njit(cache=True)
def _validate_and_count(neighbor_ids, distances, shift, block_counts, symmetric):  # pragma: no cover - compiled
    """Checks every listed pair and, when ``symmetric``, counts each valid edge s → t (t != s)
    at ``block_counts[(t >> shift) + 1]``. Returns (first row with an id >= n, first row with a
    listed neighbour at a negative or non-finite distance), each -1 when there is none."""
    num_nodes, width = neighbor_ids.shape
    bad_id = -1
    bad_distance = -1
    for source in range(num_nodes):
        for column in range(width):
            target = neighbor_ids[source, column]
            if target < 0:
                continue
            if target >= num_nodes:
                if bad_id < 0:
                    bad_id = source
                continue
            distance = distances[source, column]
            if not (distance >= 0.0 and distance < np.inf):
                if bad_distance < 0:
                    bad_distance = source
                continue
            if symmetric and target != source:
                block_counts[(target >> shift) + 1] += 1
    return bad_id, bad_distance


@numba.njit(cache=True)
def _partition_by_block(neighbor_ids, distances, shift, block_ptr, edge_targets, edge_sources,
                        edge_distances):  # pragma: no cover - compiled
    """Appends every edge s → t (t >= 0, t != s) to block t >> shift's segment
    ``block_ptr[b]:block_ptr[b + 1]``, in source order (``block_ptr`` is prefix-summed here)."""
    num_nodes, width = neighbor_ids.shape
    num_blocks = block_ptr.shape[0] - 1
    for block in range(num_blocks):
        block_ptr[block + 1] += block_ptr[block]
    cursor = block_ptr[:-1].copy()
    for source in range(num_nodes):
        for column in range(width):
            target = neighbor_ids[source, column]
            if target < 0 or target == source:
                continue
            block = target >> shift
            slot = cursor[block]
            edge_targets[slot] = target
            edge_sources[slot] = source
            edge_distances[slot] = distances[source, column]
            cursor[block] = slot + 1


@numba.njit(inline="always")
def _sorted_own_list(neighbor_ids, distances, node, own_ids, own_distances):  # pragma: no cover - compiled
    """Row ``node``'s own neighbours (ids >= 0, not itself) sorted by (id, distance); their count."""
    own = 0
    for column in range(neighbor_ids.shape[1]):
        target = neighbor_ids[node, column]
        if target < 0 or target == node:
            continue
        distance = distances[node, column]
        slot = own
        while slot > 0 and (own_ids[slot - 1] > target or (
                own_ids[slot - 1] == target and own_distances[slot - 1] > distance)):
            own_ids[slot] = own_ids[slot - 1]
            own_distances[slot] = own_distances[slot - 1]
            slot -= 1
        own_ids[slot] = target
        own_distances[slot] = distance
        own += 1
    return own


@numba.njit(inline="always")
def _merge_row(own_ids, own_distances, own, in_sources, in_distances, incoming, incoming_end,
               raw_ids, raw_distances, start):  # pragma: no cover - compiled
    """Merges a sorted own list with a sorted incoming list into raw[start:], an id listed
    twice keeping its smallest distance; returns the row's length."""
    mine = 0
    count = 0
    last = -1
    while mine < own or incoming < incoming_end:
        if incoming >= incoming_end or (mine < own and (
                own_ids[mine] < in_sources[incoming] or (
                own_ids[mine] == in_sources[incoming] and own_distances[mine] <= in_distances[incoming]))):
            neighbour = own_ids[mine]
            distance = own_distances[mine]
            mine += 1
        else:
            neighbour = in_sources[incoming]
            distance = in_distances[incoming]
            incoming += 1
        if neighbour == last:
            if distance < raw_distances[start + count - 1]:
                raw_distances[start + count - 1] = distance
            continue
        raw_ids[start + count] = neighbour
        raw_distances[start + count] = distance
        count += 1
        last = neighbour
    return count


@numba.njit(parallel=True, cache=True)
def _merge_blocks(neighbor_ids, distances, shift, block_ptr, edge_targets, edge_sources, edge_distances,
                  in_start, raw_ids, raw_distances, row_counts):  # pragma: no cover - compiled
    """Step 3 (symmetric): per block of rows, sort its incoming edges by target and write each
    row's merged list at i·k + in_start[i]; the row's length goes to ``row_counts[i + 1]``."""
    num_nodes, width = neighbor_ids.shape
    num_blocks = block_ptr.shape[0] - 1
    for block in numba.prange(num_blocks):
        first_row = block << shift
        stop_row = min(num_nodes, first_row + (1 << shift))
        rows = stop_row - first_row
        first_edge, stop_edge = block_ptr[block], block_ptr[block + 1]
        local_ptr = np.zeros(rows + 1, dtype=np.int64)
        for edge in range(first_edge, stop_edge):
            local_ptr[edge_targets[edge] - first_row + 1] += 1
        for row in range(rows):
            local_ptr[row + 1] += local_ptr[row]
        cursor = local_ptr[:-1].copy()
        sources = np.empty(stop_edge - first_edge, dtype=np.int32)
        sorted_distances = np.empty(stop_edge - first_edge, dtype=np.float32)
        for edge in range(first_edge, stop_edge):
            row = edge_targets[edge] - first_row
            slot = cursor[row]
            sources[slot] = edge_sources[edge]
            sorted_distances[slot] = edge_distances[edge]
            cursor[row] = slot + 1
        own_ids = np.empty(width, dtype=np.int64)
        own_distances = np.empty(width, dtype=np.float32)
        for row in range(rows):
            node = first_row + row
            in_start[node] = first_edge + local_ptr[row]
            own = _sorted_own_list(neighbor_ids, distances, node, own_ids, own_distances)
            row_counts[node + 1] = _merge_row(own_ids, own_distances, own, sources, sorted_distances,
                                              local_ptr[row], local_ptr[row + 1], raw_ids, raw_distances,
                                              node * width + first_edge + local_ptr[row])


@numba.njit(parallel=True, cache=True)
def _directed_rows(neighbor_ids, distances, raw_ids, raw_distances, row_counts):  # pragma: no cover - compiled
    """Directed graph: each row's own list sorted and de-duplicated, written at i·k."""
    num_nodes, width = neighbor_ids.shape
    empty_ids = np.empty(0, dtype=np.int32)
    empty_distances = np.empty(0, dtype=np.float32)
    for chunk in numba.prange((num_nodes + _CHUNK_ROWS - 1) // _CHUNK_ROWS):
        own_ids = np.empty(width, dtype=np.int64)
        own_distances = np.empty(width, dtype=np.float32)
        for node in range(chunk * _CHUNK_ROWS, min(num_nodes, (chunk + 1) * _CHUNK_ROWS)):
            own = _sorted_own_list(neighbor_ids, distances, node, own_ids, own_distances)
            row_counts[node + 1] = _merge_row(own_ids, own_distances, own, empty_ids, empty_distances, 0, 0,
                                              raw_ids, raw_distances, node * width)


@numba.njit(cache=True)
def _compact_rows(raw_ids, raw_distances, in_start, symmetric, width, indptr):  # pragma: no cover
    """Prefix-sums ``indptr`` (row lengths at [i + 1]) and moves each row left to it, in order."""
    num_nodes = indptr.shape[0] - 1
    for node in range(num_nodes):
        indptr[node + 1] += indptr[node]
    for node in range(num_nodes):
        source = node * width + (in_start[node] if symmetric else 0)
        target = indptr[node]
        if source != target:
            for offset in range(indptr[node + 1] - target):
                raw_ids[target + offset] = raw_ids[source + offset]
                raw_distances[target + offset] = raw_distances[source + offset]


def _block_shift(num_nodes: int) -> int:
    """log2 of the rows per block: 16,384, or fewer so that small graphs still get 2+ blocks."""
    return int(max(4, min(14, math.ceil(math.log2(max(2, num_nodes))) - 1)))


def _csr_from_lists(neighbor_ids: np.ndarray, distances: np.ndarray, symmetric: bool,
                    validate: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int64, indices int32, distances float32) of the lists; rows sorted by id.

    The work arrays are allocated here with numpy (which asks Linux for transparent huge pages on
    large blocks: fewer TLB misses) rather than inside numba. Peak extra memory: 12 bytes per
    incoming edge (the block segments) + 8 bytes per slot of the upper-bound rows (n·k + edges)."""
    num_nodes, width = neighbor_ids.shape
    shift = _block_shift(num_nodes)
    num_blocks = (num_nodes + (1 << shift) - 1) >> shift
    block_ptr = np.zeros(num_blocks + 1, dtype=np.int64)
    bad_id, bad_distance = _validate_and_count(neighbor_ids, distances, shift, block_ptr, symmetric)
    if validate and bad_id >= 0:
        raise ValueError(
            f"neighbor_ids must be < n = {num_nodes} (ids of rows of the same array); row {bad_id} "
            f"lists {int(neighbor_ids[bad_id].max())}.")
    if validate and bad_distance >= 0:
        raise ValueError(
            f"distances must be finite and >= 0 for every listed neighbour; row {bad_distance} is not.")
    num_incoming = int(block_ptr.sum()) if symmetric else 0
    capacity = num_nodes * width + num_incoming
    indices = np.empty(capacity, dtype=np.int32)
    edge_distances = np.empty(capacity, dtype=np.float32)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    in_start = np.zeros(num_nodes if symmetric else 0, dtype=np.int64)
    with numba.parallel_chunksize(1):  # dynamic scheduling: a busy core does not hold the other up
        if symmetric:
            targets = np.empty(num_incoming, dtype=np.int32)
            sources = np.empty(num_incoming, dtype=np.int32)
            incoming_distances = np.empty(num_incoming, dtype=np.float32)
            _partition_by_block(neighbor_ids, distances, shift, block_ptr, targets, sources, incoming_distances)
            _merge_blocks(neighbor_ids, distances, shift, block_ptr, targets, sources, incoming_distances,
                          in_start, indices, edge_distances, indptr)
            del targets, sources, incoming_distances
        else:
            _directed_rows(neighbor_ids, distances, indices, edge_distances, indptr)
    _compact_rows(indices, edge_distances, in_start, symmetric, width, indptr)
    num_edges = int(indptr[-1])
    indices.resize(num_edges, refcheck=False)  # shrinks in place (realloc), no copy
    edge_distances.resize(num_edges, refcheck=False)
    return indptr, indices, edge_distances


# --------------------------------------------------------------------------------------------
# Exact distances and re-ranking.


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
def _rerank_rows(embeddings, query_rows, candidate_ids, k, out_ids, out_distances):  # pragma: no cover
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
                distance = _exact_distance(embeddings, row, candidate)
                slot = count
                while slot > 0 and (dists[slot - 1] > distance or (
                        dists[slot - 1] == distance and ids[slot - 1] > candidate)):
                    ids[slot] = ids[slot - 1]
                    dists[slot] = dists[slot - 1]
                    slot -= 1
                ids[slot] = candidate
                dists[slot] = distance
                count += 1
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


# --------------------------------------------------------------------------------------------
# Backend choice.


def check_backend(value: Any, name: str = "backend") -> str:
    """Returns ``value`` if it names a kNN backend: one of ``BACKENDS`` or "factory:<string>"
    (a faiss ``index_factory`` string, checked against the data's dimension when searching).
    Raises InvalidParameterError naming ``name`` otherwise."""
    if isinstance(value, str) and value.startswith(FACTORY_PREFIX):
        if not value[len(FACTORY_PREFIX):].strip():
            raise InvalidParameterError(
                name, f"{{name}} {value!r} has an empty faiss index_factory string; pass e.g. "
                f"{{set}}'{FACTORY_PREFIX}IVF1024,PQ16' or one of {', '.join(map(repr, BACKENDS))}.")
        return value
    if value not in BACKENDS:
        options = ", ".join(repr(option) for option in BACKENDS)
        raise InvalidParameterError(
            name, f"{{name}} must be one of {options} or '{FACTORY_PREFIX}<faiss index_factory string>' "
            f"(e.g. '{FACTORY_PREFIX}IVF4096,PQ32'). Got {value!r} instead.")
    return value


def available_memory_bytes() -> int | None:
    """Memory the OS can give without swapping (psutil's ``available``; /proc/meminfo's
    MemAvailable without psutil); None when neither can be read."""
    try:
        import psutil  # noqa: PLC0415 - optional (a dev dependency)

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_pq_m(dim: int) -> int:
    """Sub-quantizers (bytes a vector) of the default IVF-PQ code: the largest divisor of d that
    is <= max(d / 8, min(d / 2, 16)): 48 at d = 384, 96 at d = 768, 16 at d = 32 or 64. The exact
    re-ranking of 16(k + 1) candidates makes up for the coarse codes; 1 for d = 1."""
    target = max(dim // 8, min(dim // 2, 16), 1)
    for m in range(target, 0, -1):
        if dim % m == 0:
            return m
    return 1


def index_bytes(backend: str, num_rows: int, dim: int, *, hnsw_m: int = 32, pq_m: int | None = None) -> int:
    """Approximate memory of a faiss index over n × d float32 rows, in bytes: flat 4·n·d, HNSW
    n·(4d + 8·M + 16), IVF n·(4d + 8), IVF-PQ n·(pq_m + 8) (codes and ids; lists and centroids
    are small)."""
    if backend == "exact":
        return 4 * num_rows * dim
    if backend == "hnsw":
        return num_rows * (4 * dim + 8 * hnsw_m + 16)
    if backend == "ivf":
        return num_rows * (4 * dim + 8)
    return num_rows * ((pq_m or default_pq_m(dim)) + 8)


def choose_backend(num_rows: int, dim: int, *, gpu: bool = False, available_bytes: int | None = None,
                   hnsw_m: int = 32, pq_m: int | None = None) -> tuple[str, str]:
    """The backend ``backend="auto"`` searches with, and why (one line).

    The rule, in order (n rows, d dimensions, "fits" = the index needs at most
    ``AUTO_MEMORY_FRACTION`` = half of ``available_bytes``; None = unknown, everything fits):
      1. ``exact`` if a flat search is cheap, n²·d <= ``AUTO_EXACT_MAX_WORK`` = 4e11 (about 10 s
         on 2 CPU cores; 4e14 on a GPU), and the flat index (4·n·d bytes) fits;
      2. ``hnsw`` on the CPU if n <= ``AUTO_HNSW_MAX_ROWS`` = 2,000,000 and its index fits;
      3. ``ivf`` if its index (about 4·n·d bytes) fits (on a GPU this follows rule 1);
      4. ``ivfpq`` otherwise (pq_m + 8 bytes a row).
    """
    work = float(num_rows) * float(num_rows) * float(dim)
    budget = None if available_bytes is None else AUTO_MEMORY_FRACTION * available_bytes
    memory = "" if budget is None else f" of {available_bytes / 2**30:.1f} GiB available"

    def fits(backend: str) -> bool:
        return budget is None or index_bytes(backend, num_rows, dim, hnsw_m=hnsw_m, pq_m=pq_m) <= budget

    def size(backend: str) -> str:
        return f"{index_bytes(backend, num_rows, dim, hnsw_m=hnsw_m, pq_m=pq_m) / 2**30:.2f} GiB"

    limit = AUTO_EXACT_MAX_WORK_GPU if gpu else AUTO_EXACT_MAX_WORK
    where = "GPU" if gpu else "CPU"
    head = f"n={num_rows:,}, d={dim}"
    if work <= limit and fits("exact"):
        return "exact", f"{head}: exact, a flat search is cheap (n²·d = {work:.2g} <= {limit:.2g} on the {where})"
    reason = (f"n²·d = {work:.2g} > {limit:.2g} on the {where}" if work > limit
              else f"the flat index ({size('exact')}) does not fit in half{memory}")
    if not gpu and num_rows <= AUTO_HNSW_MAX_ROWS and fits("hnsw"):
        return "hnsw", f"{head}: hnsw, exact search too costly ({reason}); the HNSW index ({size('hnsw')}) fits{memory}"
    if fits("ivf"):
        why = "HNSW runs on the CPU only" if gpu else (
            f"n > {AUTO_HNSW_MAX_ROWS:,}" if num_rows > AUTO_HNSW_MAX_ROWS else "the HNSW index does not fit")
        return "ivf", f"{head}: ivf, exact search too costly ({reason}) and {why}; the IVF index ({size('ivf')}) fits{memory}"
    return "ivfpq", (f"{head}: ivfpq, exact search too costly ({reason}) and the IVF index ({size('ivf')}) does not "
                     f"fit in half{memory}; the IVF-PQ codes take {size('ivfpq')}")


# --------------------------------------------------------------------------------------------
# Search.


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
        or ``auto``, which picks one of the first four by n, d and free memory (``choose_backend``),
        logs the choice on the "hf_d2" logger and records it in ``graph.backend`` / ``graph.info``.
    Every backend's candidates (``candidates`` per row; default k + 2 for exact, 2k + 1 for
        hnsw / ivf, 16(k + 1) for ivfpq / factory) are re-ranked by the exact distance recomputed
        from the vectors (``_exact_distance``): distances are exact and exact duplicates are at 0.0
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
    Memory: the index (n·d floats for flat / HNSW / IVF, n·pq_m bytes for IVF-PQ) plus the CSR
        graph, O(n·k); never n × n.
    """
    started = time.perf_counter()
    embeddings = check_embeddings(embeddings)
    num_nodes, dim = embeddings.shape
    k = check_k(k, num_nodes)
    requested = check_backend(backend)
    device = check_choice("device", device, DEVICES)
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
                f"got {pq_m}. Pass a divisor of {dim}, e.g. {{set}}{default_pq_m(dim)}.")
    if pq_nbits is not None:
        pq_nbits = check_positive_int("pq_nbits", pq_nbits)
        if pq_nbits > 16:
            raise InvalidParameterError("pq_nbits", f"{{name}} must be in [1, 16] (bits per sub-quantizer code); got {pq_nbits}.")
    if candidates is not None:
        candidates = check_positive_int("candidates", candidates)
    recall_rows = _recall_sample_size(check_recall, requested, num_nodes, dim)

    faiss = _import_faiss()
    gpus = _gpu_count(faiss)
    if device == "gpu" and gpus == 0:
        raise InvalidParameterError(
            "device", "{name} 'gpu' needs faiss with GPU support and a CUDA device: pip install 'hf-d2[gpu]' "
            "on a CUDA machine, or pass {set}'cpu'.")
    use_gpu = device != "cpu" and gpus > 0
    chosen, reason = requested, None
    if requested == "auto":
        chosen, reason = choose_backend(num_nodes, dim, gpu=use_gpu, available_bytes=available_memory_bytes(),
                                        hnsw_m=hnsw_m, pq_m=pq_m)
        logger.info("knn='auto' chose %r: %s", chosen, reason)
        if recall_rows is None:
            recall_rows = _recall_sample_size(check_recall, chosen, num_nodes, dim)
    kind = "factory" if chosen.startswith(FACTORY_PREFIX) else chosen
    width = min(num_nodes, candidates if candidates is not None else _default_candidates(kind, k))
    if width < k + 1 and width < num_nodes:
        raise InvalidParameterError(
            "candidates", f"{{name}} (search results re-ranked per row) must be >= k + 1 = {k + 1}; got {candidates}.")
    if kind == "hnsw" and use_gpu:
        logger.info("faiss HNSW runs on the CPU; backend='ivf', 'ivfpq' or 'exact' can search on the GPU.")
        use_gpu = False

    index = _build_index(faiss, embeddings, kind, chosen, seed, hnsw_m, hnsw_ef_search, ivf_nlist, ivf_nprobe,
                         pq_m, pq_nbits, width)
    built = time.perf_counter()
    device_used = "cpu"
    training = None if index.is_trained else _training_sample(faiss, index, embeddings, seed)
    if use_gpu:
        index, device_used = _index_to_gpus(faiss, index, kind, training, gpus, required=device == "gpu")
    if not index.is_trained:
        index.train(training)
    del training
    index.add(embeddings)
    trained = time.perf_counter()
    neighbor_ids, distances = _search_and_rerank(index, embeddings, k, width, batch_size, show_progress)
    searched = time.perf_counter()
    del index

    recall = None
    if recall_rows:
        recall = _recall_of_lists(embeddings, neighbor_ids, k, recall_rows, seed)
    checked = time.perf_counter()
    indptr, indices, edge_distances = _csr_from_lists(neighbor_ids, distances, bool(symmetric), validate=False)
    info = {
        "requested": requested, "backend": chosen, "reason": reason, "device": device_used, "k": k,
        "candidates": width, "recall_at_k": recall, "recall_sample": min(recall_rows or 0, num_nodes) or None,
        "index_s": round(trained - started, 4), "search_s": round(searched - trained, 4),
        "recall_s": round(checked - searched, 4), "build_index_s": round(built - started, 4),
        "total_s": round(time.perf_counter() - started, 4),
    }
    return KnnGraph(indptr=indptr, indices=indices, distances=edge_distances, num_nodes=num_nodes,
                    symmetric=bool(symmetric), backend=chosen, recall=recall, info=info)


def _recall_sample_size(check_recall: int | bool | None, backend: str, num_nodes: int, dim: int) -> int | None:
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


def _default_candidates(kind: str, k: int) -> int:
    if kind == "exact":
        return k + 2
    if kind in ("hnsw", "ivf"):
        return 2 * k + 1
    return 16 * (k + 1)  # coarse PQ distances: 30k × 384 clustered, recall 0.83 at 4(k+1), 0.999 at 16(k+1)


def _import_faiss():
    try:
        import faiss  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - faiss-cpu is a dependency
        raise ImportError(
            "hf-d2 needs faiss for the kNN graph: pip install faiss-cpu (or hf-d2[gpu] for faiss-gpu)."
        ) from error
    return faiss


def _gpu_count(faiss) -> int:
    """CUDA devices faiss can use: 0 for faiss-cpu, and 0 (not an error) when a faiss-gpu build
    finds no working driver."""
    if not hasattr(faiss, "StandardGpuResources") or not hasattr(faiss, "get_num_gpus"):
        return 0
    try:
        return max(0, int(faiss.get_num_gpus()))
    except Exception:  # noqa: BLE001 - a broken CUDA setup means "no GPU", never a crash
        return 0


def gpu_available() -> bool:
    """True when the installed faiss has GPU support and sees at least one CUDA device."""
    return _gpu_count(_import_faiss()) > 0


def _build_index(faiss, embeddings, kind, backend, seed, hnsw_m, hnsw_ef_search, ivf_nlist, ivf_nprobe,
                 pq_m, pq_nbits, width):
    """An empty CPU index (trained later, on the device it will search on)."""
    num_nodes, dim = embeddings.shape
    nlist = ivf_nlist or max(1, min(int(4 * np.sqrt(num_nodes)), num_nodes // 39))
    if kind == "exact":
        return faiss.IndexFlatL2(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m)
        index.hnsw.efConstruction = max(40, 2 * hnsw_m)
        index.hnsw.efSearch = max(width, hnsw_ef_search or max(64, 2 * width))
        return index
    if kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
    elif kind == "ivfpq":
        m = pq_m or default_pq_m(dim)
        # 8-bit codes need >= 39 · 256 training rows; fewer rows get fewer bits (>= 4).
        nbits = pq_nbits or int(min(8, max(4, math.floor(math.log2(max(16, num_nodes) / 39)))))
        index = faiss.IndexIVFPQ(faiss.IndexFlatL2(dim), dim, nlist, m, nbits)
        index.pq.cp.seed = int(seed)
    else:
        spec = backend[len(FACTORY_PREFIX):].strip()
        try:
            index = faiss.index_factory(dim, spec, faiss.METRIC_L2)
        except RuntimeError as error:
            detail = str(error).strip().splitlines()
            detail = next((line.strip() for line in detail if "Error" in line or "error" in line), detail[0] if detail else "")
            raise InvalidParameterError(
                "backend", f"{{name}} (knn= in d2_select / select) {backend!r} is not a faiss index_factory string "
                f"faiss accepts for d = {dim} ({detail[:160]}); pass e.g. '{FACTORY_PREFIX}IVF1024,Flat'.") from None
    ivf = _ivf_of(faiss, index)
    if ivf is not None:
        ivf.cp.seed = int(seed)
        ivf.nprobe = min(ivf_nprobe, ivf.nlist)
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None:  # a factory HNSW index
        hnsw.efSearch = max(width, hnsw_ef_search or max(hnsw.efSearch, 2 * width))
    return index


def _ivf_of(faiss, index):
    try:
        return faiss.extract_index_ivf(index)
    except (RuntimeError, AttributeError, TypeError):
        return None


def _training_sample(faiss, index, embeddings: np.ndarray, seed: int) -> np.ndarray:
    """A seeded sample of rows for training a CPU index: 64 rows per inverted list and at least
    10,000 (PQ codebooks want 39 · 256), 100,000 for non-IVF indexes; all rows when n is smaller."""
    num_nodes = embeddings.shape[0]
    ivf = _ivf_of(faiss, index)
    rows = min(num_nodes, max(64 * int(ivf.nlist), 10_000) if ivf is not None else 100_000)
    if rows == num_nodes:
        return embeddings
    rng = np.random.default_rng(seed)
    return embeddings[np.sort(rng.choice(num_nodes, size=rows, replace=False))]


def _index_to_gpus(faiss, index, kind, training, gpus, required):
    """Moves an empty CPU index to the GPU(s): one GPU via ``index_cpu_to_gpu``, several via
    ``index_cpu_to_all_gpus`` as replicas (each GPU holds the index and searches a share of the
    queries), trained once on GPU 0 first. Falls back to the CPU (logged) if faiss cannot move
    this index type, unless ``required``."""
    try:
        if gpus > 1:
            if not index.is_trained:  # train once on GPU 0, then replicate the trained index
                resources = faiss.StandardGpuResources()
                trainer = faiss.index_cpu_to_gpu(resources, 0, index, _cloner_options(faiss, kind, multiple=False))
                trainer.train(training)
                index = faiss.index_gpu_to_cpu(trainer)
                del trainer
            moved = faiss.index_cpu_to_all_gpus(index, co=_cloner_options(faiss, kind, multiple=True), ngpu=gpus)
            return moved, f"gpu x{gpus}"
        resources = faiss.StandardGpuResources()
        moved = faiss.index_cpu_to_gpu(resources, 0, index, _cloner_options(faiss, kind, multiple=False))
        # keep the resources alive as long as the index (faiss's own convention for Python refs)
        moved.referenced_objects = [*(getattr(moved, "referenced_objects", None) or []), resources]
        return moved, "gpu"
    except (RuntimeError, AttributeError) as error:
        if required:
            raise InvalidParameterError(
                "device", f"{{name}} 'gpu': faiss cannot run this index on the GPU ({str(error).strip()[:120]}); "
                "pass {set}'cpu' or another backend.") from None
        logger.info("faiss could not move the %s index to the GPU (%s); searching on the CPU.", kind,
                    str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__)
        return index, "cpu"


def _cloner_options(faiss, kind, multiple):
    options = faiss.GpuMultipleClonerOptions() if multiple else faiss.GpuClonerOptions()
    if multiple:
        options.shard = False  # replicas: the whole index on every GPU, queries split between them
    if kind in ("ivfpq", "factory"):
        options.useFloat16 = True  # half-precision lookup tables: needed by large PQ codes on GPU
    return options


def _search_and_rerank(index, embeddings: np.ndarray, k: int, width: int, batch_size: int,
                       show_progress: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) int32 ids (-1 = none) and float32 exact distances: each batch of rows is searched
    for ``width`` candidates and re-ranked exactly (``_rerank_rows``)."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    num_nodes = embeddings.shape[0]
    neighbor_ids = np.empty((num_nodes, k), dtype=np.int32)
    distances = np.empty((num_nodes, k), dtype=np.float32)
    if show_progress is None:
        show_progress = num_nodes > 4 * batch_size and not os.environ.get("HF_D2_DISABLE_PROGRESS")
    with tqdm(total=num_nodes, desc="kNN search", unit="rows", disable=not show_progress) as bar:
        for start in range(0, num_nodes, batch_size):
            stop = min(start + batch_size, num_nodes)
            _, candidate_ids = index.search(embeddings[start:stop], width)
            _rerank_rows(embeddings, np.arange(start, stop, dtype=np.int64), np.ascontiguousarray(candidate_ids),
                         k, neighbor_ids[start:stop], distances[start:stop])
            bar.update(stop - start)
    return neighbor_ids, distances


# --------------------------------------------------------------------------------------------
# Recall.


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
    return _recall_of_lists(embeddings, lists, k, sample_size, seed)


def _recall_of_lists(embeddings: np.ndarray, lists, k: int, sample_size: int, seed: int) -> float:
    faiss = _import_faiss()
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
    _rerank_rows(embeddings, rows, np.ascontiguousarray(exact_candidates, dtype=np.int64), k, exact_ids, exact_dist)
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
    _rerank_rows(embeddings, rows, listed, k, approx_ids, approx_dist)
    hits = (approx_ids >= 0) & (approx_dist <= kth[:, None])
    return float(hits.sum() / (rows.shape[0] * k))


def with_recall(graph: KnnGraph, embeddings: Any, *, sample_size: int = DEFAULT_RECALL_SAMPLE,
                seed: int = 0) -> KnnGraph:
    """A copy of ``graph`` (built by ``knn_graph``) whose ``recall`` is measured now."""
    recall = recall_at_k(embeddings, graph, graph.info.get("k"), sample_size=sample_size, seed=seed)
    return replace(graph, recall=recall, info={**graph.info, "recall_at_k": recall,
                                               "recall_sample": min(sample_size, graph.num_nodes)})
