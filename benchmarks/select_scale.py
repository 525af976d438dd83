"""Scale benchmark for the D2 selection engine (not a test: it prints figures and saves JSON).

For n in 10k, 100k, 1M: kNN graph build, forward pass and reverse selection times (median of
--repeats runs) and the selection's peak extra memory (measured in a fresh child process that
loads the graph, so nothing else is counted). At 10k also a dense O(n²) implementation of the
same algorithm written from D2-SPEC (n × n distance and message matrices, argmax per pick, as
the reference does), checked to pick the same set, for the speed ratio.

    python benchmarks/select_scale.py                 # 10k, 100k, 1M (about 5 minutes on 2 cores)
    python benchmarks/select_scale.py --sizes 10000   # quick
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


def clustered_embeddings(num_rows: int, dim: int, seed: int) -> np.ndarray:
    """Unit-norm vectors around 256 random centres: the shape of sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    embeddings = centres[rng.integers(0, 256, size=num_rows)] + 0.35 * rng.normal(size=(num_rows, dim)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings


def median_time(function, repeats: int) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def dense_d2(embeddings: np.ndarray, scores: np.ndarray, budget: int, k: int, gamma_forward: float = 1.0,
             gamma_reverse: float = 0.1, epsilon: float = 1e-7) -> tuple[np.ndarray, dict[str, float]]:
    """D2-SPEC §2-4 with dense n × n matrices, vectorised numpy (a fair dense baseline).
    Returns (pick order, seconds per phase: graph = distances + kNN, select = forward + greedy)."""
    started = time.perf_counter()
    x = embeddings.astype(np.float64)
    squared_norms = (x * x).sum(1)
    distances = np.sqrt(np.maximum(squared_norms[:, None] + squared_norms[None, :] - 2 * x @ x.T, 0))
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argpartition(distances, k, axis=1)[:, :k]
    adjacency = np.zeros(distances.shape, dtype=bool)
    adjacency[np.arange(len(x))[:, None], neighbours] = True
    adjacency |= adjacency.T
    graph_done = time.perf_counter()
    messages = np.where(adjacency, np.exp(-gamma_forward * distances) * np.maximum(scores, epsilon)[None, :], 0.0)
    current = scores + messages.sum(1)
    selected = np.zeros(len(x), dtype=bool)
    order = np.empty(budget, dtype=np.int64)
    for step in range(budget):
        picked = int(np.argmax(np.where(selected, -np.inf, current)))
        order[step] = picked
        selected[picked] = True
        targets = adjacency[picked] & ~selected
        current[targets] -= np.exp(-gamma_reverse * distances[picked, targets]) * current[picked]
    finished = time.perf_counter()
    return order, {"graph": graph_done - started, "select": finished - graph_done}


class PeakRss:
    """Samples this process's RSS every 2 ms in a thread; ``peak_mb`` is the largest sample
    minus the RSS when the block started (ru_maxrss would include earlier peaks)."""

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

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


def measure_selection_child(graph_path: str, budget: int, repeats: int) -> None:
    """Child process: load a graph and scores, then time and measure forward + reverse."""
    from hf_d2 import KnnGraph, forward_pass, reverse_pass  # noqa: PLC0415

    stored = np.load(graph_path)
    graph = KnnGraph(stored["indptr"], stored["indices"], stored["distances"], int(stored["num_nodes"]))
    scores = stored["scores"]
    reverse_pass(graph, forward_pass(graph, scores), 1)  # compile outside the measurement
    with PeakRss() as memory:
        forward_time, forward_scores = median_time(lambda: forward_pass(graph, scores), repeats)
        reverse_full, _ = median_time(lambda: reverse_pass(graph, forward_scores, graph.num_nodes), repeats)
        reverse_budget, _ = median_time(lambda: reverse_pass(graph, forward_scores, budget), repeats)
    print(json.dumps({
        "forward_s": forward_time, "select_full_ranking_s": reverse_full, "select_half_s": reverse_budget,
        "selection_peak_extra_mb": memory.peak_mb,
    }))


def run_size(num_rows: int, k: int, dim: int, backend: str, repeats: int, with_dense: bool) -> dict:
    import hf_d2  # noqa: PLC0415

    embeddings = clustered_embeddings(num_rows, dim, seed=0)
    scores = np.random.default_rng(1).random(num_rows)
    graph_repeats = repeats if num_rows <= 100_000 else 1
    graph_time, graph = median_time(lambda: hf_d2.knn_graph(embeddings, k=k, backend=backend), graph_repeats)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "graph.npz")
        np.savez(path, indptr=graph.indptr, indices=graph.indices, distances=graph.distances,
                 num_nodes=graph.num_nodes, scores=scores)
        child = subprocess.run(
            [sys.executable, __file__, "--child", path, str(num_rows // 2), str(repeats)],
            check=True, capture_output=True, text=True,
        )
    row = {"n": num_rows, "k": k, "dim": dim, "backend": backend, "edges": graph.num_edges,
           "graph_build_s": graph_time, "graph_mb": graph.nbytes() / 2**20,
           **json.loads(child.stdout.strip().splitlines()[-1])}
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
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure_selection_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
    rows = []
    print(f"{'n':>9} {'backend':>7} {'edges':>10} {'graph s':>8} {'fwd s':>7} {'sel full s':>10} "
          f"{'sel 50% s':>9} {'sel MB':>7} {'dense s':>8} {'ours s':>7} {'speedup':>7}")
    for num_rows in args.sizes:
        backend = "exact" if num_rows <= 100_000 else "ivf"
        row = run_size(num_rows, args.k, args.dim, backend, args.repeats, with_dense=num_rows <= 10_000)
        rows.append(row)
        dense = (f"{row['dense_end_to_end_half_s']:8.2f} {row['end_to_end_half_s']:7.3f} {row['speedup_end_to_end']:6.0f}x"
                 f" | selection: dense {row['dense_select_half_s']:.2f} s,"
                 f" ours {row['selection_given_graph_half_s'] * 1e3:.1f} ms,"
                 f" {row['speedup_selection']:.0f}x; same set: {row['dense_same_set']}"
                 if "speedup_end_to_end" in row else "")
        print(f"{num_rows:>9} {backend:>7} {row['edges']:>10} {row['graph_build_s']:8.2f} {row['forward_s']:7.3f} "
              f"{row['select_full_ranking_s']:10.3f} {row['select_half_s']:9.3f} {row['selection_peak_extra_mb']:7.0f} {dense}",
              flush=True)
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine, "repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
