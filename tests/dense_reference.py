"""A dense O(n²) D2 written directly from D2-SPEC §2-4, used as the oracle in tests and as the
baseline in benchmarks/select_scale.py. Deliberately naive: full distance matrix, argmax per pick."""

from __future__ import annotations

import math

import numpy as np

EPSILON = 1e-7


def dense_distances(embeddings: np.ndarray) -> np.ndarray:
    """(n, n) float32 Euclidean distances (exact for grid-valued float32 inputs)."""
    x = np.asarray(embeddings, dtype=np.float64)
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.sqrt(squared.astype(np.float32))


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
    """Returns (pick order, forward scores). Sums over neighbours in ascending id order."""
    scores = np.asarray(scores, dtype=np.float64)
    num_nodes = scores.shape[0]
    if distances is None:
        distances = dense_distances(embeddings)
    if adjacency is None:
        adjacency = dense_knn_adjacency(distances, k, symmetric)
    forward_scores = np.empty(num_nodes)
    for node in range(num_nodes):
        message = 0.0
        for neighbour in np.flatnonzero(adjacency[node]):
            message += math.exp(-gamma_forward * float(distances[node, neighbour])) * max(scores[neighbour], EPSILON)
        forward_scores[node] = scores[node] + message if forward == "sum" else scores[node] * message
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
