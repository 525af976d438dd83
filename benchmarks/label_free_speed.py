"""How long a label-free prune takes beyond the embedding stage, at 10,000 rows (not a test:
prints the table, saves JSON).

Protocol: a seeded 10,000-row sample of the bundled IMDB copy with its MiniLM embeddings as a
column (``embedding_column``), so no embedding model runs; labels hidden (``label_free=True``).
The label-free default then runs everything else: k-means pseudo-labels (best of 5 starts), the
difficulty head trained on them (10 epochs), the margin-free selection (D2 inside each
pseudo-label cluster, near-duplicate groups). The stage cache is off (``use_cache=False``), so
every run recomputes the head. For comparison the labelled default on the same rows (the head on
the real labels, D2 inside each class) is timed the same way. Each prune runs ``--repeats`` times
after one warm-up (numba compiles, faiss loads); the median is reported with the load average.
Issue 25's goal: seconds on 10,000 rows beyond the embedding stage.

    python benchmarks/label_free_speed.py            # writes benchmarks/results/label_free_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).parent))

from machine_info import machine  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "label_free_speed.json"


def imdb_sample(num_rows: int, seed: int = 0):
    """A seeded IMDB sample: label, text (a row id: no model reads it) and emb (MiniLM)."""
    import datasets  # noqa: PLC0415
    from quality_tasks import imdb_sample as sample  # noqa: PLC0415

    rows, features, labels = sample(num_rows, seed)
    return datasets.Dataset.from_dict({"text": [f"row {i}" for i in rows], "label": labels.tolist(),
                                       "emb": features.tolist()})


def timed(dataset, rate: float, repeats: int, **options) -> tuple[float, list[float], dict]:
    import hf_d2  # noqa: PLC0415

    def once():
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            result = hf_d2.prune_with_scores(dataset, rate, embedding_column="emb", cache_dir=cache, use_cache=False,
                                             seed=0, **options)
            return time.perf_counter() - started, result.record

    once()
    runs = [once() for _ in range(repeats)]
    record = runs[0][1]
    stages = {row["stage"]: row["seconds"] for row in record.timings}
    return statistics.median(run[0] for run in runs), [round(run[0], 3) for run in runs], {
        "partition": record.partition_text(), "stages_first_run": stages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    dataset = imdb_sample(args.rows)
    rows = []
    for name, options in (("label-free default", {"label_free": True}), ("labelled default", {})):
        load_before = os.getloadavg()[0]
        median, runs, extra = timed(dataset, args.rate, args.repeats, **options)
        row = {"run": name, "rows": args.rows, "rate": args.rate, "median_seconds": round(median, 3), "runs": runs,
               **extra, "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
        rows.append(row)
        print(f"{name}: {median:.2f} s (runs {runs}; stages {extra['stages_first_run']}), load {row['load_average']}",
              flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    note = "embeddings given as a column; everything after the embedding stage timed; other jobs may share the cores"
    args.output.write_text(json.dumps({"machine": machine(note), "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
