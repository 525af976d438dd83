"""Peak memory of ``hf-d2 prune`` at 2M rows (not a test: it prints figures and saves JSON).

The data, made in a temporary folder (seeded):
* a Parquet file of --rows rows: ``text`` (a short synthetic sentence), ``label`` (2 classes) and
  ``difficulty`` (float32, uniform);
* the embedding stage's cache entry for those texts (``hf_d2.embed.embedding_entry``, the
  bundled all-MiniLM-L6-v2's key): (n, --dim) float32 unit vectors around 1,024 centres, written
  block by block into the memory-mapped cache file as the embedding stage writes it. Embedding 2M
  texts with MiniLM on 2 CPU cores would take hours; this is "embeddings from a cached stage".

Then ``hf-d2 prune DATA --rate R --score-column difficulty --knn K --cache-dir C --output O`` runs in a
child process (the real command: plan, content hashes, the embedding stage's cache hit as a read-only
memory map, the kNN graph, D2, the pruned dataset, scores.parquet and selection.json written), and its
memory is sampled every 50 ms with psutil: ``rss`` (resident set: what ``top`` shows, including the
pages of memory-mapped files while they are resident) and ``anonymous`` (rss minus file-backed and
shared pages: the memory the process cannot give back without swapping).

--dynamics also measures the pivot of a training-dynamics table of --rows rows × 10 epochs × 2
classes, from Parquet in row batches (``DynamicsArrays.from_parquet``, what the head stage does)
and from the whole table in memory (``DynamicsArrays.from_table`` of ``pq.read_table``), each in a
fresh child process.

    python benchmarks/prune_memory.py                       # 2M rows × 384 dims, knn auto (slow on 2 cores)
    python benchmarks/prune_memory.py --rows 100000         # quick
    python benchmarks/prune_memory.py --dim 64 --knn ivf --dynamics   # 2M × 64, IVF: 12.5 min on 2 shared cores
    python benchmarks/prune_memory.py --dynamics            # + the dynamics pivot

Writes benchmarks/results/prune_memory.json (one entry per (rows, dim, knn) run, merged).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine_info import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "prune_memory.json"
BLOCK = 262_144
WORDS = np.array("the a film movie story plot actor scene good bad great dull funny long short slow fast music "
                 "ending characters script camera sound light dark warm cold".split())


def make_texts(path: Path, num_rows: int, seed: int) -> None:
    """A Parquet file of (text, label, difficulty), written in blocks."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    schema = pa.schema([("text", pa.string()), ("label", pa.int64()), ("difficulty", pa.float32())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, num_rows, BLOCK):
            size = min(BLOCK, num_rows - start)
            words = WORDS[rng.integers(0, WORDS.size, size=(size, 8))]
            texts = [f"row {start + i}: " + " ".join(row) for i, row in enumerate(words)]
            writer.write_table(pa.table({"text": texts, "label": rng.integers(0, 2, size),
                                         "difficulty": rng.random(size, dtype=np.float32)}, schema=schema))


def write_cached_embeddings(data: Path, cache: Path, dim: int, seed: int) -> Path:
    """The embedding stage's cache entry for ``data``'s texts: synthetic unit vectors, written in blocks."""
    from hf_d2.cache import array_file, save_metadata  # noqa: PLC0415
    from hf_d2.data import resolve_dataset  # noqa: PLC0415
    from hf_d2.embed import DEFAULT_EMBEDDING_MODEL, EMBEDDING_PARAMS, embedding_entry  # noqa: PLC0415

    dataset = resolve_dataset(str(data)).dataset
    max_length = EMBEDDING_PARAMS["embedding_max_length"].default
    entry = embedding_entry(dataset, "text", model=None, max_length=max_length, cache_dir=cache)
    path, key, revision = entry.path, entry.key, entry.revision
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1024, dim)).astype(np.float32)
    with array_file(path, (dataset.num_rows, dim)) as vectors:
        for start in range(0, dataset.num_rows, BLOCK):
            stop = min(dataset.num_rows, start + BLOCK)
            block = centres[rng.integers(0, 1024, stop - start)] + 0.35 * rng.standard_normal((stop - start, dim),
                                                                                              dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            vectors[start:stop] = block
    save_metadata(path, {"model": DEFAULT_EMBEDDING_MODEL, "revision": revision, "max_length": max_length,
                         "normalize": True, "pair_format": None, "cache_key": key, "num_rows": dataset.num_rows,
                         "dimensions": dim, "note": "synthetic vectors written by benchmarks/prune_memory.py"})
    return path


class Sampler:
    """Peak rss and anonymous (rss − shared) memory of a process and its children, every 50 ms."""

    def __init__(self, pid: int) -> None:
        import psutil  # noqa: PLC0415

        self.process = psutil.Process(pid)
        self.peak_rss = self.peak_anonymous = 0
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        import psutil  # noqa: PLC0415

        while not self._stop.is_set():
            rss = anonymous = 0
            try:
                for process in [self.process, *self.process.children(recursive=True)]:
                    info = process.memory_info()
                    rss += info.rss
                    anonymous += info.rss - info.shared
            except psutil.Error:
                pass
            self.peak_rss, self.peak_anonymous = max(self.peak_rss, rss), max(self.peak_anonymous, anonymous)
            if not self.samples or time.perf_counter() - self.samples[-1][0] - self.started >= 1.0:
                self.samples.append((round(time.perf_counter() - self.started, 1), rss, anonymous))
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(command: list[str], env: dict[str, str]) -> dict:
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(child.pid)
    stdout, stderr = child.communicate()
    sampler.stop()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({child.returncode}):\n{stderr[-3000:]}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_gb": round(sampler.peak_rss / 1e9, 3),
            "peak_anonymous_gb": round(sampler.peak_anonymous / 1e9, 3), "stdout": stdout,
            "rss_gb_every_second": [round(rss / 1e9, 2) for _, rss, _ in sampler.samples]}


def measure_prune(args, folder: Path) -> dict:
    data, cache = folder / "data.parquet", folder / "cache"
    started = time.perf_counter()
    make_texts(data, args.rows, args.seed)
    write_cached_embeddings(data, cache, args.dim, args.seed)
    prepared = time.perf_counter() - started
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_D2_DISABLE_PROGRESS": "1",
           "HF_DATASETS_CACHE": str(folder / "datasets-cache")}
    command = [sys.executable, "-m", "hf_d2.cli", "prune", str(data), "--rate", str(args.rate), "--score-column",
               "difficulty", "--knn", args.knn, "--cache-dir", str(cache), "--output", str(folder / "out")]
    measured = run_measured(command, env)
    record = json.loads((folder / "out" / "selection.json").read_text())
    return {"rows": args.rows, "dim": args.dim, "knn": args.knn, "rate": args.rate, "data_prepared_s": round(prepared, 1),
            "command": "hf-d2 " + " ".join(command[3:]).replace(str(folder), "<tmp>"),
            "embeddings_file_gb": round(args.rows * args.dim * 4 / 1e9, 3),
            **{key: value for key, value in measured.items() if key != "stdout"},
            "kept": record["num_rows_after"], "graph": record["graph"], "timings": record["timings"],
            "summary": measured["stdout"].strip().splitlines()}


def measure_dynamics(args, folder: Path) -> dict:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from hf_d2.difficulty.dynamics import dynamics_schema  # noqa: PLC0415

    path, epochs, classes = folder / "dynamics.parquet", 10, 2
    schema = dynamics_schema(classes)
    rng = np.random.default_rng(args.seed)
    row_labels = np.random.default_rng(args.seed + 1).integers(0, classes, args.rows)  # one label a row, every epoch
    with pq.ParquetWriter(path, schema) as writer:
        for epoch in range(epochs):
            for start in range(0, args.rows, 1 << 20):
                size = min(1 << 20, args.rows - start)
                probs = rng.dirichlet(np.ones(classes), size).astype(np.float32)
                labels = row_labels[start:start + size]
                columns = {"row_index": np.arange(start, start + size), "epoch": np.full(size, epoch, np.int32),
                           "step": np.arange(size), "label": labels, "gold_prob": probs[np.arange(size), labels],
                           "pred_label": probs.argmax(1), "max_other_prob": probs.min(1),
                           "logit_margin": rng.normal(size=size).astype(np.float32),
                           "loss": rng.random(size, dtype=np.float32)}
                arrays = [pa.array(columns[name], type=schema.field(name).type) for name in schema.names[:-1]]
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), classes))
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    env = {**os.environ, "HF_D2_DISABLE_PROGRESS": "1"}
    result = {"rows": args.rows, "epochs": epochs, "classes": classes, "table_rows": args.rows * epochs,
              "parquet_gb": round(path.stat().st_size / 1e9, 3),
              "result_gb": round(args.rows * epochs * (5 * 8 + 8 * classes) / 1e9, 3)}
    for mode in ("from_parquet", "from_table"):
        measured = run_measured([sys.executable, __file__, "--pivot-child", mode, str(path)], env)
        result[mode] = {key: value for key, value in measured.items() if key not in ("stdout", "rss_gb_every_second")}
    return result


def pivot_child(mode: str, path: str) -> None:
    import pyarrow.parquet as pq  # noqa: PLC0415

    from hf_d2.difficulty.dynamics import DynamicsArrays  # noqa: PLC0415

    arrays = DynamicsArrays.from_parquet(path) if mode == "from_parquet" else DynamicsArrays.from_table(pq.read_table(path))
    print(arrays.num_examples, arrays.num_epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension (MiniLM: 384)")
    parser.add_argument("--knn", default="auto", help="--knn of the prune (auto | exact | hnsw | ivf | ivfpq | factory:...)")
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dynamics", action="store_true", help="also measure the dynamics pivot")
    parser.add_argument("--no-prune", action="store_true", help="only the dynamics pivot")
    parser.add_argument("--tmp", default=None, help="where the temporary folder goes (default: the system's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="machine possibly shared with other jobs while it ran (see the load "
                        "averages): wall times are upper bounds", help="recorded in the machine metadata")
    parser.add_argument("--pivot-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pivot_child:
        return pivot_child(*args.pivot_child)
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": [], "dynamics": []}
    entry_machine = machine(args.note)
    with tempfile.TemporaryDirectory(prefix="hf-d2-memory-", dir=args.tmp) as tmp:
        folder = Path(tmp)
        if not args.no_prune:
            run = {**measure_prune(args, folder), "machine": entry_machine}
            entry_machine["load_average_1m_after_prune"] = round(os.getloadavg()[0], 2)
            print(f"hf-d2 prune, {run['rows']:,} rows × {run['dim']} dims (embeddings file {run['embeddings_file_gb']} GB), "
                  f"knn {run['knn']} → {run['graph']['backend']}: peak rss {run['peak_rss_gb']:.2f} GB, peak anonymous "
                  f"{run['peak_anonymous_gb']:.2f} GB, {run['seconds']:.0f} s")
            for row in run["timings"]:
                print(f"  {row['stage']:<12} {row['seconds']:>8.1f} s  {row.get('cache', '')}")
            results["runs"] = [r for r in results["runs"] if (r["rows"], r["dim"], r["knn"]) !=
                               (run["rows"], run["dim"], run["knn"])] + [run]
        if args.dynamics:
            pivot = {**measure_dynamics(args, folder), "machine": entry_machine}
            print(f"dynamics pivot, {pivot['rows']:,} rows × {pivot['epochs']} epochs × {pivot['classes']} classes "
                  f"(result {pivot['result_gb']} GB):")
            for mode in ("from_parquet", "from_table"):
                print(f"  {mode:<13} peak rss {pivot[mode]['peak_rss_gb']:.2f} GB, {pivot[mode]['seconds']:.0f} s")
            results["dynamics"] = [r for r in results["dynamics"] if r["rows"] != pivot["rows"]] + [pivot]
    entry_machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    sys.exit(main())
