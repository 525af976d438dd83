"""faiss index construction for the kNN graph: the backends, the ``auto`` rule
(``choose_backend``), the index sizes it weighs, and moving an index to the GPU(s) when faiss-gpu
and CUDA are present (``index_to_gpus``). ``import_faiss`` is the one place faiss is imported, so
a test can stand in for faiss-gpu by replacing it."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError

logger = logging.getLogger("hf_d2.graph")  # its records reach handlers on "hf_d2"

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
# No longer used by auto, which never picks HNSW (its threaded build is not reproducible); kept so
# that code importing it keeps working.
AUTO_HNSW_MAX_ROWS = 2_000_000
# An index "fits" when it needs at most this fraction of the available memory.
AUTO_MEMORY_FRACTION = 0.5
# Kept for backwards compatibility: the largest n that auto searches exactly at d <= 40.
AUTO_EXACT_MAX_ROWS = 100_000


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


def faiss_seed(seed: int) -> int:
    """``seed`` folded into faiss's signed 32-bit seed range [0, 2³¹): groups of a partition get
    64-bit derived seeds, which faiss's ClusteringParameters.seed cannot hold."""
    return int(seed) % (2**31)


def choose_backend(num_rows: int, dim: int, *, gpu: bool = False, available_bytes: int | None = None,
                   hnsw_m: int = 32, pq_m: int | None = None) -> tuple[str, str]:
    """The backend ``backend="auto"`` searches with, and why (one line).

    The rule, in order (n rows, d dimensions, "fits" = the index needs at most
    ``AUTO_MEMORY_FRACTION`` = half of ``available_bytes``; None = unknown, everything fits):
      1. ``exact`` if a flat search is cheap, n²·d <= ``AUTO_EXACT_MAX_WORK`` = 4e11 (about 10 s
         on 2 CPU cores; 4e14 on a GPU), and the flat index (4·n·d bytes) fits;
      2. ``ivf`` if its index (about 4·n·d bytes) fits;
      3. ``ivfpq`` otherwise (pq_m + 8 bytes a row).
    HNSW is never chosen: faiss builds it with several threads in an order that varies from run
    to run (so the coreset could too), and IVF was faster at equal or better recall in
    benchmarks/graph_recall.py (10k to 100k rows, d = 64 and 384). ``hnsw_m`` is accepted for
    callers that size an explicit HNSW index with ``index_bytes``.
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
    if fits("ivf"):
        return "ivf", f"{head}: ivf, exact search too costly ({reason}); the IVF index ({size('ivf')}) fits{memory}"
    return "ivfpq", (f"{head}: ivfpq, exact search too costly ({reason}) and the IVF index ({size('ivf')}) does not "
                     f"fit in half{memory}; the IVF-PQ codes take {size('ivfpq')}")


def default_candidates(kind: str, k: int) -> int:
    """Search results re-ranked exactly per row when ``candidates`` is not given: k + 2 for
    exact search, 2k + 1 for HNSW / IVF, 16(k + 1) for IVF-PQ and factory strings."""
    if kind == "exact":
        return k + 2
    if kind in ("hnsw", "ivf"):
        return 2 * k + 1
    return 16 * (k + 1)  # coarse PQ distances: 30k × 384 clustered, recall 0.83 at 4(k+1), 0.999 at 16(k+1)


def import_faiss():
    """The faiss module (faiss-cpu, or faiss-gpu when installed); one-line ImportError without it."""
    try:
        import faiss  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - faiss-cpu is a dependency
        raise ImportError(
            "hf-d2 needs faiss for the kNN graph: pip install faiss-cpu (or hf-d2[gpu] for faiss-gpu)."
        ) from error
    return faiss


def gpu_count(faiss: Any) -> int:
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
    return gpu_count(import_faiss()) > 0


def build_index(faiss, embeddings, kind, backend, seed, hnsw_m, hnsw_ef_search, ivf_nlist, ivf_nprobe,
                pq_m, pq_nbits, width):
    """An empty CPU faiss index for ``embeddings`` (n, d) float32 of ``kind`` ("exact", "hnsw",
    "ivf", "ivfpq" or "factory", the string in ``backend``), searching ``width`` candidates a row;
    trained later (``training_sample``), on the device it will search on."""
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
        index.pq.cp.seed = faiss_seed(seed)
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
        ivf.cp.seed = faiss_seed(seed)
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


def training_sample(faiss, index, embeddings: np.ndarray, seed: int) -> np.ndarray:
    """A seeded sample of rows for training a CPU index: 64 rows per inverted list and at least
    10,000 (PQ codebooks want 39 · 256), 100,000 for non-IVF indexes; all rows when n is smaller."""
    num_nodes = embeddings.shape[0]
    ivf = _ivf_of(faiss, index)
    rows = min(num_nodes, max(64 * int(ivf.nlist), 10_000) if ivf is not None else 100_000)
    if rows == num_nodes:
        return embeddings
    rng = np.random.default_rng(seed)
    return embeddings[np.sort(rng.choice(num_nodes, size=rows, replace=False))]


def index_to_gpus(faiss, index, kind, training, gpus, required):
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
