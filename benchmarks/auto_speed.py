"""What ``method="auto"`` adds to a prune: the same prune with ``method="d2"`` and with ``"auto"``,
on the same cached arrays, at 10,000 and 100,000 rows (not a test: prints the table, saves JSON).

Protocol: the rows carry their difficulty and embedding as columns (``score_column`` /
``embedding_column``), so no model runs and only the selection is timed, as it is on a re-run
whose stages are cached. 10,000 rows: a seeded sample of the bundled IMDB copy with its MiniLM
embeddings and the difficulty head's variability (computed once, outside the timing); 100,000
rows: synthetic, 384-dimensional, 10 classes (Gaussian class centres plus noise, unit length),
uniform scores. Each prune is run ``--repeats`` times after one warm-up (numba compiles on first
use); the median is reported with the machine's load average. What auto adds is its inner
validation (the record's ``auto.seconds``; the chosen method's own selection replaces D2's, and
may be faster or slower). The goal (issue 22): auto adds at most 5 s per rate at 10,000 rows and
at most a minute at 100,000.

    python benchmarks/auto_speed.py                 # writes benchmarks/results/auto_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).parent))

from machine_info import machine  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "auto_speed.json"


def imdb_rows(num_rows: int, seed: int = 0):
    """A seeded IMDB sample with columns label, score (variability of the head), emb (MiniLM)."""
    import datasets  # noqa: PLC0415
    from quality_tasks import imdb_sample  # noqa: PLC0415

    from hf_d2.difficulty.head import HeadConfig, head_dynamics  # noqa: PLC0415
    from hf_d2.difficulty.scores import difficulty_scores  # noqa: PLC0415

    _, features, labels = imdb_sample(num_rows, seed)
    dynamics = head_dynamics(features, labels, HeadConfig(seed=seed), num_labels=2)
    return datasets.Dataset.from_dict({"label": labels.tolist(), "score": difficulty_scores(dynamics, "variability").tolist(),
                                       "prefilter": difficulty_scores(dynamics, "aum").tolist(), "emb": features.tolist()})


def synthetic_rows(num_rows: int, dim: int = 384, classes: int = 10, seed: int = 0):
    import datasets  # noqa: PLC0415

    generator = np.random.default_rng(seed)
    labels = generator.integers(0, classes, num_rows)
    centres = generator.normal(size=(classes, dim)).astype(np.float32)
    vectors = centres[labels] + 2.0 * generator.normal(size=(num_rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return datasets.Dataset.from_dict({"label": labels.tolist(), "score": generator.random(num_rows).tolist(),
                                       "prefilter": generator.random(num_rows).tolist(), "emb": list(vectors)})


def timed(dataset, method: str, rate: float, repeats: int) -> tuple[float, list[float], dict]:
    import hf_d2  # noqa: PLC0415

    def once():
        started = time.perf_counter()
        result = hf_d2.prune_with_scores(dataset, rate, method=method, score_column="score",
                                         prefilter_column="prefilter", prefilter_direction="higher",
                                         embedding_column="emb", seed=0)
        return time.perf_counter() - started, result.record

    once()  # warm-up: numba compiles, faiss loads
    runs = [once() for _ in range(repeats)]
    seconds = [round(run[0], 3) for run in runs]
    record = runs[0][1]
    return statistics.median(seconds), seconds, {"chosen": (record.auto or {}).get("chosen"),
                                                 "inner_seconds": (record.auto or {}).get("seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rate", type=float, default=0.7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes:
        dataset = imdb_rows(size) if size <= 20_000 else synthetic_rows(size)
        load_before = os.getloadavg()[0]
        d2, d2_runs, _ = timed(dataset, "d2", args.rate, args.repeats)
        auto, auto_runs, extra = timed(dataset, "auto", args.rate, args.repeats)
        row = {"rows": size, "data": "imdb sample" if size <= 20_000 else "synthetic", "rate": args.rate,
               "d2_seconds": d2, "auto_seconds": auto, "added_seconds": round(auto - d2, 3), "d2_runs": d2_runs,
               "auto_runs": auto_runs, **extra, "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
        rows.append(row)
        print(f"{size:>8,} rows: d2 {d2:.2f} s, auto {auto:.2f} s (its inner validation {extra['inner_seconds']:.2f} s; "
              f"chose {extra['chosen']}), load {row['load_average']}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    note = "selection only (score and embedding columns); other jobs may share the cores: see each row's load_average"
    args.output.write_text(json.dumps({"machine": machine(note), "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
