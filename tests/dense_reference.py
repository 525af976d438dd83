"""A dense O(n²) D2 written directly from docs/method.md §2-4, used as the oracle in tests and as the
baseline in benchmarks/select_scale.py. Deliberately naive: full distance matrix, argmax per pick.

Two definitions make "ties go to the lowest index" (docs/method.md §4) well defined, also for
scores that are equal in exact arithmetic: a forward score is the exact sum of its float64 terms
rounded once (``math.fsum``, so the order of the neighbours does not matter), and a distance is
||x_i − x_j|| computed in float64 from the float32 vectors and stored as float32 (squares summed
in 8 interleaved partial sums, the order hf_d2.graph uses)."""

from __future__ import annotations

import math

import numpy as np

EPSILON = 1e-7


def dense_distances(embeddings: np.ndarray, rows=None) -> np.ndarray:
    """(n, n) float32 Euclidean distances ((len(rows), n) from the given rows): float64
    differences of the float32 inputs; dimension t squared into partial sum t mod 8 (in
    increasing t); ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)); square root in float64; rounded to
    float32. Exact duplicates are at 0.0."""
    x = np.asarray(embeddings, dtype=np.float32).astype(np.float64)
    num_nodes, dim = x.shape
    queries = x if rows is None else x[np.asarray(rows)]
    lanes = [np.zeros((queries.shape[0], num_nodes)) for _ in range(8)]
    for t in range(dim):
        diff = queries[:, None, t] - x[None, :, t]
        lanes[t % 8] += diff * diff
    squared = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    return np.sqrt(squared).astype(np.float32)


def dense_knn_adjacency(distances: np.ndarray, k: int, symmetric: bool) -> np.ndarray:
    """(n, n) bool: j in kNN(i) by (distance, id), i itself excluded by id; union if symmetric."""
    num_nodes = distances.shape[0]
    adjacency = np.zeros((num_nodes, num_nodes), dtype=bool)
    for node in range(num_nodes):
        others = np.array([j for j in range(num_nodes) if j != node])
        ranked = others[np.lexsort((others, distances[node, others]))]
        adjacency[node, ranked[:k]] = True
    if symmetric:
        adjacency |= adjacency.T
    return adjacency


def dense_d2(embeddings, scores, budget, *, k=5, gamma_forward=1.0, gamma_reverse=0.1,
             forward="sum", reverse="weighted", symmetric=True, clip_negative=False,
             distances=None, adjacency=None):
    """Returns (pick order, forward scores). Forward: math.fsum of the self score (sum mode) and
    the neighbour terms, i.e. the exact sum rounded once, whatever the neighbour order."""
    scores = np.asarray(scores, dtype=np.float64)
    num_nodes = scores.shape[0]
    if distances is None:
        distances = dense_distances(embeddings)
    if adjacency is None:
        adjacency = dense_knn_adjacency(distances, k, symmetric)
    forward_scores = np.empty(num_nodes)
    for node in range(num_nodes):
        terms = [math.exp(-gamma_forward * float(distances[node, neighbour])) * max(scores[neighbour], EPSILON)
                 for neighbour in np.flatnonzero(adjacency[node])]
        if forward == "sum":
            forward_scores[node] = math.fsum([float(scores[node])] + terms)
        else:
            forward_scores[node] = scores[node] * math.fsum(terms)
    current = forward_scores.copy()
    selected = np.zeros(num_nodes, dtype=bool)
    order = []
    for _ in range(budget):
        masked = np.where(selected, -np.inf, current)
        picked = int(np.argmax(masked))  # first maximum = lowest index on ties
        order.append(picked)
        selected[picked] = True
        message = current[picked]
        if clip_negative:
            message = max(message, 0.0)
        for neighbour in np.flatnonzero(adjacency[picked] & ~selected):
            if reverse == "weighted":
                current[neighbour] -= math.exp(-gamma_reverse * float(distances[picked, neighbour])) * message
            else:
                current[neighbour] -= message
    return np.array(order, dtype=np.int64), forward_scores
