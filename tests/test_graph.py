"""kNN graph: neighbours equal a brute-force search, self removed by id, duplicates kept, CSR
shapes and dtypes as documented, approximate backends close to exact."""

import numpy as np
import pytest
from dense_reference import dense_distances, dense_knn_adjacency

import hf_d2


def data_with_duplicates(num_rows=400, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(num_rows, dim)).astype(np.float32)
    embeddings[1] = embeddings[0]
    embeddings[2] = embeddings[0]  # a triplicate
    embeddings[10] = embeddings[11]
    return embeddings


def rows(graph):
    return [set(graph.neighbors(node)[0].tolist()) for node in range(graph.num_nodes)]


@pytest.mark.parametrize("symmetric", [True, False])
def test_exact_graph_equals_brute_force(symmetric):
    embeddings = data_with_duplicates()
    distances = dense_distances(embeddings)
    expected = dense_knn_adjacency(distances, 5, symmetric=symmetric)
    graph = hf_d2.knn_graph(embeddings, k=5, symmetric=symmetric)
    assert rows(graph) == [set(np.flatnonzero(row).tolist()) for row in expected]
    for node in range(graph.num_nodes):
        ids, dists = graph.neighbors(node)
        np.testing.assert_array_equal(dists, distances[node, ids])  # recomputed exactly, not faiss's


def test_csr_layout_and_dtypes():
    graph = hf_d2.knn_graph(data_with_duplicates(), k=4)
    assert graph.indptr.dtype == np.int64 and graph.indptr.shape == (401,)
    assert graph.indices.dtype == np.int32 and graph.distances.dtype == np.float32
    assert graph.num_nodes == 400 and graph.indptr[-1] == graph.num_edges
    for node in range(graph.num_nodes):
        ids = graph.neighbors(node)[0]
        assert node not in ids
        assert np.all(np.diff(ids) > 0), "rows are sorted by neighbour id without repeats"


def test_directed_rows_have_exactly_k_and_symmetric_rows_at_least_k():
    embeddings = data_with_duplicates()
    directed = hf_d2.knn_graph(embeddings, k=6, symmetric=False)
    symmetric = hf_d2.knn_graph(embeddings, k=6, symmetric=True)
    assert np.all(directed.degrees() == 6)
    assert np.all(symmetric.degrees() >= 6) and symmetric.degrees().max() > 6
    for node in range(symmetric.num_nodes):  # union: j in N(i) iff i in N(j)
        for neighbour in symmetric.neighbors(node)[0]:
            assert node in symmetric.neighbors(neighbour)[0]


def test_exact_duplicates_keep_their_zero_distance_edge():
    graph = hf_d2.knn_graph(data_with_duplicates(), k=3)
    ids, dists = graph.neighbors(0)
    assert {1, 2} <= set(ids.tolist())
    assert dists[list(ids).index(1)] == 0.0 and dists[list(ids).index(2)] == 0.0
    ids, dists = graph.neighbors(11)
    assert dists[list(ids).index(10)] == 0.0


def test_more_duplicates_than_k_still_excludes_the_node_itself():
    embeddings = np.zeros((6, 2), dtype=np.float32)  # six identical rows
    embeddings = np.vstack([embeddings, np.ones((2, 2), dtype=np.float32)])
    graph = hf_d2.knn_graph(embeddings, k=2, symmetric=False)
    for node in range(6):
        ids, dists = graph.neighbors(node)
        assert node not in ids and len(ids) == 2 and np.all(dists == 0)


def test_from_neighbors_drops_self_and_missing_and_merges_pairs():
    neighbor_ids = np.array([[0, 1, -1], [0, 2, 2], [1, 0, 1]])
    distances = np.array([[0.0, 1.0, 0.0], [1.5, 2.0, 2.5], [2.2, 3.0, 2.2]])
    directed = hf_d2.KnnGraph.from_neighbors(neighbor_ids, distances, symmetric=False)
    assert directed.neighbors(0)[0].tolist() == [1]
    assert directed.neighbors(1)[0].tolist() == [0, 2]
    assert directed.neighbors(1)[1].tolist() == [1.5, 2.0]  # repeated id keeps the smaller distance
    symmetric = hf_d2.KnnGraph.from_neighbors(neighbor_ids, distances, symmetric=True)
    assert symmetric.neighbors(0)[0].tolist() == [1, 2]
    assert symmetric.neighbors(0)[1].tolist() == [1.0, 3.0]
    assert symmetric.neighbors(1)[1].tolist() == [1.0, 2.0]  # min(1.0 listed by 0, 1.5 listed by 1)


@pytest.mark.parametrize("backend", ["hnsw", "ivf", "auto"])
def test_approximate_backends_recall_most_exact_neighbours(backend):
    embeddings = np.random.default_rng(1).normal(size=(2000, 16)).astype(np.float32)
    exact = rows(hf_d2.knn_graph(embeddings, k=5, symmetric=False))
    approximate = rows(hf_d2.knn_graph(embeddings, k=5, symmetric=False, backend=backend))
    recall = np.mean([len(a & e) / len(e) for a, e in zip(approximate, exact)])
    assert recall > 0.9


def test_memory_is_linear_in_n_times_k():
    graph = hf_d2.knn_graph(np.random.default_rng(2).normal(size=(3000, 4)).astype(np.float32), k=5)
    assert graph.nbytes() <= 3001 * 8 + 2 * 5 * 3000 * (4 + 4)


@pytest.mark.parametrize(
    "embeddings, k, message",
    [
        (np.zeros((0, 4)), 2, "empty"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), 1, "NaN or inf in 1 row"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), 1, "rows 0"),
        (np.zeros((5, 2)), 5, "must be smaller than the number of examples"),
        (np.zeros((5, 2)), 0, "range \\[1, inf\\)"),
        (np.zeros(5), 1, "2-D array"),
    ],
)
def test_bad_input_raises_actionable_value_error(embeddings, k, message):
    with pytest.raises(ValueError, match=message):
        hf_d2.knn_graph(embeddings, k=k)


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="'backend' parameter must be one of 'exact', 'hnsw'"):
        hf_d2.knn_graph(np.zeros((5, 2)), k=1, backend="annoy")


def test_gpu_request_without_faiss_gpu_says_how_to_install():
    if hf_d2.graph.gpu_available():
        pytest.skip("this machine has faiss-gpu and a CUDA device")
    with pytest.raises(ValueError, match=r"pip install 'hf-d2\[gpu\]'"):
        hf_d2.knn_graph(np.random.default_rng(0).normal(size=(10, 2)), k=2, device="gpu")




@pytest.mark.parametrize("backend", ["exact", "hnsw", "ivf", "ivfpq", "factory:IVF8,Flat"])
def test_exact_duplicates_are_at_distance_exactly_zero(backend, faiss_one_thread):
    """faiss computes ||x||² + ||y||² − 2x·y in float32, which leaves duplicates of far-from-origin
    vectors at a visible distance; the graph recomputes every edge from the two vectors."""
    import faiss

    rng = np.random.default_rng(3)
    embeddings = (10 + rng.normal(size=(3000, 64))).astype(np.float32)
    pairs = [(0, 300), (17, 18), (250, 2999), (42, 43)]
    for source, target in pairs:
        embeddings[target] = embeddings[source]
    flat = faiss.IndexFlatL2(64)
    flat.add(embeddings)
    faiss_squared, faiss_ids = flat.search(embeddings, 3)  # many rows: faiss's BLAS path
    misreported = [faiss_squared[source][faiss_ids[source] == target] for source, target in pairs]
    assert any(np.any(values > 0) for values in misreported), "faiss must misreport for the test to mean anything"
    graph = hf_d2.knn_graph(embeddings, k=4, backend=backend, check_recall=0)
    for source, target in pairs:
        for node, other in ((source, target), (target, source)):
            ids, dists = graph.neighbors(node)
            assert other in ids.tolist()
            assert dists[ids.tolist().index(other)] == 0.0
    checked = list(range(0, 3000, 37))
    expected = dense_distances(embeddings, rows=checked)
    for position, node in enumerate(checked):
        ids, dists = graph.neighbors(node)
        np.testing.assert_array_equal(dists, expected[position, ids])
