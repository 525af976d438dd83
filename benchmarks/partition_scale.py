"""partition='cluster' at scale: overlap with global D2, and the speed-up of --workers (not a test: it
prints figures and saves JSON).

The data (seeded): --rows clustered unit-norm vectors of --dim dimensions around 256 centres
(``select_scale.clustered_embeddings``) and uniform difficulty scores (``default_rng(seed + 1)``).

Every configuration runs ``hf_d2.selection.select("d2", budget, scores=..., embeddings=...,
knn=--knn, ...)`` at --rate (budget = round(rate · n)) in a fresh child process (the data made there
before the clock starts; numba's kernels compiled by a small selection first):
* ``global``: partition "none", one kNN graph over all n rows (--knn, default ivf: an exact graph
  over 1M rows takes too long on 2 cores);
* ``cluster-P`` for each P of --partitions and each W of --workers: partition "cluster",
  num_partitions P (seeded faiss k-means, budgets proportional to size), D2 with --partition-knn (default: --knn)
  inside each partition, run in this process (W = 1) or in a pool of W spawned processes
  (``hf_d2.selection.groups``; each gets cores // W threads);
* ``random``: ``select("random", ...)`` at the same budget, as the overlap a coreset with no
  relation to D2's would have (about --rate).

Per configuration: wall time of the ``select`` call (median of --repeats; a pool's start-up is
included), CPU seconds (the process and its reaped pool workers), peak extra memory (RSS of the
process and its children, sampled every 20 ms, minus the process's RSS before the call; shared pages
of pool workers count once per process), the graph summary the selection records, and the coreset
overlap = |coreset ∩ global coreset| / budget. Workers = 1 and workers = W > 1 of the same P are
compared for an identical coreset (same set, same priority order).

    python benchmarks/partition_scale.py --rows 100000                  # quick (~2 min on 2 cores)
    python benchmarks/partition_scale.py                                # 1M rows (~15 min on 2 cores)
    python benchmarks/partition_scale.py --partitions 4 --workers 1 2   # fewer configurations
    python benchmarks/partition_scale.py --partition-knn exact --workers 1   # exact graphs inside the partitions

Results merge into benchmarks/results/partition_scale.json: ``runs``, one entry per (rows, dim, knn,
partition knn, rate), each with its ``configs``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine_info import machine  # noqa: E402
from select_scale import PeakRss, clustered_embeddings  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "partition_scale.json"


# select() gives partition g the seed SeedSequence([seed, g]).generate_state(1)[0] (a uint32), and
# hf_d2.graph.backends.build_index sets it as faiss's ClusteringParameters.seed, a C int: a derived
# seed >= 2**31 raises OverflowError for ivf / ivfpq / IVF factory strings. Seed 11 is the smallest
# whose first 8 partitions all get seeds below 2**31 (bug reported; this benchmark works around it).
FAISS_SEED_LIMIT = 2**31


def overflowing_groups(seed: int, num_groups: int) -> list[int]:
    """Positions among the first ``num_groups`` partitions whose derived seed faiss would reject."""
    return [group for group in range(num_groups)
            if int(np.random.SeedSequence([seed, group]).generate_state(1)[0]) >= FAISS_SEED_LIMIT]


def make_data(num_rows: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    embeddings = clustered_embeddings(num_rows, dim, seed)
    scores = np.random.default_rng(seed + 1).random(num_rows)
    return embeddings, scores


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(config: dict, order_path: str) -> None:
    """Child process: make the data, warm the kernels, time ``select`` --repeats times, save the last order."""
    os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
    from hf_d2.selection import select  # noqa: PLC0415

    embeddings, scores = make_data(config["rows"], config["dim"], config["seed"])
    budget = int(round(config["rate"] * config["rows"]))
    keywords = {"scores": scores, "embeddings": embeddings, "seed": config["seed"]}
    if config["method"] == "d2":
        keywords.update(partition=config["partition"], num_partitions=config["num_partitions"],
                        workers=config["workers"], knn=config["knn"], k=config["k"])
    warm_rows = min(config["rows"], 5_000)  # compiles (or loads) the numba kernels outside the clock
    select(config["method"], warm_rows // 2, scores=scores[:warm_rows], embeddings=embeddings[:warm_rows],
           **({"knn": "exact", "k": config["k"]} if config["method"] == "d2" else {}))
    runs, details = [], None
    for _ in range(config["repeats"]):
        cpu_started = cpu_seconds()
        with PeakRss(children=True, interval_s=0.02) as memory:
            started = time.perf_counter()
            details = select(config["method"], budget, return_details=True, **keywords)
            seconds = time.perf_counter() - started
        runs.append({"seconds": seconds, "cpu_s": cpu_seconds() - cpu_started, "peak_extra_mb": memory.peak_mb})
    np.save(order_path, details.order)
    graph = details.graph
    if graph and "per_group" in graph:
        graph = {**graph, "group_sizes": [group["num_nodes"] for group in graph["per_group"]]}
        graph.pop("per_group")
    print(json.dumps({"runs": runs, "num_groups": details.num_groups, "graph": graph}))


def run_config(config: dict, folder: Path) -> tuple[dict, np.ndarray]:
    order_path = folder / f"{config['name']}-w{config['workers']}.npy"
    completed = subprocess.run([sys.executable, __file__, "--child", json.dumps(config), str(order_path)],
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{config['name']} (workers {config['workers']}) failed:\n{completed.stderr[-3000:]}")
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    runs = measured["runs"]
    row = {"config": config["name"], "method": config["method"], "partition": config["partition"],
           "num_partitions": config["num_partitions"], "workers": config["workers"], "repeats": config["repeats"],
           "median_s": statistics.median(run["seconds"] for run in runs),
           "min_s": min(run["seconds"] for run in runs),
           "median_cpu_s": statistics.median(run["cpu_s"] for run in runs),
           "peak_extra_mb": max(run["peak_extra_mb"] for run in runs),
           "num_groups": measured["num_groups"], "graph": measured["graph"], "runs": runs}
    return row, np.load(order_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.5, help="fraction kept")
    parser.add_argument("--k", type=int, default=5, help="neighbours per row (D2's default)")
    parser.add_argument("--knn", default="ivf", help="kNN backend of the global D2 run (and of the partitions' by default)")
    parser.add_argument("--partition-knn", default=None,
                        help="kNN backend inside the partitions (default: --knn); e.g. exact, to tell the partitions' "
                        "own effect on the coreset from an approximate graph's")
    parser.add_argument("--partitions", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per configuration (default 3 up to 200,000 rows, else 1)")
    parser.add_argument("--seed", type=int, default=11,
                        help="seed of the data, the k-means and the selection (default 11: see FAISS_SEED_LIMIT)")
    parser.add_argument("--note", default="machine possibly shared with other jobs while it ran (see the load "
                        "averages): wall times are upper bounds", help="recorded in the machine metadata")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child[0]), args.child[1])
        return
    too_large = [count for count in args.partitions if overflowing_groups(args.seed, count)]
    if too_large and (args.partition_knn or args.knn) != "exact":
        raise SystemExit(f"--seed {args.seed} gives partition(s) {overflowing_groups(args.seed, max(too_large))} of "
                         f"--partitions {max(too_large)} a derived seed >= 2**31, which faiss's IVF training rejects "
                         "(OverflowError in hf_d2/graph/backends.py build_index); pick another seed, e.g. 11.")
    repeats = args.repeats or (3 if args.rows <= 200_000 else 1)
    partition_knn = args.partition_knn or args.knn
    base = {"rows": args.rows, "dim": args.dim, "rate": args.rate, "k": args.k, "knn": args.knn,
            "partition_knn": partition_knn, "seed": args.seed, "repeats": repeats}
    configs = [{**base, "name": "global", "method": "d2", "partition": "none", "num_partitions": None, "workers": 1}]
    configs += [{**base, "knn": partition_knn, "name": f"cluster-{count}", "method": "d2", "partition": "cluster",
                 "num_partitions": count, "workers": workers} for count in args.partitions for workers in args.workers]
    configs.append({**base, "name": "random", "method": "random", "partition": None, "num_partitions": None,
                    "workers": 1})
    meta = machine(args.note)
    started = time.perf_counter()
    rows, orders = [], {}
    print(f"{args.rows:,} rows × {args.dim} dims, rate {args.rate}, k {args.k}, knn {args.knn} "
          f"(inside partitions: {partition_knn}), "
          f"{repeats} timed run(s) each")
    print(f"{'config':<11} {'workers':>7} {'groups':>6} {'backend':>8} {'median s':>9} {'cpu s':>7} {'peak MB':>8} "
          f"{'overlap':>8} {'= w1':>5}")
    with tempfile.TemporaryDirectory(prefix="hf-d2-partition-") as tmp:
        for config in configs:
            row, order = run_config(config, Path(tmp))
            orders[(config["name"], config["workers"])] = order
            global_set = orders[("global", 1)]
            row["overlap_with_global"] = float(np.intersect1d(order, global_set).size / max(1, global_set.size))
            single = orders.get((config["name"], 1))
            if config["workers"] > 1 and single is not None:
                row["same_set_as_workers_1"] = bool(np.array_equal(np.sort(order), np.sort(single)))
                row["same_order_as_workers_1"] = bool(np.array_equal(order, single))
            rows.append(row)
            backend = (row["graph"] or {}).get("backend", "-")
            same = {True: "yes", False: "NO"}.get(row.get("same_order_as_workers_1"), "")
            print(f"{row['config']:<11} {row['workers']:>7} {row['num_groups']:>6} {backend:>8} {row['median_s']:9.2f} "
                  f"{row['median_cpu_s']:7.1f} {row['peak_extra_mb']:8.0f} {row['overlap_with_global']:8.4f} {same:>5}",
                  flush=True)
    by_key = {(row["config"], row["workers"]): row for row in rows}
    speedups = {}
    for count in args.partitions:
        single = by_key.get((f"cluster-{count}", 1))
        for workers in args.workers:
            row = by_key.get((f"cluster-{count}", workers))
            if single and row and workers > 1:
                speedups[f"cluster-{count} workers {workers} vs 1"] = single["median_s"] / row["median_s"]
            if row:
                speedups[f"cluster-{count} workers {workers} vs global"] = by_key[("global", 1)]["median_s"] / row["median_s"]
    for name, value in speedups.items():
        print(f"speed-up {name}: {value:.2f}x")
    meta["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    meta["benchmark_wall_s"] = round(time.perf_counter() - started, 1)
    entry = {**base, "budget": int(round(args.rate * args.rows)), "machine": meta, "speedups": speedups,
             "configs": rows}
    if not args.no_save:
        previous = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
        key = (args.rows, args.dim, args.knn, partition_knn, args.rate)
        kept = [run for run in previous["runs"]
                if (run["rows"], run["dim"], run["knn"], run.get("partition_knn", run["knn"]), run["rate"]) != key]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        runs = sorted(kept + [entry], key=lambda run: (run["rows"], run.get("partition_knn", run["knn"]) != run["knn"]))
        args.out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
