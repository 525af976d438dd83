"""d2_select picks exactly what the dense reference algorithm (docs/method.md §2-4) picks, in order."""

import math

import numpy as np
import pytest
from dense_reference import dense_d2, dense_distances, dense_knn_adjacency

import hf_d2


def grid_case(seed: int, num_rows: int = 120, dim: int = 4, duplicates: int = 10):
    """Embeddings on a 1/8 grid (every distance exact in float32), a few exact duplicate rows,
    and scores with ties and negatives."""
    rng = np.random.default_rng(seed)
    embeddings = rng.integers(-12, 13, size=(num_rows, dim)).astype(np.float32) / 8
    sources = rng.choice(num_rows, size=duplicates, replace=False)
    targets = rng.choice(num_rows, size=duplicates, replace=False)
    embeddings[targets] = embeddings[sources]
    scores = rng.choice([-1.0, -0.25, 0.0, 0.5, 1.0, 2.0], size=num_rows)
    return embeddings, scores


PARAMETER_CASES = [
    dict(),  # parity defaults: sum / weighted, symmetric, γf 1, γr 0.1
    dict(k=3, gamma_forward=0.5, gamma_reverse=1.0),
    dict(forward="product", reverse="absolute"),
    dict(symmetric=False, k=7),
    dict(clip_negative=True, gamma_reverse=0.3),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("params", PARAMETER_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_picks_equal_dense_reference(seed, params):
    embeddings, scores = grid_case(seed)
    budget = 60
    expected, expected_forward = dense_d2(embeddings, scores, budget, **params)
    ranking = hf_d2.d2_rank(embeddings, scores, budget, **params)
    np.testing.assert_allclose(ranking.forward_scores, expected_forward, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ranking.order, expected)
    np.testing.assert_array_equal(hf_d2.d2_select(embeddings, scores, budget, **params), expected)


def test_continuous_embeddings_match_reference():
    rng = np.random.default_rng(42)
    embeddings = rng.normal(size=(300, 16)).astype(np.float32)
    embeddings[10] = embeddings[20]  # an exact duplicate pair
    scores = rng.normal(size=300)
    expected, _ = dense_d2(embeddings, scores, 150)
    np.testing.assert_array_equal(hf_d2.d2_select(embeddings, scores, 150), expected)


def test_prefix_property_every_budget_is_a_prefix_of_the_full_ranking():
    embeddings, scores = grid_case(7, num_rows=200)
    full = hf_d2.d2_select(embeddings, scores, 200)
    assert sorted(full.tolist()) == list(range(200))
    for budget in (1, 17, 100, 199):
        np.testing.assert_array_equal(hf_d2.d2_select(embeddings, scores, budget), full[:budget])


def test_same_inputs_give_the_same_picks():
    embeddings, scores = grid_case(3)
    first = hf_d2.d2_select(embeddings, scores, 50, knn="hnsw")
    second = hf_d2.d2_select(embeddings.copy(), scores.copy(), 50, knn="hnsw")
    np.testing.assert_array_equal(first, second)


def test_given_graph_skips_embeddings_and_matches():
    embeddings, scores = grid_case(11)
    graph = hf_d2.knn_graph(embeddings, k=5)
    np.testing.assert_array_equal(
        hf_d2.d2_select(None, scores, 40, graph=graph), hf_d2.d2_select(embeddings, scores, 40)
    )


def test_graph_from_reference_neighbours_gives_reference_picks():
    """KnnGraph.from_neighbors + the engine equals the dense algorithm on the same kNN lists."""
    embeddings, scores = grid_case(5)
    distances = dense_distances(embeddings)
    directed = dense_knn_adjacency(distances, 5, symmetric=False)
    neighbor_ids = np.array([np.flatnonzero(row) for row in directed])
    neighbor_distances = np.take_along_axis(distances, neighbor_ids, axis=1)
    graph = hf_d2.KnnGraph.from_neighbors(neighbor_ids, neighbor_distances, symmetric=True)
    expected, _ = dense_d2(embeddings, scores, 80, distances=distances, adjacency=directed | directed.T)
    np.testing.assert_array_equal(hf_d2.d2_select(None, scores, 80, graph=graph), expected)


def test_negative_pick_raises_neighbours_unless_clipped():
    # Two nodes, one edge at distance 0: picking the negative-score node first raises the other.
    graph = hf_d2.KnnGraph.from_neighbors(np.array([[1], [0]]), np.zeros((2, 1)), symmetric=True)
    forward = np.array([-1.0, -2.0])
    unclipped = hf_d2.reverse_pass(graph, forward, 2, gamma=0.0, mode="weighted")
    assert unclipped.order.tolist() == [0, 1]
    assert unclipped.final_scores[1] == pytest.approx(-1.0)  # −2 − (−1)
    clipped = hf_d2.reverse_pass(graph, forward, 2, gamma=0.0, mode="weighted", clip_negative=True)
    assert clipped.final_scores[1] == pytest.approx(-2.0)


def test_ties_go_to_the_lowest_index():
    # No edges: picks follow the scores, equal scores in index order.
    graph = hf_d2.KnnGraph.from_neighbors(-np.ones((5, 1), dtype=np.int64), np.zeros((5, 1)))
    order = hf_d2.reverse_pass(graph, np.array([1.0, 3.0, 1.0, 3.0, 2.0]), 5).order
    assert order.tolist() == [1, 3, 4, 0, 2]


# --- Ties between exact duplicates: scores equal in exact arithmetic go to the lowest id too
# (docs/method.md §4, "ties: the lowest id").

def _naive_forward_in_id_order(graph, scores, gamma=1.0):
    """What a plain left-to-right float sum over each row (ascending neighbour id) gives."""
    out = np.empty(graph.num_nodes)
    for node in range(graph.num_nodes):
        message = 0.0
        for neighbour, distance in zip(*graph.neighbors(node)):
            message += math.exp(-gamma * float(distance)) * max(scores[neighbour], 1e-7)
        out[node] = scores[node] + message
    return out


def test_exact_duplicates_tie_to_the_lowest_id_whatever_the_summation_order():
    # Rows 0 and 3 are the same point; 1 and 2 lie between them in id order, so row 0 sums its
    # terms as (T1, T2, T3) and row 3 as (T0, T1, T2): a permutation of the same terms.
    embeddings = np.array([[0.0], [0.58], [-1.17], [0.0]], dtype=np.float32)
    scores = np.array([0.3, 0.23, 0.12, 0.3])
    graph = hf_d2.knn_graph(embeddings, k=3)
    assert graph.neighbors(0)[0].tolist() == [1, 2, 3] and graph.neighbors(3)[0].tolist() == [0, 1, 2]
    assert graph.distances[graph.indptr[0] + 2] == 0.0
    naive = _naive_forward_in_id_order(graph, scores)
    assert naive[3] > naive[0], "the case must be one where order-dependent summation favours the higher id"
    forward = hf_d2.forward_pass(graph, scores)
    assert forward[0] == forward[3]  # bit-identical
    assert forward[0] == math.fsum([0.3, math.exp(-float(np.float32(0.58))) * 0.23,
                                    math.exp(-float(np.float32(1.17))) * 0.12, 0.3])
    assert hf_d2.d2_select(embeddings, scores, 1, k=3).tolist() == [0]
    expected, _ = dense_d2(embeddings, scores, 4, k=3)
    np.testing.assert_array_equal(hf_d2.d2_select(embeddings, scores, 4, k=3), expected)


def test_duplicates_suppressed_by_the_same_pick_stay_tied():
    # Node 0 is the hardest and adjacent to the duplicates 2 and 5 at the same distance; both
    # lose the same amount when 0 is picked, and the next pick among them is the lower id.
    neighbor_ids = np.array([[2, 5, 1], [0, 3, 4], [0, 5, 3], [1, 2, 5], [1, 0, 3], [0, 2, 3]])
    distances = np.array([[0.5, 0.5, 2.0], [2.0, 1.5, 1.0], [0.5, 0.0, 0.7], [1.5, 0.7, 0.7],
                          [1.0, 3.0, 2.5], [0.5, 0.0, 0.7]])
    graph = hf_d2.KnnGraph.from_neighbors(neighbor_ids, distances, symmetric=True)
    scores = np.array([5.0, 0.1, 0.9, 0.2, 0.1, 0.9])
    forward = hf_d2.forward_pass(graph, scores)
    assert forward[2] == forward[5]
    after_first = hf_d2.reverse_pass(graph, forward, 1)
    assert after_first.order.tolist() == [0]
    assert after_first.final_scores[2] == after_first.final_scores[5] < forward[2]  # same update, still tied
    order = hf_d2.reverse_pass(graph, forward, 6).order.tolist()
    assert order.index(2) < order.index(5)
    before = hf_d2.reverse_pass(graph, forward, order.index(2))  # the state just before 2 is picked
    unpicked = sorted(set(range(6)) - set(before.order.tolist()))
    assert before.final_scores[2] == before.final_scores[5] == max(before.final_scores[unpicked])


@pytest.mark.parametrize("seed", range(4))
def test_many_duplicate_groups_match_the_dense_reference(seed):
    """Continuous data with groups of 2-4 exact copies scattered over the ids: every copy's
    forward score is bit-identical to its group's when their neighbour sets agree, and the pick
    order equals the dense reference's (which sums each forward score exactly, with math.fsum)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(240, 6)).astype(np.float32)
    for _ in range(25):
        group = rng.choice(240, size=rng.integers(2, 5), replace=False)
        embeddings[group] = embeddings[group[0]]
    scores = rng.choice([0.25, 0.5, 1.0, 1.5], size=240)
    expected, expected_forward = dense_d2(embeddings, scores, 240)
    ranking = hf_d2.d2_rank(embeddings, scores, 240)
    np.testing.assert_array_equal(ranking.forward_scores, expected_forward)
    np.testing.assert_array_equal(ranking.order, expected)
