"""The selection pipeline at 1M rows on a GPU machine: kNN graph (faiss on every visible GPU when
faiss-gpu and CUDA are present, else on the CPU, which it says) + D2 forward pass + full greedy
ranking, with the time of each stage and the recall of the graph (not a test: prints, saves JSON).

    python benchmarks/gpu_pipeline.py                      # 1M rows × 384 dims, backend auto
    python benchmarks/gpu_pipeline.py --rows 20000         # CPU smoke run (a minute on 2 cores)
    python benchmarks/gpu_pipeline.py --backend ivf --device gpu --out gpu.json

Rows are synthetic: unit vectors around 1,024 Gaussian centres (the shape of sentence
embeddings) and uniform difficulty scores, both seeded. Stages:
  data       make the embeddings and scores (not part of the pipeline's cost);
  graph      ``hf_d2.knn_graph``: index build/train + search + exact re-ranking + union CSR
             + the recall check (--recall-sample rows searched exactly; its seconds: recall_s);
             its own split (index, search) and the measured recall@k come from ``graph.info``;
  forward    ``hf_d2.forward_pass`` (CPU, numba);
  reverse    ``hf_d2.reverse_pass`` over all rows: the full ranking, every pruning rate a prefix;
  selection  forward + reverse; total = graph + selection.
Peak RSS growth of this process over the pipeline is sampled with psutil when it is installed.
The machine (GPUs seen by faiss, CPU count) goes into the JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results" / "gpu_pipeline.json"


def synthetic_rows(num_rows: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float32 unit vectors around 1,024 centres and (n,) float64 scores in [0, 1)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1024, dim)).astype(np.float32)
    embeddings = np.empty((num_rows, dim), dtype=np.float32)
    for start in range(0, num_rows, 262_144):  # blockwise: no (n, d) float64 temporaries
        stop = min(num_rows, start + 262_144)
        block = centres[rng.integers(0, 1024, size=stop - start)]
        block += 0.35 * rng.standard_normal((stop - start, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        embeddings[start:stop] = block
    return embeddings, np.random.default_rng(seed + 1).random(num_rows)


class PeakRss:
    """Largest RSS of this process (sampled every 5 ms) minus the RSS at entry, in MB; None
    without psutil."""

    def __enter__(self):
        try:
            import psutil  # noqa: PLC0415
        except ImportError:
            self._process = None
            return self
        self._process = psutil.Process()
        self.baseline = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.005)

    def __exit__(self, *exc):
        if self._process is not None:
            self._stop.set()
            self._thread.join()

    @property
    def peak_mb(self) -> float | None:
        return None if self._process is None else (self.peak - self.baseline) / 2**20


def describe_devices() -> dict:
    import faiss  # noqa: PLC0415

    from hf_d2.graph import gpu_count  # noqa: PLC0415 - the same check knn_graph uses

    gpus = gpu_count(faiss)
    return {"faiss": faiss.__version__, "faiss_gpus": gpus, "faiss_has_gpu_support": hasattr(faiss, "StandardGpuResources"),
            "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to select from (default 1M)")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension (MiniLM: 384)")
    parser.add_argument("--k", type=int, default=5, help="neighbours per row (hf-d2's default)")
    parser.add_argument("--backend", default="auto",
                        help="kNN backend: auto | exact | hnsw | ivf | ivfpq | factory:<faiss string>")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--recall-sample", type=int, default=2_000, help="rows checked against exact search (0 = off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = parser.parse_args()
    if args.rows < 2 * args.k:
        parser.error(f"--rows must be at least 2 × k = {2 * args.k}; got {args.rows}.")
    os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
    import hf_d2  # noqa: PLC0415

    devices = describe_devices()
    where = (f"on {devices['faiss_gpus']} GPU(s)" if devices["faiss_gpus"] and args.device != "cpu"
             else "on the CPU (" + ("no faiss GPU support" if not devices["faiss_has_gpu_support"]
                                    else "no CUDA device visible to faiss" if not devices["faiss_gpus"]
                                    else "--device cpu") + ")")
    print(f"hf-d2 pipeline benchmark: {args.rows:,} rows × {args.dim} dims, k = {args.k}, backend {args.backend}; "
          f"kNN search {where}", flush=True)

    # compile the numba kernels (or load them from the cache) outside the timings
    warm = hf_d2.knn_graph(synthetic_rows(2_000, args.dim, 99)[0], k=args.k, check_recall=0)
    hf_d2.reverse_pass(warm, hf_d2.forward_pass(warm, np.ones(warm.num_nodes)), warm.num_nodes)

    stages = {}
    started = time.perf_counter()
    embeddings, scores = synthetic_rows(args.rows, args.dim, args.seed)
    stages["data_s"] = time.perf_counter() - started
    print(f"  data      {stages['data_s']:8.2f} s", flush=True)
    with PeakRss() as memory:
        started = time.perf_counter()
        graph = hf_d2.knn_graph(embeddings, k=args.k, backend=args.backend, device=args.device, seed=args.seed,
                                check_recall=args.recall_sample)
        stages["graph_s"] = time.perf_counter() - started
        print(f"  graph     {stages['graph_s']:8.2f} s  ({graph.backend} on {graph.info['device']}: index "
              f"{graph.info['index_s']:.2f} s, search + re-rank {graph.info['search_s']:.2f} s; recall@{args.k} "
              f"{'n/a' if graph.recall is None else format(graph.recall, '.4f')}; {graph.num_edges:,} edges)", flush=True)
        started = time.perf_counter()
        forward_scores = hf_d2.forward_pass(graph, scores)
        stages["forward_s"] = time.perf_counter() - started
        print(f"  forward   {stages['forward_s']:8.2f} s", flush=True)
        started = time.perf_counter()
        ranking = hf_d2.reverse_pass(graph, forward_scores, graph.num_nodes)
        stages["reverse_s"] = time.perf_counter() - started
        print(f"  reverse   {stages['reverse_s']:8.2f} s  (full ranking of {ranking.order.shape[0]:,} rows)", flush=True)
    stages["selection_s"] = stages["forward_s"] + stages["reverse_s"]
    stages["total_s"] = stages["graph_s"] + stages["selection_s"]
    print(f"  total     {stages['total_s']:8.2f} s  (graph + selection; peak extra memory "
          f"{'n/a' if memory.peak_mb is None else format(memory.peak_mb, '.0f') + ' MB'})", flush=True)
    result = {
        "rows": args.rows, "dim": args.dim, "k": args.k, "requested_backend": args.backend, "device_requested": args.device,
        "graph": {key: value for key, value in graph.info.items()}, "recall_at_k": graph.recall,
        "edges": graph.num_edges, "stages": stages, "peak_extra_mb": memory.peak_mb,
        "search_ran_on": graph.info["device"], "machine": devices,
        "first_picks": ranking.order[:10].tolist(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    sys.exit(main())
