"""Pre-filter, partitions, per-group budgets and the global merge (docs/method.md §5).

Pure functions over numpy arrays; inputs are assumed validated by ``hf_d2.selection.select``.
A *group* is an int64 array of row positions (ascending) into the array being partitioned;
groups are returned in a fixed order (label values ascending, strata from easiest to hardest,
or k-means clusters by centroid id) and that order breaks ties everywhere below.
"""

from __future__ import annotations

import math

import numpy as np

from hf_d2.graph.backends import faiss_seed, import_faiss

# partition="cluster" without num_partitions: one k-means partition per this many rows (rounded up),
# so each partition's kNN graph and D2 state stay a few hundred MB whatever n is (250,000 rows at
# d = 384: 0.4 GB of float32 vectors, an HNSW index of ~0.45 GB, a CSR graph of ~20 MB at k = 5).
DEFAULT_PARTITION_ROWS = 250_000
DEFAULT_NUM_STRATA = 50  # partition="strata" without num_strata: CCS's 50 equal-width strata (docs/method.md §5)
KMEANS_ITERATIONS = 20
KMEANS_POINTS_PER_CENTROID = 256  # k-means trains on a seeded sample of this many rows per centroid
ASSIGN_BLOCK_ROWS = 65_536  # rows assigned to their nearest centroid per faiss search call


def reads_embeddings(method_needs_embeddings: bool, partition: str | None, duplicates: str | None = None) -> bool:
    """Whether a selection reads the (n, d) embeddings: its method does, ``partition="cluster"``
    cuts k-means partitions of them, or ``duplicates`` compares them (the one rule the pipeline's
    plan and run both follow)."""
    return bool(method_needs_embeddings) or partition == "cluster" or duplicates not in (None, "none")


def prefilter_count(num_rows: int, fraction: float, budget: int) -> int:
    """How many of the hardest rows the pre-filter drops.

    floor(fraction · num_rows), shrunk to ``num_rows − budget`` when dropping that many would
    leave fewer rows than the budget: the budget is always met, the pre-filter gives way.
    """
    return max(0, min(int(np.floor(fraction * num_rows)), num_rows - budget))


def prefilter_keep(prefilter_scores: np.ndarray, num_dropped: int) -> np.ndarray:
    """Positions that survive dropping the ``num_dropped`` hardest rows, ascending.

    prefilter_scores: (n,) float, higher = harder (e.g. negated AUM: low AUM = likely
    mislabelled). Hardest first by a stable descending sort, so among tied scores the lowest
    index counts as harder and is dropped first. Returns (n − num_dropped,) int64.
    """
    hardest_first = np.argsort(-prefilter_scores, kind="stable")
    return np.sort(hardest_first[num_dropped:]).astype(np.int64)


def label_groups(labels: np.ndarray) -> list[np.ndarray]:
    """One group per distinct label value, in ascending label order (``np.unique`` order)."""
    _, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == value).astype(np.int64) for value in range(inverse.max() + 1)]


def stratum_ids(scores: np.ndarray, num_strata: int) -> np.ndarray:
    """Equal-width stratum of each score: (n,) int64 in [0, num_strata).

    The range [min, max] is cut into ``num_strata`` intervals of equal width; each is closed on
    the left and open on the right, except the last, which is closed on both sides (so the
    maximum lands in it). All scores equal → one stratum (id 0). Stratum 0 holds the lowest
    scores.
    """
    low, high = float(scores.min()), float(scores.max())
    if high <= low:
        return np.zeros(scores.shape[0], dtype=np.int64)
    width = (high - low) / num_strata
    ids = np.floor((scores - low) / width).astype(np.int64)
    return np.clip(ids, 0, num_strata - 1)


def strata_groups(scores: np.ndarray, num_strata: int) -> list[np.ndarray]:
    """Non-empty equal-width strata of ``scores`` (see ``stratum_ids``), lowest scores first."""
    ids = stratum_ids(scores, num_strata)
    groups = [np.flatnonzero(ids == stratum).astype(np.int64) for stratum in range(num_strata)]
    return [group for group in groups if group.size]


def allocate_proportional(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Budgets proportional to group sizes, by largest-remainder rounding.

    sizes: (g,) int, budget <= sizes.sum(). Each group first gets ⌊budget · size / total⌋
    (exact integer arithmetic); the leftover units go one each to the groups with the largest
    remainders, ties to the lower group index. No group ever exceeds its size (a group that
    gets a leftover unit has a quota strictly above its floor, and quota <= size). Returns
    (g,) int64 summing exactly to ``budget``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if total == 0 or budget == 0:
        return np.zeros(sizes.shape[0], dtype=np.int64)
    products = sizes * int(budget)
    allocation = products // total
    remainders = products % total
    leftover = int(budget - allocation.sum())
    by_remainder = np.lexsort((np.arange(sizes.shape[0]), -remainders))
    allocation[by_remainder[:leftover]] += 1
    return allocation


def allocate_smallest_first(sizes: np.ndarray, budget: int) -> np.ndarray:
    """CCS budgets: visit groups from smallest to largest (ties: lower group index first).

    Each non-empty group gets min(size, ⌊remaining / unvisited non-empty groups⌋), and
    ``remaining`` drops by that amount. Small groups are therefore taken whole and their
    unused share flows to the larger ones. If units are still left after the pass (only
    possible through rounding), they are handed out one at a time, visiting the groups again
    in the same smallest-first order and skipping full ones, until the budget is met. With
    budget <= sizes.sum() the result sums exactly to ``budget`` and never exceeds a size.
    Example: sizes [1, 5, 10], budget 9 → [1, 4, 4]. Returns (g,) int64.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    allocation = np.zeros(sizes.shape[0], dtype=np.int64)
    visit_order = [int(g) for g in np.argsort(sizes, kind="stable") if sizes[g] > 0]
    remaining = int(budget)
    for position, group in enumerate(visit_order):
        unvisited = len(visit_order) - position
        allocation[group] = min(int(sizes[group]), remaining // unvisited)
        remaining -= int(allocation[group])
    while remaining > 0:
        handed_out = False
        for group in visit_order:
            if remaining == 0:
                break
            if allocation[group] < sizes[group]:
                allocation[group] += 1
                remaining -= 1
                handed_out = True
        if not handed_out:
            raise ValueError(
                f"Cannot allocate a budget of {budget} over groups of total size {int(sizes.sum())}."
            )
    return allocation


def merge_by_relative_rank(group_orders: list[np.ndarray]) -> np.ndarray:
    """One global priority order from per-group pick orders.

    group_orders: per group, its picks (global ids, int64) in that group's priority order;
    a group's budget is its length. The pick at 0-based rank r of a group with budget b gets
    the key (r + 1) / b; picks are sorted by key ascending, ties by group order, then by id.
    So every prefix of the result is spread across the groups in proportion to their budgets
    (each group's first pick comes before any group's last). Returns (Σ b,) int64.
    """
    non_empty = [(position, order) for position, order in enumerate(group_orders) if order.size]
    if not non_empty:
        return np.empty(0, dtype=np.int64)
    ids = np.concatenate([order for _, order in non_empty]).astype(np.int64)
    keys = np.concatenate([(np.arange(order.size) + 1.0) / order.size for _, order in non_empty])
    group_index = np.concatenate([np.full(order.size, position) for position, order in non_empty])
    return ids[np.lexsort((ids, group_index, keys))]


def default_num_partitions(num_rows: int) -> int:
    """k-means partitions of ``partition="cluster"`` when ``num_partitions`` is not given:
    ceil(n / ``DEFAULT_PARTITION_ROWS``) = one per 250,000 rows, at least 1 (1M rows → 4)."""
    return max(1, math.ceil(num_rows / DEFAULT_PARTITION_ROWS))


def cluster_groups(embeddings: np.ndarray, rows: np.ndarray, num_partitions: int, seed: int) -> list[np.ndarray]:
    """k-means partitions of ``embeddings[rows]``, as groups of positions into ``rows``.

    embeddings: (n, d) float32 (an ``np.memmap`` is read in blocks, never copied whole); rows: (m,)
    int64 ascending row ids to partition. faiss k-means (``KMEANS_ITERATIONS`` Lloyd iterations,
    seeded by ``seed``) is trained on a seeded sample of min(m, ``KMEANS_POINTS_PER_CENTROID`` ·
    K) rows, K = min(num_partitions, m); every row then goes to its nearest centroid (squared
    Euclidean distance, ties to the lowest centroid id), ``ASSIGN_BLOCK_ROWS`` rows at a time.
    Returns the non-empty clusters, by centroid id, each (size,) int64 ascending. Deterministic
    given (embeddings, rows, num_partitions, seed), whatever the thread or process count.
    """
    clusters = min(int(num_partitions), int(rows.size))
    if clusters <= 1:
        return [np.arange(rows.size, dtype=np.int64)]
    faiss = import_faiss()
    dim = embeddings.shape[1]
    sample_size = min(rows.size, KMEANS_POINTS_PER_CENTROID * clusters)
    sample = rows if sample_size == rows.size else np.sort(
        np.random.default_rng(seed).choice(rows, size=sample_size, replace=False))
    kmeans = faiss.Kmeans(dim, clusters, niter=KMEANS_ITERATIONS, seed=faiss_seed(seed), verbose=False,
                          max_points_per_centroid=KMEANS_POINTS_PER_CENTROID, min_points_per_centroid=1)
    kmeans.train(np.ascontiguousarray(embeddings[sample], dtype=np.float32))
    index = faiss.IndexFlatL2(dim)
    index.add(np.ascontiguousarray(kmeans.centroids, dtype=np.float32))
    assignment = np.empty(rows.size, dtype=np.int64)
    for start in range(0, rows.size, ASSIGN_BLOCK_ROWS):
        block = np.ascontiguousarray(embeddings[rows[start:start + ASSIGN_BLOCK_ROWS]], dtype=np.float32)
        assignment[start:start + block.shape[0]] = index.search(block, 1)[1][:, 0]
    by_cluster = np.argsort(assignment, kind="stable")
    bounds = np.searchsorted(assignment[by_cluster], np.arange(clusters + 1))
    groups = [by_cluster[bounds[c]:bounds[c + 1]].astype(np.int64) for c in range(clusters)]
    return [group for group in groups if group.size]
