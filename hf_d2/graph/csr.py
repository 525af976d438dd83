"""``KnnGraph``, the CSR neighbour lists every selection reads, and their construction from
(n, k) neighbour arrays (``KnnGraph.from_neighbors``, ``csr_from_lists``): a counting-sort union
symmetrisation compiled with numba, O(n·k) time and memory, no global sort."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from hf_d2.kernels import CHUNK_ROWS, insert_sorted_pair

_INT32_MAX = np.iinfo(np.int32).max


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

    def subgraph(self, rows: Any) -> "KnnGraph":
        """The graph induced by ``rows``: (m,) int64 distinct node ids, ascending. Node r of the
        result is ``rows[r]``; an edge is kept when both its ends are in ``rows`` (ids renumbered,
        each row's order and distances unchanged), so a symmetric graph stays symmetric. A node
        whose neighbours all lie outside ``rows`` has none. O(m + edges of those rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == self.num_nodes:
            return self
        local = np.full(self.num_nodes, -1, dtype=np.int64)
        local[rows] = np.arange(rows.size)
        starts, stops = self.indptr[rows], self.indptr[rows + 1]
        counts = stops - starts
        owners = np.repeat(np.arange(rows.size), counts)
        edges = np.repeat(starts, counts) + (np.arange(owners.size) - np.repeat(np.cumsum(counts) - counts, counts))
        targets = local[self.indices[edges]]
        kept = targets >= 0
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(owners[kept], minlength=rows.size), out=indptr[1:])
        return KnnGraph(indptr=indptr, indices=targets[kept].astype(np.int32), distances=self.distances[edges[kept]],
                        num_nodes=int(rows.size), symmetric=self.symmetric, backend=self.backend, recall=self.recall)

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
        peak about 18 bytes per listed pair beyond the inputs, 8 per stored entry after.
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
        indptr, indices, edge_distances = csr_from_lists(neighbor_ids, distances, bool(symmetric), validate=True)
        return cls(indptr=indptr, indices=indices, distances=edge_distances, num_nodes=num_nodes,
                   symmetric=bool(symmetric))


# --------------------------------------------------------------------------------------------
# CSR construction (union symmetrisation without a global sort and without random scatter):
#   1. one sequential pass validates the lists and counts the edges s → t per block of targets
#      (2^shift consecutive ids, ~16k: a block's rows fit in the L2 cache);
#   2. one sequential pass appends each edge to its block's segment (block order, source order),
#      held in the tail of the block's own region of the output arrays plus a 2-byte row offset;
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
def _partition_by_block(neighbor_ids, distances, shift, block_ptr, local_targets, raw_ids,
                        raw_distances):  # pragma: no cover - compiled
    """Appends every edge s → t (t >= 0, t != s) to block b = t >> shift's segment, in source
    order (``block_ptr`` is prefix-summed here): t - (b << shift) at ``local_targets[slot]`` and
    (s, distance) at raw[stop_row(b)·k + slot], the tail of the block's own output region, which
    the merge copies out before it writes the block's rows (no separate n·k-sized buffers)."""
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
            local_targets[slot] = target - (block << shift)
            position = min(num_nodes, (block + 1) << shift) * width + slot
            raw_ids[position] = source
            raw_distances[position] = distances[source, column]
            cursor[block] = slot + 1


@numba.njit(inline="always")
def _sorted_own_list(neighbor_ids, distances, node, own_ids, own_distances):  # pragma: no cover - compiled
    """Row ``node``'s own neighbours (ids >= 0, not itself) sorted by (id, distance); their count."""
    own = 0
    for column in range(neighbor_ids.shape[1]):
        target = neighbor_ids[node, column]
        if target < 0 or target == node:
            continue
        own = insert_sorted_pair(own_ids, own_distances, own, target, distances[node, column])
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
def _merge_blocks(neighbor_ids, distances, shift, block_ptr, local_targets, in_start, raw_ids, raw_distances,
                  row_counts):  # pragma: no cover - compiled
    """Step 3 (symmetric): per block of rows, sort its incoming edges by target (copied out of
    the tail of the block's region) and write each row's merged list at i·k + in_start[i]; the
    row's length goes to ``row_counts[i + 1]``."""
    num_nodes, width = neighbor_ids.shape
    num_blocks = block_ptr.shape[0] - 1
    for block in numba.prange(num_blocks):
        first_row = block << shift
        stop_row = min(num_nodes, first_row + (1 << shift))
        rows = stop_row - first_row
        first_edge, stop_edge = block_ptr[block], block_ptr[block + 1]
        stored = stop_row * width  # raw position of the block's incoming edge 0 is stored + first_edge
        local_ptr = np.zeros(rows + 1, dtype=np.int64)
        for edge in range(first_edge, stop_edge):
            local_ptr[local_targets[edge] + 1] += 1
        for row in range(rows):
            local_ptr[row + 1] += local_ptr[row]
        cursor = local_ptr[:-1].copy()
        sources = np.empty(stop_edge - first_edge, dtype=np.int32)
        sorted_distances = np.empty(stop_edge - first_edge, dtype=np.float32)
        for edge in range(first_edge, stop_edge):
            row = local_targets[edge]
            slot = cursor[row]
            sources[slot] = raw_ids[stored + edge]
            sorted_distances[slot] = raw_distances[stored + edge]
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
    for chunk in numba.prange((num_nodes + CHUNK_ROWS - 1) // CHUNK_ROWS):
        own_ids = np.empty(width, dtype=np.int64)
        own_distances = np.empty(width, dtype=np.float32)
        for node in range(chunk * CHUNK_ROWS, min(num_nodes, (chunk + 1) * CHUNK_ROWS)):
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
    """log2 of the rows per block: 16,384, or fewer so that small graphs still get 2+ blocks
    (at most 16: a row within a block is stored as uint16)."""
    return int(max(4, min(14, math.ceil(math.log2(max(2, num_nodes))) - 1)))


def csr_from_lists(neighbor_ids: np.ndarray, distances: np.ndarray, symmetric: bool,
                    validate: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int64, indices int32, distances float32) of the lists; rows sorted by id.

    ``validate``: raise on an id >= n or a negative / non-finite distance; without it (lists from
    the search itself) such pairs are dropped, on a copy of the ids (the later passes only skip
    ids < 0 and the row's own).

    The work arrays are allocated here with numpy (which asks Linux for transparent huge pages on
    large blocks: fewer TLB misses) rather than inside numba. Peak extra memory: 8 bytes per slot
    of the upper-bound rows (n·k + incoming edges; the incoming edges wait in those slots before
    the merge) + 2 bytes per incoming edge (its row within the block)."""
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
    if bad_id >= 0 or bad_distance >= 0:  # unvalidated lists (the search's own): drop those pairs
        refused = (neighbor_ids >= num_nodes) | ~((distances >= 0) & (distances < np.inf))
        neighbor_ids = np.where(refused & (neighbor_ids >= 0), -1, neighbor_ids).astype(neighbor_ids.dtype)
        block_ptr[:] = 0
        _validate_and_count(neighbor_ids, distances, shift, block_ptr, symmetric)
    num_incoming = int(block_ptr.sum()) if symmetric else 0
    capacity = num_nodes * width + num_incoming
    indices = np.empty(capacity, dtype=np.int32)
    edge_distances = np.empty(capacity, dtype=np.float32)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    in_start = np.zeros(num_nodes if symmetric else 0, dtype=np.int64)
    with numba.parallel_chunksize(1):  # dynamic scheduling: a busy core does not hold the other up
        if symmetric:
            local_targets = np.empty(num_incoming, dtype=np.uint16)  # row within the block (< 2^shift)
            _partition_by_block(neighbor_ids, distances, shift, block_ptr, local_targets, indices, edge_distances)
            _merge_blocks(neighbor_ids, distances, shift, block_ptr, local_targets, in_start, indices,
                          edge_distances, indptr)
            del local_targets
        else:
            _directed_rows(neighbor_ids, distances, indices, edge_distances, indptr)
    _compact_rows(indices, edge_distances, in_start, symmetric, width, indptr)
    num_edges = int(indptr[-1])
    indices.resize(num_edges, refcheck=False)  # shrinks in place (realloc), no copy
    edge_distances.resize(num_edges, refcheck=False)
    return indptr, indices, edge_distances
