"""The compiled kernels against plain-Python references on random inputs big enough to use every
level of their data structures: the CSR build (union / directed), the exact forward sum, and the
tournament-tree greedy (several levels, ties, negative picks, both modes, clipping)."""

import math

import numpy as np
import pytest

import hf_d2
from hf_d2.graph import KnnGraph


def reference_csr(neighbor_ids, distances, symmetric):
    rows = [dict() for _ in range(len(neighbor_ids))]
    for node, (ids, dists) in enumerate(zip(neighbor_ids, distances)):
        for neighbour, distance in zip(ids, dists):
            if neighbour < 0 or neighbour == node:
                continue
            for a, b in ((node, neighbour), (neighbour, node)) if symmetric else ((node, neighbour),):
                rows[a][int(b)] = min(rows[a].get(int(b), np.inf), float(np.float32(distance)))
    return rows


def random_lists(num_nodes, width, seed):
    """Ids in [-1, n) with some rows' own id, a repeated id per row (at another distance) and
    few distinct distances (so merged pairs often tie)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, num_nodes, size=(num_nodes, width))
    own = rng.random(ids.shape) < 0.05
    ids[own] = np.broadcast_to(np.arange(num_nodes)[:, None], ids.shape)[own]
    ids[:, -1] = ids[:, 0]
    distances = (rng.integers(0, 6, size=ids.shape) / 4).astype(np.float32)
    return ids, distances


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64, np.uint16])
@pytest.mark.parametrize("num_nodes", [1, 7, 40_000])
def test_csr_equals_a_dictionary_reference(symmetric, id_dtype, num_nodes):
    ids, distances = random_lists(num_nodes, 6, seed=num_nodes)
    if id_dtype == np.uint16:  # no -1 in unsigned ids: "none" becomes the row itself
        ids = np.where(ids < 0, np.arange(num_nodes)[:, None], ids)
    ids = ids.astype(id_dtype)
    graph = KnnGraph.from_neighbors(ids, distances, symmetric=symmetric)
    expected = reference_csr(ids.astype(np.int64), distances, symmetric)
    assert graph.indptr.dtype == np.int64 and graph.indices.dtype == np.int32 and graph.distances.dtype == np.float32
    assert graph.num_edges == sum(len(row) for row in expected)
    for node in range(0, num_nodes, max(1, num_nodes // 500)):
        ids_row, dists_row = graph.neighbors(node)
        assert ids_row.tolist() == sorted(expected[node])
        assert dists_row.tolist() == [expected[node][j] for j in sorted(expected[node])]


def test_csr_of_int32_ids_reads_them_in_place_and_rejects_bad_input():
    ids = np.array([[1, 2], [0, 2], [0, 5]], dtype=np.int32)
    with pytest.raises(ValueError, match="neighbor_ids must be < n = 3.*row 2 lists 5"):
        KnnGraph.from_neighbors(ids, np.ones((3, 2), dtype=np.float32))
    ids[2, 1] = 1
    with pytest.raises(ValueError, match="finite and >= 0 .* row 1"):
        KnnGraph.from_neighbors(ids, np.array([[1, 1], [1, np.nan], [1, 1]], dtype=np.float32))
    with pytest.raises(ValueError, match="finite and >= 0 .* row 0"):
        KnnGraph.from_neighbors(ids, np.array([[-1, 1], [1, 1], [1, 1]], dtype=np.float32))
    # a bad distance on a missing neighbour (id -1) is ignored
    ids[0, 1] = -1
    graph = KnnGraph.from_neighbors(ids, np.array([[1, np.inf], [1, 1], [1, 1]], dtype=np.float32))
    assert graph.neighbors(0)[0].tolist() == [1, 2]


@pytest.mark.parametrize("symmetric", [True, False])
def test_csr_without_validation_drops_the_pairs_validation_would_refuse(symmetric):
    """The search's own path skips the checks (``validate=False``): a pair at an infinite or NaN
    distance, or naming an id >= n, is then dropped in every pass (counted, stored and merged
    alike), giving the graph of the lists without those pairs, not an overrun of a block."""
    from hf_d2.graph.csr import csr_from_lists  # noqa: PLC0415

    rng = np.random.default_rng(5)
    num_nodes = 40_000  # several blocks of rows, the last one short
    ids = rng.integers(0, num_nodes, size=(num_nodes, 4))
    distances = rng.random(ids.shape).astype(np.float32)
    bad = rng.random(ids.shape) < 0.01
    distances[bad & (rng.random(ids.shape) < 0.5)] = np.inf
    distances[bad & (distances != np.inf)] = np.nan
    far = rng.random(ids.shape) < 0.005
    ids[far] = num_nodes + 7
    indptr, indices, kept_distances = csr_from_lists(ids, distances, symmetric, validate=False)
    expected = KnnGraph.from_neighbors(np.where(bad | far, -1, ids), np.where(bad | far, 1.0, distances),
                                       symmetric=symmetric)
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(kept_distances, expected.distances)


def reference_forward(graph, scores, gamma, mode):
    out = np.empty(graph.num_nodes)
    for node in range(graph.num_nodes):
        ids, dists = graph.neighbors(node)
        terms = [math.exp(-gamma * float(d)) * max(scores[j], 1e-7) for j, d in zip(ids, dists)]
        out[node] = math.fsum([scores[node]] + terms) if mode == "sum" else scores[node] * math.fsum(terms)
    return out


@pytest.mark.parametrize("mode", ["sum", "product"])
def test_forward_is_the_exact_sum_rounded_once(mode):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 3000, size=(3000, 9))
    distances = (rng.random((3000, 9)) * rng.choice([1e-4, 1.0, 20.0], (3000, 9))).astype(np.float32)
    graph = KnnGraph.from_neighbors(ids, distances)
    scores = rng.normal(size=3000) * rng.choice([1e-9, 1.0, 1e9], 3000)  # wide range: rounding matters
    forward = hf_d2.forward_pass(graph, scores, gamma=0.7, mode=mode)
    np.testing.assert_array_equal(forward, reference_forward(graph, scores, 0.7, mode))


MIDPOINT_CASES = [  # (own score, neighbour scores): exact sums at, just above or below a midpoint
    (1.0, [2.0**-53, 2.0**-106]),  # just above the midpoint between 1 and 1 + 2^-52: rounds up
    (-(2.0**-106), [1.0, 2.0**-53]),  # just below it: rounds down
    (1.0, [2.0**-53]),  # exactly on it: half to even (1.0)
    (1.0 + 2.0**-52, [2.0**-53]),  # exactly on it, odd neighbour below: half to even (up)
    (1.0, [2.0**-58] * 40),  # many tiny terms adding up past the midpoint
    (-1e16, [1e16, 1.0, 2.0**-60]),  # cancellation
    (3.0 * 2.0**-300, [2.0**-353, 2.0**-406]),  # the same shapes at tiny and huge scales
    (2.0**300, [2.0**247, 2.0**194]),
    (0.0, [0.1] * 10),
    (0.0, []),
]


@pytest.mark.parametrize("mode", ["sum", "product"])
def test_forward_rounds_sums_next_to_a_rounding_midpoint_like_fsum(mode):
    """gamma = 0 makes every weight exactly 1, so the terms are the neighbour scores as given:
    sums built to sit on, just above and just below a midpoint between two floats (where a
    compensated sum alone can round the wrong way) still equal math.fsum."""
    scores, ids = [], []
    for own, neighbours in MIDPOINT_CASES:
        centre = len(scores)
        scores += [own, *neighbours]
        ids.append(list(range(centre + 1, centre + 1 + len(neighbours))))
        ids += [[] for _ in neighbours]
    width = max(len(row) for row in ids)
    id_array = np.array([row + [-1] * (width - len(row)) for row in ids])
    graph = KnnGraph.from_neighbors(id_array, np.ones(id_array.shape, dtype=np.float32), symmetric=False)
    scores = np.array(scores)
    forward = hf_d2.forward_pass(graph, scores, gamma=0.0, mode=mode, epsilon=0.0)
    for node in range(graph.num_nodes):
        terms = [max(float(scores[j]), 0.0) for j in graph.neighbors(node)[0]]
        expected = math.fsum([scores[node]] + terms) if mode == "sum" else scores[node] * math.fsum(terms)
        assert forward[node] == expected, (node, forward[node], expected)


def test_forward_does_not_depend_on_the_order_of_the_rows_neighbours():
    """Relabelling the nodes permutes every row's terms; each node's score stays bit-identical."""
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 2000, size=(2000, 8))
    distances = rng.random((2000, 8)).astype(np.float32)
    scores = rng.random(2000)
    forward = hf_d2.forward_pass(KnnGraph.from_neighbors(ids, distances), scores)
    permutation = rng.permutation(2000)  # new id of old node i is permutation[i]
    inverse = np.argsort(permutation)
    relabelled = KnnGraph.from_neighbors(permutation[ids][inverse], distances[inverse])
    np.testing.assert_array_equal(hf_d2.forward_pass(relabelled, scores[inverse]), forward[inverse])


def reference_greedy(graph, forward, budget, gamma, mode, clip_negative):
    current = forward.astype(np.float64).copy()
    picked = np.zeros(graph.num_nodes, dtype=bool)
    order = []
    for _ in range(budget):
        node = int(np.argmax(np.where(picked, -np.inf, current)))  # first max = lowest id
        order.append(node)
        picked[node] = True
        message = max(current[node], 0.0) if clip_negative else current[node]
        ids, dists = graph.neighbors(node)
        for neighbour, distance in zip(ids, dists):
            if not picked[neighbour]:
                current[neighbour] -= (math.exp(-gamma * float(distance)) if mode == "weighted" else 1.0) * message
    return np.array(order), current


@pytest.mark.parametrize("mode, clip_negative", [("weighted", False), ("absolute", False), ("weighted", True)])
@pytest.mark.parametrize("num_nodes", [17, 5000])  # 5000 nodes: a tree of 4 levels (16 · 16 · 16 < 5000)
def test_greedy_equals_the_argmax_reference_with_ties_and_negative_picks(mode, clip_negative, num_nodes):
    rng = np.random.default_rng(num_nodes)
    ids = rng.integers(0, num_nodes, size=(num_nodes, 5))
    distances = (rng.integers(0, 4, size=(num_nodes, 5)) / 2).astype(np.float32)  # few distinct values
    graph = KnnGraph.from_neighbors(ids, distances)
    forward = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0], size=num_nodes)  # many exact ties
    budget = num_nodes if num_nodes < 1000 else 1500
    expected_order, expected_values = reference_greedy(graph, forward, budget, 0.3, mode, clip_negative)
    result = hf_d2.reverse_pass(graph, forward, budget, gamma=0.3, mode=mode, clip_negative=clip_negative)
    np.testing.assert_array_equal(result.order, expected_order)
    unpicked = np.setdiff1d(np.arange(num_nodes), expected_order)
    np.testing.assert_array_equal(result.final_scores[unpicked], expected_values[unpicked])


def test_greedy_records_each_picks_score_when_picked():
    graph = KnnGraph.from_neighbors(np.array([[1], [2], [0]]), np.zeros((3, 1)))
    result = hf_d2.reverse_pass(graph, np.array([3.0, 2.0, 1.0]), 3, gamma=0.0)
    # 0 (3.0) lowers 1 and 2 to -1 and -2; 1 (-1) raises 2 to -1
    assert result.order.tolist() == [0, 1, 2]
    assert result.final_scores.tolist() == [3.0, -1.0, -1.0]


def test_zero_budget_and_single_node():
    graph = KnnGraph.from_neighbors(-np.ones((1, 1), dtype=np.int64), np.zeros((1, 1)))
    assert hf_d2.reverse_pass(graph, np.array([0.5]), 0).order.tolist() == []
    assert hf_d2.reverse_pass(graph, np.array([0.5]), 1).order.tolist() == [0]
