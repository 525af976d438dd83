"""Scale benchmark for the D2 selection engine (not a test: it prints figures and saves JSON).

Two kinds of rows:
* ``embeddings`` (--sizes): 32-d clustered unit vectors, kNN graph with faiss (exact up to 100k
  rows, IVF above), then forward + reverse selection timed in a fresh child process that loads
  the graph, with its peak extra memory. At 10k also a dense O(n²) implementation of the same
  algorithm written from docs/method.md §2-4 (n × n distance and message matrices, argmax per pick, as the
  reference does), checked to pick the same set, for the speed ratio.
* ``synthetic`` (--synthetic-sizes): neighbour lists made directly (no faiss), k ids and
  distances per node, ``random`` (ids uniform over all n: no memory locality, the worst case)
  or ``clustered`` (ids drawn from the node's block of 1,000 consecutive ids), turned into the
  union CSR by ``KnnGraph.from_neighbors`` and ranked in full. Timed per phase (CSR build,
  forward, reverse) in a child process; peak RSS growth over the run (psutil, sampled every 2 ms)
  includes the CSR build. Then, once, where the greedy's time goes (``greedy_breakdown``): the
  tournament tree alone (the same full ranking on the same scores with no edges), and the
  neighbour updates alone (the same decreases, with the same prefetch hints, applied in the real
  pick order, then in node-id order) with no tree.

    python benchmarks/select_scale.py                         # 10k, 100k, 1M + 10M synthetic (~15 min on 2 cores)
    python benchmarks/select_scale.py --sizes 10000 --synthetic-sizes   # quick
    python benchmarks/select_scale.py --sizes 2000000 --synthetic-sizes  # IVF graph at 2M (slow)

Results merge into benchmarks/results/select_scale.json (rows keyed by kind, n, graph).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "select_scale.json"
CLUSTER_IDS = 1_000  # block of consecutive ids a clustered synthetic node draws its neighbours from


def clustered_embeddings(num_rows: int, dim: int, seed: int) -> np.ndarray:
    """Unit-norm vectors around 256 random centres: the shape of sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    embeddings = centres[rng.integers(0, 256, size=num_rows)] + 0.35 * rng.normal(size=(num_rows, dim)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings


def synthetic_lists(num_rows: int, k: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) int32 neighbour ids and float32 distances in [0, 2) (the range of unit vectors).
    ``random``: ids uniform over [0, n); ``clustered``: ids uniform over the node's block of
    ``CLUSTER_IDS`` consecutive ids (a node may list itself or an id twice: both are dropped /
    merged by from_neighbors, as with real search output)."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        ids = rng.integers(0, num_rows, size=(num_rows, k), dtype=np.int32)
    else:
        ids = rng.integers(0, CLUSTER_IDS, size=(num_rows, k), dtype=np.int32)
        ids += (np.arange(num_rows, dtype=np.int32) // CLUSTER_IDS * CLUSTER_IDS)[:, None]
        np.minimum(ids, num_rows - 1, out=ids)
    distances = rng.random((num_rows, k), dtype=np.float32)
    distances *= 2
    return ids, distances


def median_time(function, repeats: int) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def dense_d2(embeddings: np.ndarray, scores: np.ndarray, budget: int, k: int, gamma_forward: float = 1.0,
             gamma_reverse: float = 0.1, epsilon: float = 1e-7, dtype=np.float64,
             block_rows: int = 2048) -> tuple[np.ndarray, dict[str, float]]:
    """docs/method.md §2-4 with dense n × n matrices, vectorised numpy (a fair dense baseline): an n × n
    distance matrix, the union kNN adjacency, a dense forward pass and an argmax over all n per
    pick. ``dtype`` float64 (default) or float32 (half the memory: at 30k rows 2 × 3.6 GB instead
    of 2 × 7.2 GB); operations run in place and kNN rows are selected in blocks so that the peak
    is about two n × n matrices. Returns (pick order, seconds per phase: graph = distances + kNN,
    select = forward + greedy)."""
    started = time.perf_counter()
    x = np.asarray(embeddings, dtype=dtype)
    num_rows = x.shape[0]
    squared_norms = (x * x).sum(1)
    distances = np.empty((num_rows, num_rows), dtype=dtype)
    for start in range(0, num_rows, 4096):  # row blocks: one 30k × 30k float32 product crashes OpenBLAS here
        np.matmul(x[start:start + 4096], x.T, out=distances[start:start + 4096])
    distances *= -2
    distances += squared_norms[:, None]
    distances += squared_norms[None, :]
    np.maximum(distances, 0, out=distances)
    np.sqrt(distances, out=distances)
    np.fill_diagonal(distances, np.inf)
    adjacency = np.zeros(distances.shape, dtype=bool)
    for start in range(0, num_rows, block_rows):
        stop = min(num_rows, start + block_rows)
        neighbours = np.argpartition(distances[start:stop], k, axis=1)[:, :k]
        adjacency[np.arange(start, stop)[:, None], neighbours] = True
    adjacency |= adjacency.T
    graph_done = time.perf_counter()
    messages = np.exp(-gamma_forward * distances)
    messages *= np.maximum(scores, epsilon).astype(dtype)[None, :]
    messages *= adjacency
    current = scores + messages.sum(1, dtype=np.float64)
    del messages
    selected = np.zeros(num_rows, dtype=bool)
    order = np.empty(budget, dtype=np.int64)
    for step in range(budget):
        picked = int(np.argmax(np.where(selected, -np.inf, current)))
        order[step] = picked
        selected[picked] = True
        targets = adjacency[picked] & ~selected
        current[targets] -= np.exp(-gamma_reverse * distances[picked, targets].astype(np.float64)) * current[picked]
    finished = time.perf_counter()
    return order, {"graph": graph_done - started, "select": finished - graph_done}


class PeakRss:
    """Samples the RSS of this process (and, with ``children``, of its child processes, e.g. pool
    workers) every ``interval_s`` seconds in a thread; ``peak_mb`` is the largest sample minus
    this process's RSS when the block started (ru_maxrss would include earlier peaks)."""

    def __init__(self, children: bool = False, interval_s: float = 0.002):
        self.children, self.interval_s = children, interval_s

    def __enter__(self):
        import threading  # noqa: PLC0415

        import psutil  # noqa: PLC0415

        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        import psutil  # noqa: PLC0415

        try:
            processes = [self._process, *(self._process.children(recursive=True) if self.children else [])]
            return sum(process.memory_info().rss for process in processes)
        except psutil.Error:  # a child that just exited
            return 0

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def _warm_up() -> None:
    """Compiles (or loads from numba's cache) every kernel outside the measurements."""
    from hf_d2 import KnnGraph, forward_pass, reverse_pass  # noqa: PLC0415

    rng = np.random.default_rng(0)
    for dtype in (np.int32, np.int64):
        for symmetric in (True, False):
            graph = KnnGraph.from_neighbors(rng.integers(0, 300, (300, 4)).astype(dtype),
                                            rng.random((300, 4), dtype=np.float32), symmetric=symmetric)
            reverse_pass(graph, forward_pass(graph, rng.random(300)), 300)


def measure_selection_child(graph_path: str, budget: int, repeats: int) -> None:
    """Child process: load a graph and scores, then time and measure forward + reverse."""
    from hf_d2 import KnnGraph, forward_pass, reverse_pass  # noqa: PLC0415

    stored = np.load(graph_path)
    graph = KnnGraph(stored["indptr"], stored["indices"], stored["distances"], int(stored["num_nodes"]))
    scores = stored["scores"]
    _warm_up()
    with PeakRss() as memory:
        forward_time, forward_scores = median_time(lambda: forward_pass(graph, scores), repeats)
        reverse_full, _ = median_time(lambda: reverse_pass(graph, forward_scores, graph.num_nodes), repeats)
        reverse_budget, _ = median_time(lambda: reverse_pass(graph, forward_scores, budget), repeats)
    print(json.dumps({
        "forward_s": forward_time, "select_full_ranking_s": reverse_full, "select_half_s": reverse_budget,
        "selection_peak_extra_mb": memory.peak_mb,
    }))


def _updates_kernel():
    """The greedy's neighbour updates without its tree (numba, compiled on first use): for each
    node of ``order``, mark it picked and lower its unpicked neighbours by exp(−γ·d)·S, with the
    reverse pass's prefetch hints (the neighbours' scores, and the next node's score and row
    start, which the real pass knows one pick ahead)."""
    import numba  # noqa: PLC0415

    from hf_d2.kernels import prefetch  # noqa: PLC0415

    @numba.njit(cache=False)
    def apply_updates(indptr, indices, distances, values, order, gamma):  # pragma: no cover - compiled
        for step in range(order.shape[0]):
            picked = order[step]
            message = values[picked]
            values[picked] = np.nan
            start, stop = indptr[picked], indptr[picked + 1]
            for edge in range(start, stop):
                prefetch(values, indices[edge])
            if step + 1 < order.shape[0]:
                prefetch(values, order[step + 1])
                prefetch(indptr, order[step + 1])
            for edge in range(start, stop):
                neighbour = indices[edge]
                current = values[neighbour]
                if current == current:
                    values[neighbour] = current - np.exp(-gamma * np.float64(distances[edge])) * message
        return 0

    return apply_updates


def greedy_breakdown(graph, forward_scores: np.ndarray, order: np.ndarray) -> dict:
    """Seconds of the greedy's two halves, each alone (see the module docstring)."""
    from hf_d2 import KnnGraph, reverse_pass  # noqa: PLC0415

    num_nodes = graph.num_nodes
    edgeless = KnnGraph(np.zeros(num_nodes + 1, dtype=np.int64), np.zeros(0, dtype=np.int32),
                        np.zeros(0, dtype=np.float32), num_nodes)
    started = time.perf_counter()
    reverse_pass(edgeless, forward_scores, num_nodes)
    tree_s = time.perf_counter() - started
    apply_updates = _updates_kernel()
    apply_updates(graph.indptr, graph.indices, graph.distances, forward_scores.copy(), order[:0], 0.1)  # compiles
    timings = {}
    for name, sequence in (("updates_in_pick_order_s", order), ("updates_in_id_order_s", np.arange(num_nodes))):
        values = forward_scores.copy()
        started = time.perf_counter()
        apply_updates(graph.indptr, graph.indices, graph.distances, values, sequence, 0.1)
        timings[name] = time.perf_counter() - started
    return {"tree_only_s": tree_s, **timings}


def measure_synthetic_child(num_rows: int, k: int, kind: str, repeats: int) -> None:
    """Child process: make the lists, then per run time CSR build + forward + full ranking and
    sample the RSS growth over the whole run (the lists and scores are counted in the baseline)."""
    import numba  # noqa: PLC0415

    from hf_d2 import KnnGraph, forward_pass, reverse_pass  # noqa: PLC0415

    ids, distances = synthetic_lists(num_rows, k, kind)
    scores = np.random.default_rng(1).random(num_rows)
    _warm_up()
    runs = []
    for _ in range(repeats):
        with PeakRss() as memory:
            cpu_started, started = time.process_time(), time.perf_counter()
            graph = KnnGraph.from_neighbors(ids, distances, symmetric=True)
            built = time.perf_counter()
            forward_scores = forward_pass(graph, scores)
            forwarded = time.perf_counter()
            ranking = reverse_pass(graph, forward_scores, num_rows)
            finished, cpu_finished = time.perf_counter(), time.process_time()
        runs.append({"csr_s": built - started, "forward_s": forwarded - built, "reverse_s": finished - forwarded,
                     "total_s": finished - started, "cpu_s": cpu_finished - cpu_started,
                     "peak_extra_mb": memory.peak_mb, "edges": graph.num_edges,
                     "ranked": int(ranking.order.shape[0])})
        if len(runs) < repeats:
            del graph, forward_scores, ranking
    breakdown = greedy_breakdown(graph, forward_scores, ranking.order)
    del graph, forward_scores, ranking
    warm = runs[1:] or runs
    summary = {key: statistics.median(run[key] for run in warm)
               for key in ("csr_s", "forward_s", "reverse_s", "total_s", "cpu_s", "peak_extra_mb")}
    print(json.dumps({"runs": runs, "median_warm": summary, "first_run": runs[0], "edges": runs[0]["edges"],
                      "greedy_breakdown": breakdown,
                      "numba_threads": numba.config.NUMBA_NUM_THREADS}))


def run_embeddings(num_rows: int, k: int, dim: int, repeats: int, with_dense: bool) -> dict:
    import hf_d2  # noqa: PLC0415

    load_at_start = round(os.getloadavg()[0], 2)
    backend = "exact" if num_rows <= 100_000 else "ivf"
    embeddings = clustered_embeddings(num_rows, dim, seed=0)
    scores = np.random.default_rng(1).random(num_rows)
    graph_repeats = repeats if num_rows <= 100_000 else 1
    graph_time, graph = median_time(lambda: hf_d2.knn_graph(embeddings, k=k, backend=backend, check_recall=0),
                                    graph_repeats)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "graph.npz")
        np.savez(path, indptr=graph.indptr, indices=graph.indices, distances=graph.distances,
                 num_nodes=graph.num_nodes, scores=scores)
        child = subprocess.run(
            [sys.executable, __file__, "--child", path, str(num_rows // 2), str(repeats)],
            check=True, capture_output=True, text=True,
        )
    row = {"kind": "embeddings", "graph": "faiss", "n": num_rows, "k": k, "dim": dim, "backend": backend,
           "edges": graph.num_edges, "graph_build_s": graph_time, "graph_mb": graph.nbytes() / 2**20,
           "graph_info": graph.info, **json.loads(child.stdout.strip().splitlines()[-1])}
    if with_dense:
        budget = num_rows // 2
        ours_time, ours = median_time(lambda: hf_d2.d2_select(embeddings, scores, budget, k=k), repeats)
        selection_time, _ = median_time(lambda: hf_d2.d2_select(None, scores, budget, graph=graph), repeats)
        dense, dense_phases = dense_d2(embeddings, scores, budget, k)
        dense_total = dense_phases["graph"] + dense_phases["select"]
        row.update({
            "end_to_end_half_s": ours_time, "selection_given_graph_half_s": selection_time,
            "dense_graph_s": dense_phases["graph"], "dense_select_half_s": dense_phases["select"],
            "dense_end_to_end_half_s": dense_total,
            "speedup_end_to_end": dense_total / ours_time,
            "speedup_selection": dense_phases["select"] / selection_time,
            "dense_same_set": bool(set(ours) == set(dense)),
        })
    row.update({"measured_on": time.strftime("%Y-%m-%d"), "load_average_1m": [load_at_start, round(os.getloadavg()[0], 2)]})
    return row


def run_synthetic(num_rows: int, k: int, kind: str, repeats: int) -> dict:
    load_at_start = round(os.getloadavg()[0], 2)
    child = subprocess.run(
        [sys.executable, __file__, "--child-synthetic", str(num_rows), str(k), kind, str(repeats)],
        check=True, capture_output=True, text=True,
    )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    return {"kind": "synthetic", "graph": kind, "n": num_rows, "k": k, "repeats": repeats, **measured,
            "measured_on": time.strftime("%Y-%m-%d"), "load_average_1m": [load_at_start, round(os.getloadavg()[0], 2)]}


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
            "note": "2-core VM, possibly shared with other jobs while it ran (see the load averages)"}


def merge_results(rows: list[dict], meta: dict) -> dict:
    """Keeps earlier rows of other (kind, n, graph) keys; replaces the re-measured ones."""
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    kept = [row for row in previous.get("rows", [])
            if (row.get("kind", "embeddings"), row["n"], row.get("graph", "faiss"))
            not in {(r["kind"], r["n"], r["graph"]) for r in rows}]
    merged = sorted(kept + rows, key=lambda row: (row.get("kind", "embeddings"), row.get("graph", "faiss"), row["n"]))
    return {**meta, "rows": merged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                        help="rows of the faiss-graph runs (exact up to 100k, IVF above)")
    parser.add_argument("--synthetic-sizes", type=int, nargs="*", default=[10_000_000],
                        help="nodes of the synthetic-list runs (none: skip them)")
    parser.add_argument("--graphs", nargs="+", default=["random", "clustered"], choices=["random", "clustered"])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--synthetic-repeats", type=int, default=4, help="runs per synthetic size (first = cold pages)")
    parser.add_argument("--faiss-threads", type=int, default=None,
                        help="faiss OpenMP threads (default: faiss's own, all cores; 1 is faster on a shared machine)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-synthetic", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure_selection_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    if args.child_synthetic:
        size, k, kind, repeats = args.child_synthetic
        measure_synthetic_child(int(size), int(k), kind, int(repeats))
        return
    os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
    import faiss  # noqa: PLC0415

    if args.faiss_threads:
        faiss.omp_set_num_threads(args.faiss_threads)
    meta = {"machine": {**machine(), "faiss_threads": faiss.omp_get_max_threads()}, "repeats": args.repeats,
            "synthetic_repeats": args.synthetic_repeats}
    rows = []
    if args.sizes:
        print(f"{'n':>9} {'backend':>7} {'edges':>10} {'graph s':>8} {'fwd s':>7} {'sel full s':>10} "
              f"{'sel 50% s':>9} {'sel MB':>7} {'dense s':>8} {'ours s':>7} {'speedup':>7}")
    for num_rows in args.sizes:
        row = run_embeddings(num_rows, args.k, args.dim, args.repeats, with_dense=num_rows <= 10_000)
        rows.append(row)
        dense = (f"{row['dense_end_to_end_half_s']:8.2f} {row['end_to_end_half_s']:7.3f} {row['speedup_end_to_end']:6.0f}x"
                 f" | selection: dense {row['dense_select_half_s']:.2f} s,"
                 f" ours {row['selection_given_graph_half_s'] * 1e3:.1f} ms,"
                 f" {row['speedup_selection']:.0f}x; same set: {row['dense_same_set']}"
                 if "speedup_end_to_end" in row else "")
        print(f"{num_rows:>9} {row['backend']:>7} {row['edges']:>10} {row['graph_build_s']:8.2f} {row['forward_s']:7.3f} "
              f"{row['select_full_ranking_s']:10.3f} {row['select_half_s']:9.3f} {row['selection_peak_extra_mb']:7.0f} {dense}",
              flush=True)
    if args.synthetic_sizes:
        print(f"\nsynthetic neighbour lists, k = {args.k}, union CSR + forward + full ranking "
              f"(median of warm runs; first run = cold pages)")
        print(f"{'n':>10} {'graph':>9} {'edges':>11} {'CSR s':>6} {'fwd s':>6} {'rev s':>6} {'total s':>8} "
              f"{'cpu s':>6} {'peak MB':>8} | {'first run s':>11} {'first MB':>8}")
    for num_rows in args.synthetic_sizes:
        for kind in args.graphs:
            row = run_synthetic(num_rows, args.k, kind, args.synthetic_repeats)
            rows.append(row)
            warm, first = row["median_warm"], row["first_run"]
            print(f"{num_rows:>10} {kind:>9} {row['edges']:>11} {warm['csr_s']:6.2f} {warm['forward_s']:6.2f} "
                  f"{warm['reverse_s']:6.2f} {warm['total_s']:8.2f} {warm['cpu_s']:6.2f} {warm['peak_extra_mb']:8.0f} | "
                  f"{first['total_s']:11.2f} {first['peak_extra_mb']:8.0f}", flush=True)
            parts = row["greedy_breakdown"]
            print(f"{'':>10} greedy's halves alone: tree {parts['tree_only_s']:.2f} s; neighbour updates "
                  f"{parts['updates_in_pick_order_s']:.2f} s in pick order, {parts['updates_in_id_order_s']:.2f} s "
                  "in id order", flush=True)
    meta["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(merge_results(rows, meta), indent=2) + "\n")
        print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
