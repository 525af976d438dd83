"""kNN search options of the selection engine: the auto rule, IVF-PQ, faiss factory strings,
measured recall, and the GPU code path (exercised with a stand-in for faiss-gpu: CI has no GPU)."""

import logging

import numpy as np
import pytest

import hf_d2
from hf_d2 import graph as graph_module
from hf_d2._validation import InvalidParameterError
from hf_d2.graph import backends as graph_backends
from hf_d2.graph import choose_backend, recall_at_k


def clustered(num_rows=3000, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    rows = centres[rng.integers(0, 40, num_rows)] + 0.3 * rng.normal(size=(num_rows, dim))
    return rows.astype(np.float32)


# --- the auto rule -------------------------------------------------------------------------

GIB = 2**30


@pytest.mark.parametrize(
    "rows, dim, available, gpu, expected",
    [
        (10_000, 384, 16 * GIB, False, "exact"),  # n²·d = 3.8e10
        (100_000, 32, 16 * GIB, False, "exact"),  # 3.2e11, the old 100k cut-off at d = 32
        (100_000, 384, 16 * GIB, False, "ivf"),  # 3.8e12 > 4e11: IVF, never HNSW (not deterministic)
        (2_000_000, 384, 16 * GIB, False, "ivf"),  # IVF needs ~2.9 GiB: fits in half of 16
        (2_000_000, 384, 4 * GIB, False, "ivfpq"),  # IVF 2.9 GiB > half of 4 GiB
        (5_000_000, 32, 16 * GIB, False, "ivf"),
        (5_000_000, 384, 8 * GIB, False, "ivfpq"),  # IVF 7.2 GiB > 4 GiB
        (500_000, 384, 64 * GIB, True, "exact"),  # 9.6e13 <= 4e14 on a GPU
        (3_000_000, 384, 64 * GIB, True, "ivf"),
        (100_000, 384, None, False, "ivf"),  # memory unknown: everything fits
    ],
)
def test_auto_rule(rows, dim, available, gpu, expected):
    backend, reason = choose_backend(rows, dim, gpu=gpu, available_bytes=available)
    assert backend == expected
    assert reason.startswith(f"n={rows:,}, d={dim}: {expected}") and "\n" not in reason


def test_auto_logs_its_choice_and_records_it_on_the_graph(caplog):
    embeddings = clustered(500, 8)
    with caplog.at_level(logging.INFO, logger="hf_d2"):
        graph = hf_d2.knn_graph(embeddings, k=4, backend="auto")
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("hf_d2")]
    assert len(lines) == 1 and lines[0].startswith("knn='auto' chose 'exact'")
    assert graph.backend == "exact" and graph.info["requested"] == "auto"
    assert graph.info["reason"].startswith("n=500, d=8: exact")
    assert graph.recall is None  # exact search is not checked against itself


def test_auto_at_large_n_picks_an_approximate_backend_and_measures_its_recall(monkeypatch, faiss_one_thread):
    monkeypatch.setattr(graph_backends, "AUTO_EXACT_MAX_WORK", 1e6)  # as if n were large
    embeddings = clustered(2000, 16)
    graph = hf_d2.knn_graph(embeddings, k=5, backend="auto", check_recall=300)
    assert graph.backend == "ivf" and graph.info["recall_sample"] == 300
    assert 0.9 <= graph.recall <= 1.0 and graph.info["recall_at_k"] == graph.recall


# --- IVF-PQ and factory strings ------------------------------------------------------------

def test_ivfpq_recall_after_exact_reranking(faiss_one_thread):
    embeddings = clustered(4000, 32)
    graph = hf_d2.knn_graph(embeddings, k=5, backend="ivfpq", symmetric=False, check_recall=4000)
    assert graph.backend == "ivfpq" and graph.info["candidates"] == 96
    assert graph.recall >= 0.9
    # the stored distances are exact whichever index found the neighbours
    np.testing.assert_array_equal(graph.distances[:50], graph_module.exact_distances(
        embeddings, np.repeat(np.arange(10), 5), graph.indices[:50, None])[:, 0])


def test_factory_string_builds_that_index(faiss_one_thread):
    embeddings = clustered(2000, 16)
    graph = hf_d2.knn_graph(embeddings, k=5, backend="factory:IVF16,Flat", ivf_nprobe=16, check_recall=500)
    assert graph.backend == "factory:IVF16,Flat"
    assert graph.recall == 1.0  # nprobe = nlist: every list is scanned, the search is exact
    ranking = hf_d2.d2_rank(embeddings, np.ones(2000), 10, knn="factory:IVF16,Flat")
    assert ranking.graph.backend == "factory:IVF16,Flat"


@pytest.mark.parametrize(
    "backend, message",
    [
        ("factory:", "empty faiss index_factory string"),
        ("factory:IVF16,PQ5", "is not a faiss index_factory string faiss accepts for d = 16"),
        ("annoy", "must be one of 'exact', 'hnsw', 'ivf', 'ivfpq', 'auto' or 'factory:"),
    ],
)
def test_bad_backend_is_a_one_line_error_naming_the_parameter(backend, message):
    with pytest.raises(InvalidParameterError, match=message) as error:
        hf_d2.knn_graph(clustered(200, 16), k=3, backend=backend)
    assert error.value.parameter == "backend" and "\n" not in str(error.value)


def test_pq_m_must_divide_the_dimension():
    with pytest.raises(InvalidParameterError, match="must divide the embedding dimension d = 16"):
        hf_d2.knn_graph(clustered(200, 16), k=3, backend="ivfpq", pq_m=5)


def test_check_backend_accepts_factory_strings_under_the_callers_name():
    assert graph_module.check_backend("factory:HNSW16,Flat", name="knn") == "factory:HNSW16,Flat"
    with pytest.raises(InvalidParameterError, match="The 'knn' parameter"):
        graph_module.check_backend("flat", name="knn")


# --- recall_at_k on cases whose answer is known ---------------------------------------------

def line_points(num_rows=50):
    """Points 0, 1, 2, ... on a line: the exact 2-NN of an inner point i are i − 1 and i + 1."""
    return np.arange(num_rows, dtype=np.float32)[:, None]


def exact_two_nn(num_rows=50):
    lists = np.array([[i - 1, i + 1] for i in range(num_rows)])
    lists[0] = [1, 2]
    lists[-1] = [num_rows - 2, num_rows - 3]
    return lists


def test_recall_is_one_for_exact_lists_and_drops_by_the_wrong_entries():
    embeddings = line_points()
    lists = exact_two_nn()
    assert recall_at_k(embeddings, lists, sample_size=50) == 1.0
    wrong = lists.copy()
    wrong[[3, 10, 20, 30, 40], 1] = 0  # 5 entries replaced by a far point (row 0 is none of their 2-NN)
    wrong[25, :] = [-1, 25]  # a missing entry and the row itself: 2 misses
    assert recall_at_k(embeddings, wrong, sample_size=50) == pytest.approx(1 - 7 / 100)


def test_recall_counts_ties_at_the_kth_distance_as_hits():
    embeddings = line_points()
    lists = exact_two_nn()
    lists[0] = [1, 2]
    tied = lists.copy()
    tied[10] = [11, 9]  # same set, other order
    assert recall_at_k(embeddings, tied, sample_size=50) == 1.0
    # with k = 1, row 10's single nearest is 9 or 11 (both at distance 1): either is a hit
    assert recall_at_k(embeddings, np.array([[i + 1] if i < 49 else [48] for i in range(50)]), k=1,
                       sample_size=50) == 1.0


def test_recall_on_a_seeded_sample_counts_only_the_sampled_rows():
    embeddings = line_points(200)
    lists = exact_two_nn(200)
    wrong = lists.copy()
    wrong[:, 1] = 150  # one wrong entry per row, except row 149 (150 is its 2nd neighbour); row 150
    truth = np.full(200, 0.5)  # drops itself, row 151 lists 150 twice: one hit each
    truth[149] = 1.0
    rows = np.sort(np.random.default_rng(7).choice(200, size=60, replace=False))
    assert recall_at_k(embeddings, wrong, sample_size=60, seed=7) == pytest.approx(truth[rows].mean())


def test_recall_of_a_graph_uses_its_k_nearest_entries():
    embeddings = clustered(1500, 16)
    graph = hf_d2.knn_graph(embeddings, k=5)  # exact and symmetric: rows may hold more than 5
    assert recall_at_k(embeddings, graph, sample_size=400) == 1.0
    assert recall_at_k(embeddings, graph, k=5, sample_size=400, seed=3) == 1.0
    no_k = hf_d2.KnnGraph.from_neighbors(np.array([[1], [0]]), np.zeros((2, 1)))
    with pytest.raises(InvalidParameterError, match="'k' parameter is needed"):
        recall_at_k(np.zeros((2, 2)), no_k)


# --- GPU code path (a stand-in for faiss-gpu) ----------------------------------------------

class FakeGpuFaiss:
    """Real faiss for the indexes, with GPU entry points that record calls and return the CPU
    index, so that the multi-GPU / single-GPU branches run on a CPU-only machine."""

    def __init__(self, gpus, broken=False):
        import faiss

        self._faiss = faiss
        self.gpus = gpus
        self.broken = broken
        self.calls = []

    def __getattr__(self, name):
        return getattr(self._faiss, name)

    def get_num_gpus(self):
        if self.broken:
            raise RuntimeError("CUDA driver version is insufficient")
        return self.gpus

    class StandardGpuResources:
        pass

    class GpuClonerOptions:
        useFloat16 = False

    class GpuMultipleClonerOptions:
        useFloat16 = False
        shard = True

    def index_cpu_to_gpu(self, resources, device, index, options=None):
        self.calls.append(("index_cpu_to_gpu", device))
        return index

    def index_cpu_to_all_gpus(self, index, co=None, ngpu=-1):
        self.calls.append(("index_cpu_to_all_gpus", ngpu, co.shard))
        return index

    def index_gpu_to_cpu(self, index):
        self.calls.append(("index_gpu_to_cpu",))
        return index


@pytest.mark.parametrize("backend", ["exact", "ivf"])
def test_several_gpus_get_replicas_of_the_index(monkeypatch, backend, faiss_one_thread):
    fake = FakeGpuFaiss(gpus=2)
    monkeypatch.setattr(graph_backends, "import_faiss", lambda: fake)
    embeddings = clustered(1200, 16)
    graph = hf_d2.knn_graph(embeddings, k=4, backend=backend, check_recall=0)
    assert ("index_cpu_to_all_gpus", 2, False) in fake.calls
    assert graph.info["device"] == "gpu x2"
    if backend == "ivf":  # trained once on GPU 0, then replicated
        assert fake.calls[:2] == [("index_cpu_to_gpu", 0), ("index_gpu_to_cpu",)]
    monkeypatch.undo()
    cpu = hf_d2.knn_graph(embeddings, k=4, backend=backend, check_recall=0)
    np.testing.assert_array_equal(graph.indices, cpu.indices)


def test_one_gpu_uses_index_cpu_to_gpu(monkeypatch):
    fake = FakeGpuFaiss(gpus=1)
    monkeypatch.setattr(graph_backends, "import_faiss", lambda: fake)
    graph = hf_d2.knn_graph(clustered(300, 8), k=3)
    assert fake.calls == [("index_cpu_to_gpu", 0)] and graph.info["device"] == "gpu"


def test_hnsw_stays_on_the_cpu_with_a_gpu(monkeypatch):
    fake = FakeGpuFaiss(gpus=2)
    monkeypatch.setattr(graph_backends, "import_faiss", lambda: fake)
    graph = hf_d2.knn_graph(clustered(300, 8), k=3, backend="hnsw", check_recall=0)
    assert fake.calls == [] and graph.info["device"] == "cpu"


@pytest.mark.parametrize("fake", [FakeGpuFaiss(gpus=0), FakeGpuFaiss(gpus=3, broken=True)], ids=["no-device", "no-driver"])
def test_without_a_working_gpu_auto_falls_back_to_the_cpu(monkeypatch, fake):
    monkeypatch.setattr(graph_backends, "import_faiss", lambda: fake)
    assert graph_module.gpu_available() is False
    graph = hf_d2.knn_graph(clustered(300, 8), k=3, device="auto")
    assert fake.calls == [] and graph.info["device"] == "cpu"
    with pytest.raises(InvalidParameterError, match=r"pip install 'hf-d2\[gpu\]'"):
        hf_d2.knn_graph(clustered(300, 8), k=3, device="gpu")


def test_an_index_faiss_cannot_move_falls_back_unless_gpu_was_required(monkeypatch):
    fake = FakeGpuFaiss(gpus=1)

    def refuse(*args, **kwargs):
        raise RuntimeError("Error in index_cpu_to_gpu: this index type is not implemented on GPU")

    fake.index_cpu_to_gpu = refuse
    monkeypatch.setattr(graph_backends, "import_faiss", lambda: fake)
    graph = hf_d2.knn_graph(clustered(300, 8), k=3, device="auto")
    assert graph.info["device"] == "cpu"
    with pytest.raises(InvalidParameterError, match="faiss cannot run this index on the GPU"):
        hf_d2.knn_graph(clustered(300, 8), k=3, device="gpu")


def test_default_recall_sample_shrinks_with_the_cost_of_exact_search():
    from hf_d2.graph import recall_sample_size as _recall_sample_size

    assert _recall_sample_size(None, "exact", 10**6, 384) == 0  # exact search is not checked by default
    assert _recall_sample_size(None, "hnsw", 30_000, 384) == 500
    assert _recall_sample_size(None, "ivf", 2 * 10**6, 384) == 130  # 1e11 / (n · d)
    assert _recall_sample_size(None, "ivfpq", 10**7, 384) == 100  # never below 100 rows
    assert _recall_sample_size(True, "exact", 10, 2) == 500
    assert _recall_sample_size(False, "hnsw", 10, 2) == 0 and _recall_sample_size(50, "hnsw", 10, 2) == 50
    with pytest.raises(InvalidParameterError, match="check_recall"):
        _recall_sample_size(-1, "hnsw", 10, 2)
