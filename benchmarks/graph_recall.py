"""Approximate kNN graphs against exact search: time, recall@k, and what they do to the D2
coreset; and hf-d2 end to end against a dense O(n²) D2 (not a test: prints a table, saves JSON).

For each size n and each backend (exact, hnsw, ivf, ivfpq) on synthetic clustered unit vectors
(256 Gaussian clusters, d dimensions, random difficulty scores):
* graph_s: ``hf_d2.knn_graph`` wall time (index build + search + exact re-ranking + CSR),
  median of --repeats runs;
* recall: recall@k of the search's own lists against exact search (``recall_at_k`` on all n
  rows up to 30k, 5,000 sampled rows above);
* overlap: the share of the exact-graph D2 coreset (50% kept, bare D2: the default parameters,
  no pre-filter) that the coreset on this backend's graph also keeps;
* end_to_end_s: graph + forward + greedy (``hf_d2.d2_select(..., knn=backend)``), median;
* dense_s (up to --dense-max rows): ``dense_d2`` from benchmarks/select_scale.py, docs/method.md §2-4 with an
  n × n distance matrix, dense forward pass and argmax per pick (float32 above 10k rows, for
  memory), once; speedup = dense_s / end_to_end_s.

    python benchmarks/graph_recall.py                               # d = 384 at 10k and 30k
    python benchmarks/graph_recall.py --dim 64 --sizes 10000 30000 100000
    python benchmarks/graph_recall.py --sizes 3000 --backends exact hnsw --no-save   # smoke run

Results merge into benchmarks/results/graph_recall.json (rows keyed by n, d, backend).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from select_scale import clustered_embeddings, dense_d2  # noqa: E402 - the shared dense baseline

RESULTS = Path(__file__).parent / "results" / "graph_recall.json"
BACKENDS = ("exact", "hnsw", "ivf", "ivfpq")


def timed(function, repeats: int):
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), timings, result


def run_size(num_rows: int, dim: int, k: int, backends: list[str], repeats: int, dense_max: int) -> list[dict]:
    import hf_d2  # noqa: PLC0415
    from hf_d2.graph import recall_at_k  # noqa: PLC0415

    embeddings = clustered_embeddings(num_rows, dim, seed=0)
    scores = np.random.default_rng(1).random(num_rows)
    budget = num_rows // 2
    recall_rows = num_rows if num_rows <= 30_000 else 5_000
    exact_set = None
    rows = []
    for backend in backends:
        graph_s, graph_runs, graph = timed(
            lambda backend=backend: hf_d2.knn_graph(embeddings, k=k, backend=backend, check_recall=0), repeats)
        # the search's own lists (directed) against exact search
        directed = hf_d2.knn_graph(embeddings, k=k, backend=backend, symmetric=False, check_recall=0)
        recall = recall_at_k(embeddings, directed, k, sample_size=recall_rows, seed=0)
        end_to_end_s, end_to_end_runs, picks = timed(
            lambda backend=backend: hf_d2.d2_select(embeddings, scores, budget, k=k, knn=backend), repeats)
        selection_s, _, _ = timed(lambda graph=graph: hf_d2.d2_select(None, scores, budget, graph=graph), repeats)
        coreset = set(picks.tolist())
        if backend == "exact":
            exact_set = coreset
        row = {"n": num_rows, "dim": dim, "k": k, "backend": backend, "graph_s": graph_s, "graph_runs_s": graph_runs,
               "index_s": graph.info["index_s"], "search_s": graph.info["search_s"],
               "candidates": graph.info["candidates"], "recall_at_k": recall, "recall_rows": recall_rows,
               "edges": graph.num_edges, "selection_given_graph_s": selection_s,
               "end_to_end_s": end_to_end_s, "end_to_end_runs_s": end_to_end_runs,
               "coreset_overlap_with_exact": None if exact_set is None else len(coreset & exact_set) / budget,
               "measured_on": time.strftime("%Y-%m-%d"), "load_average_1m": round(os.getloadavg()[0], 2)}
        rows.append(row)
        print(f"{num_rows:>7} {dim:>4} {backend:>6} {graph_s:8.2f} {recall:7.4f} "
              f"{'' if row['coreset_overlap_with_exact'] is None else format(row['coreset_overlap_with_exact'], '.4f'):>8} "
              f"{end_to_end_s:8.2f}", flush=True)
    if num_rows <= dense_max:
        dtype = np.float64 if num_rows <= 10_000 else np.float32
        started = time.perf_counter()
        dense_order, phases = dense_d2(embeddings, scores, budget, k, dtype=dtype)
        dense_s = time.perf_counter() - started
        dense_set = set(dense_order.tolist())
        for row in rows:
            row.update({"dense_s": dense_s, "dense_graph_s": phases["graph"], "dense_select_s": phases["select"],
                        "dense_dtype": np.dtype(dtype).name, "speedup_end_to_end": dense_s / row["end_to_end_s"]})
        if exact_set is not None:
            rows[0]["dense_coreset_overlap_with_exact"] = len(dense_set & exact_set) / budget
        print(f"{num_rows:>7} {dim:>4} {'dense':>6} {phases['graph']:8.2f} {'':>7} "
              f"{len(dense_set & exact_set) / budget if exact_set else float('nan'):8.4f} {dense_s:8.2f}  "
              f"({np.dtype(dtype).name}; speedups: "
              + ", ".join(f"{row['backend']} {row['speedup_end_to_end']:.0f}x" for row in rows) + ")", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=5, help="neighbours per node (hf-d2's default)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-max", type=int, default=30_000, help="largest n for the dense baseline")
    parser.add_argument("--faiss-threads", type=int, default=None,
                        help="faiss OpenMP threads (default: faiss's own, all cores)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
    import faiss  # noqa: PLC0415

    if args.faiss_threads:
        faiss.omp_set_num_threads(args.faiss_threads)
    import hf_d2  # noqa: PLC0415

    hf_d2.d2_select(clustered_embeddings(500, args.dim, 0), np.ones(500), 10)  # compile outside the timings
    started_load = os.getloadavg()[0]
    print(f"{'n':>7} {'d':>4} {'graph':>6} {'graph s':>8} {'recall':>7} {'overlap':>8} {'e2e s':>8}")
    rows = []
    for num_rows in args.sizes:
        rows += run_size(num_rows, args.dim, args.k, args.backends, args.repeats, args.dense_max)
    meta = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                        "faiss": faiss.__version__, "faiss_threads": faiss.omp_get_max_threads(),
                        "load_average_1m_at_start": round(started_load, 2),
                        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                        "note": "2-core VM, possibly shared with other jobs while it ran (see the load averages)"},
            "repeats": args.repeats, "data": "256 Gaussian clusters (sigma 0.35), unit-normalised, seed 0; "
            "scores uniform [0, 1), seed 1; coreset = d2_select default parameters, 50% kept"}
    if not args.no_save:
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        keys = {(row["n"], row["dim"], row["backend"]) for row in rows}
        kept = [row for row in previous.get("rows", []) if (row["n"], row["dim"], row["backend"]) not in keys]
        merged = sorted(kept + rows, key=lambda row: (row["dim"], row["n"], BACKENDS.index(row["backend"])))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({**meta, "rows": merged}, indent=2) + "\n")
        print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
