"""Does the offline image path beat random? D2 and CCS against random on the bundled digits
(scikit-learn's load_digits, 1,797 8 × 8 images), judged by learners that differ from what
selects (not a test: prints the table, saves JSON).

Protocol:

- Data: the bundled ``digits`` (``hf_d2.data.load_bundled_dataset``), split once, stratified by
  class (scikit-learn's ``train_test_split``, random_state 2026), into a pool of 1,297 rows that
  the selection sees and 500 test rows that only the judges score on.
- Selection: hf-d2's own pipeline on the pool, as ``hf-d2 prune digits`` runs it offline: the
  run plan (``hf_d2.plan.make_plan``), the stages (``hf_d2.stages.run_stages``: the ``pixels``
  embeddings, i.e. each image's 64 pixels scaled to [0, 1] and L2-normalised, then the default
  head's training dynamics on them: variability as the difficulty, AUM as the pre-filter score)
  and the selection (``hf_d2.coreset.select_for_plan``) with each method's defaults: ``d2``
  (the hardest 10% by AUM dropped first, k = 5, γf = 1, γr = 0.1), ``ccs`` (10% dropped, 50
  equal-width AUM strata, smallest-first budgets, random inside), ``ccs-d2`` (the same strata,
  D2 inside), ``random``; and ``d2-label`` (D2 inside each class, ``--partition label``, the
  authors' class-wise CIFAR mode). Diagnostics, added after the first five rows had been seen
  (on the same test rows): ``random-b0.1`` (random after the same 10% AUM pre-filter),
  ``d2-b0`` and ``d2-label-b0`` (D2 without the pre-filter). Seed s retrains the head with
  seed s and seeds the selection's random steps, so the spread over seeds is the method's own.
- Judges, trained on the coreset only, scored on the 500 test rows (accuracy):
  ``logistic-pixels``: logistic regression (L2, C = 1) on the raw pixels scaled to [0, 1]
  (another learner than the selection's MLP head, on the unnormalised pixels);
  ``svm-hog``: an RBF SVM (C = 10, gamma "scale") on gradient-orientation histograms (HOG-like:
  9 unsigned orientation bins, magnitude-weighted, in 4 × 4- and 2 × 2-pixel cells, each grid
  L2-normalised: 180 dimensions), a view of the images the selection never sees.
- Statistics: mean and 95% Student-t interval over 10 seeds, and the PAIRED difference to
  random on the same seed (``hf_d2.evaluate.stats``), with its 95% interval.

    python benchmarks/digits_quality.py                  # writes benchmarks/results/digits_quality.json
    python benchmarks/digits_quality.py --analyze        # the markdown table from that file
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")

DEFAULT_OUT = Path(__file__).parent / "results" / "digits_quality.json"
RATES = (0.3, 0.5, 0.7, 0.9)
# name -> the options of ``hf-d2 prune`` it runs with (everything else: the defaults)
METHODS = {"random": {"method": "random"}, "d2": {"method": "d2"}, "d2-label": {"method": "d2", "partition": "label"},
           "ccs": {"method": "ccs"}, "ccs-d2": {"method": "ccs-d2"},
           # diagnostics: what the 10% AUM pre-filter costs on clean data
           "random-b0.1": {"method": "random", "prefilter": 0.1}, "d2-b0": {"method": "d2", "prefilter": 0.0},
           "d2-label-b0": {"method": "d2", "partition": "label", "prefilter": 0.0}}
JUDGES = ("logistic-pixels", "svm-hog")
SPLIT_SEED = 2026
TEST_ROWS = 500
BINS = 9


def hog_features(images: np.ndarray) -> np.ndarray:
    """(n, 180) float64 gradient-orientation histograms of (n, 8, 8) images in [0, 1]: unsigned
    orientation in 9 bins, weighted by the gradient magnitude, per 4 × 4-pixel cell (2 × 2 cells)
    and per 2 × 2-pixel cell (4 × 4 cells); each grid's histogram vector is L2-normalised."""
    gy, gx = np.gradient(images.astype(np.float64), axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    orientation = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((orientation / np.pi * BINS).astype(int), BINS - 1)
    parts = []
    for cell in (4, 2):
        grid = images.shape[1] // cell
        histogram = np.zeros((images.shape[0], grid, grid, BINS))
        for row in range(images.shape[1]):
            for column in range(images.shape[2]):
                np.add.at(histogram, (np.arange(images.shape[0]), row // cell, column // cell, bins[:, row, column]),
                          magnitude[:, row, column])
        flat = histogram.reshape(images.shape[0], -1)
        parts.append(flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12))
    return np.concatenate(parts, axis=1)


def protocol() -> str:
    """The protocol paragraph of this module's docstring (stored with the results)."""
    text = __doc__.split("Protocol:", 1)[1].split("    python benchmarks/", 1)[0]
    return " ".join(text.split())


def smallest_share(kept_labels: np.ndarray, pool_labels: np.ndarray) -> float:
    """The smallest kept fraction of any class divided by the overall kept fraction (1 = every
    class kept in proportion; 0.2 = some class kept at a fifth of the average rate)."""
    kept = np.bincount(kept_labels, minlength=10) / np.bincount(pool_labels, minlength=10)
    return float(kept.min() / (kept_labels.size / pool_labels.size))


def judge_accuracy(judge: str, train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
                   test_labels: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.svm import SVC  # noqa: PLC0415

    model = LogisticRegression(C=1.0, max_iter=5000) if judge == "logistic-pixels" else SVC(C=10.0, gamma="scale")
    model.fit(train, train_labels)
    return float((model.predict(test) == test_labels).mean())


def run(args: argparse.Namespace) -> dict:
    from sklearn.datasets import load_digits  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    from hf_d2.coreset import select_for_plan  # noqa: PLC0415
    from hf_d2.data.loading import load_bundled_dataset  # noqa: PLC0415
    from hf_d2.options import PruneOptions  # noqa: PLC0415
    from hf_d2.plan import make_plan  # noqa: PLC0415
    from hf_d2.stages import run_stages  # noqa: PLC0415

    logging.getLogger("hf_d2").setLevel(logging.ERROR)  # the lopsided-class warnings are measured instead
    dataset = load_bundled_dataset("digits").dataset
    raw = load_digits()
    labels = raw.target.astype(np.int64)
    assert np.array_equal(labels, np.asarray(dataset["label"])), "the bundled digits follow load_digits' row order"
    pool_ids, test_ids = train_test_split(np.arange(labels.size), test_size=TEST_ROWS, stratify=labels,
                                          random_state=SPLIT_SEED)
    pool_ids, test_ids = np.sort(pool_ids), np.sort(test_ids)
    pool = dataset.select(pool_ids)
    views = {"logistic-pixels": raw.data / 16.0, "svm-hog": hog_features(raw.images / 16.0)}
    cells, full = [], {}
    for judge in JUDGES:
        full[judge] = judge_accuracy(judge, views[judge][pool_ids], labels[pool_ids], views[judge][test_ids],
                                     labels[test_ids])
    for seed in range(args.seeds):
        started = time.perf_counter()

        def options(method: str, seed: int = seed) -> PruneOptions:
            return PruneOptions.from_values({**METHODS[method], "seed": seed, "selection_seed": seed,
                                             "cache_dir": args.cache_dir})

        outputs = run_stages(make_plan(pool, 0.5, options("d2")))  # difficulty + embeddings: every method's inputs
        for method in METHODS:
            for rate in args.rates:
                plan = make_plan(pool, rate, options(method))
                kept = select_for_plan(plan, outputs).kept_positions
                rows = pool_ids[kept]
                for judge in JUDGES:
                    accuracy = judge_accuracy(judge, views[judge][rows], labels[rows], views[judge][test_ids],
                                              labels[test_ids])
                    cells.append({"method": method, "rate": rate, "seed": seed, "judge": judge, "accuracy": accuracy,
                                  "kept": int(rows.size), "prefilter": plan.settings.prefilter,
                                  "smallest_class_share": smallest_share(labels[rows], labels[pool_ids])})
        print(f"seed {seed}: {time.perf_counter() - started:.1f} s (head training accuracy, last epoch "
              f"{outputs.difficulty.train_accuracy[-1]:.1%})", flush=True)
    return {"protocol": protocol(), "pool_rows": int(pool_ids.size),
            "test_rows": int(test_ids.size), "seeds": args.seeds, "rates": list(args.rates), "methods": METHODS,
            "judges": list(JUDGES), "full_pool_accuracy": full, "cells": cells, "summary": summarize(cells, full)}


def summarize(cells: list[dict], full: dict) -> list[dict]:
    """Per judge, method and rate: mean accuracy with its 95% interval and the paired difference
    to random (same seeds), in accuracy units (0..1)."""
    from hf_d2.evaluate.stats import mean_interval, paired_difference  # noqa: PLC0415

    by_cell: dict[tuple, dict[int, float]] = {}
    shares: dict[tuple, list[float]] = {}
    for cell in cells:
        by_cell.setdefault((cell["judge"], cell["method"], cell["rate"]), {})[cell["seed"]] = cell["accuracy"]
        shares.setdefault((cell["judge"], cell["method"], cell["rate"]), []).append(cell["smallest_class_share"])
    rows = []
    for (judge, method, rate), values in sorted(by_cell.items()):
        accuracy = mean_interval(list(values.values()))
        baseline = by_cell.get((judge, "random", rate), {})
        difference = paired_difference(values, baseline) if method != "random" else None
        rows.append({"judge": judge, "method": method, "rate": rate, "accuracy": accuracy.as_dict(),
                     "minus_random": difference.as_dict() if difference else None,
                     "beats_random": bool(difference and difference.low > 0),
                     "loses_to_random": bool(difference and difference.high < 0),
                     "smallest_class_share": float(np.mean(shares[(judge, method, rate)])),
                     "full_pool_accuracy": full[judge]})
    return rows


def markdown(result: dict) -> str:
    """One table per judge: rows = methods, columns = rates; each cell "accuracy ± CI (Δ vs
    random ± CI)" in %, with the difference marked when its interval excludes 0."""
    from hf_d2.evaluate.stats import Interval  # noqa: PLC0415

    def show(values: dict, signed: bool = False) -> str:
        return Interval(values["mean"], values["half_width"], values["count"]).format(signed=signed)

    lines = []
    summary = {(row["judge"], row["method"], row["rate"]): row for row in result["summary"]}
    for judge in result["judges"]:
        lines += [f"**{judge}** (full pool of {result['pool_rows']:,} rows: {100 * result['full_pool_accuracy'][judge]:.1f}%; "
                  f"accuracy % on {result['test_rows']} test rows, mean ± 95% CI over {result['seeds']} seeds; in "
                  "brackets the paired difference to random, **bold** when its interval excludes 0)", "",
                  "| method | " + " | ".join(f"rate {rate:g}" for rate in result["rates"]) + " |",
                  "|---|" + "---|" * len(result["rates"])]
        for method in result["methods"]:
            parts = []
            for rate in result["rates"]:
                row = summary[(judge, method, rate)]
                text = show(row["accuracy"])
                if row["minus_random"]:
                    delta = show(row["minus_random"], signed=True)
                    marked = f"**{delta}**" if row["beats_random"] or row["loses_to_random"] else delta
                    text += f" ({marked})"
                parts.append(text)
            lines.append(f"| {method} | " + " | ".join(parts) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    parser.add_argument("--cache-dir", help="hf-d2 stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--analyze", action="store_true", help="only print the table of --output")
    args = parser.parse_args(argv)
    if not args.analyze:
        result = run(args)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.output}")
    print(markdown(json.loads(args.output.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
