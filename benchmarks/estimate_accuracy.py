"""How close are `hf-d2 prune --dry-run`'s time estimates to the real runs? (issue 23, finding 8)

The estimates come from the throughput the stages measured on this machine (kept in the stage
cache's timings.json; hf_d2/estimate.py). This benchmark starts from an empty cache, so:

1. before anything ran, every stage must say it cannot estimate ("?", None);
2. small calibration runs measure each stage (the bundled Rotten Tomatoes: short reviews);
3. larger target runs are estimated first, then run, each in a fresh process as `hf-d2 prune`
   (imports and model loading included, as a user sees them), and each stage's estimate is
   compared with the time the run recorded: the embedding, the head, the fine-tuning and the
   selection, on other rows, other sizes and other text lengths (IMDB's long reviews) than the
   calibration saw.

Ratio = estimate / actual (goal: within 0.5-2 on an idle machine). The JSON keeps every number and
the load average before and after, since the 2-core machines here are often shared.

    python benchmarks/estimate_accuracy.py                  # -> benchmarks/results/estimate_accuracy.json
    python benchmarks/estimate_accuracy.py --quick          # smaller targets, no fine-tuning
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine

RESULTS = Path(__file__).resolve().parent / "results" / "estimate_accuracy.json"

# (name, dataset, rows, rate, extra options): the calibration runs, then the targets.
CALIBRATION = [
    ("calibrate: Rotten Tomatoes 300 rows, head", "rotten_tomatoes", 300, 0.5, {}),
    ("calibrate: Rotten Tomatoes 300 rows, rate 0.7 (class groups)", "rotten_tomatoes", 300, 0.7, {}),
]
FINETUNE_CALIBRATION = [
    ("calibrate: Rotten Tomatoes 64 rows, fine-tune MiniLM 2 epochs", "rotten_tomatoes", 64, 0.5,
     {"difficulty_source": "finetune", "model": "bundled-minilm", "epochs": 2, "max_length": 64,
      "allow_degenerate": True}),  # 64 rows: the timing is the point, not what it learns
]
TARGETS = [
    ("Rotten Tomatoes 2,000 rows (the demo)", "rotten_tomatoes", 2000, 0.5, {}),
    ("Rotten Tomatoes 5,000 rows, rate 0.7", "rotten_tomatoes", 5000, 0.7, {}),
    ("IMDB 1,000 rows (long reviews)", "imdb", 1000, 0.5, {}),
]
QUICK_TARGETS = [
    ("Rotten Tomatoes 1,000 rows", "rotten_tomatoes", 1000, 0.5, {}),
    ("IMDB 300 rows (long reviews)", "imdb", 300, 0.5, {}),
]
FINETUNE_TARGETS = [
    ("Rotten Tomatoes 240 rows, fine-tune MiniLM 3 epochs", "rotten_tomatoes", 240, 0.5,
     {"difficulty_source": "finetune", "model": "bundled-minilm", "epochs": 3, "max_length": 64,
      "allow_degenerate": True}),
]
STAGE_OF_ESTIMATE = {"embed": "embed", "difficulty": "difficulty", "graph + select": "select"}


def estimates(dataset: str, rows: int, rate: float, options: dict, cache: Path) -> dict[str, float | None]:
    """The dry run's estimate of each stage (seconds; None = cannot estimate), in this process."""
    from hf_d2.env import offline_mode  # noqa: PLC0415
    from hf_d2.options import PruneOptions  # noqa: PLC0415
    from hf_d2.plan import make_plan  # noqa: PLC0415

    with offline_mode():
        plan = make_plan(dataset, rate, PruneOptions.from_values({**options, "max_examples": rows,
                                                                  "cache_dir": str(cache)}), offline=True)
        return {STAGE_OF_ESTIMATE[stage.stage]: stage.seconds for stage in plan.describe()}


def run(dataset: str, rows: int, rate: float, options: dict, cache: Path, output: Path) -> tuple[dict, float]:
    """Runs `hf-d2 prune` in a fresh process; (the seconds each stage recorded, the wall time)."""
    from hf_d2.parameter_table import flag_for  # noqa: PLC0415

    flags = [part for name, value in options.items()
             for part in ((flag_for(name),) if value is True else (flag_for(name), str(value)))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_D2_DISABLE_PROGRESS": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hf_d2.cli", "prune", dataset, "--rate", str(rate), "--max-examples",
                    str(rows), "--cache-dir", str(cache), "--output", str(output), "--offline", "-q", *flags],
                   check=True, env=env)
    wall = time.perf_counter() - started
    record = json.loads((output / "selection.json").read_text())
    return {row["stage"]: row["seconds"] for row in record["timings"]}, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller targets, no fine-tuning")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hf-d2-estimates-"))
    cache = work / "cache"
    rows_out = []
    load_before = os.getloadavg()
    first = estimates("rotten_tomatoes", 300, 0.5, {}, cache)
    print(f"empty cache: {first}")
    calibration = CALIBRATION + ([] if args.quick else FINETUNE_CALIBRATION)
    targets = (QUICK_TARGETS if args.quick else TARGETS + FINETUNE_TARGETS)
    for index, (name, dataset, rows, rate, options) in enumerate(calibration + targets):
        estimate = estimates(dataset, rows, rate, options, cache)
        actual, wall = run(dataset, rows, rate, options, cache, work / f"out{index}")
        entry = {"name": name, "dataset": dataset, "rows": rows, "rate": rate, "options": options,
                 "calibration": index < len(calibration), "wall_seconds": round(wall, 2), "stages": {}}
        for stage, seconds in actual.items():
            guess = estimate.get(stage)
            ratio = None if guess is None or seconds <= 0 else guess / seconds
            entry["stages"][stage] = {"estimate": None if guess is None else round(guess, 2),
                                      "actual": round(seconds, 2), "ratio": None if ratio is None else round(ratio, 2)}
        rows_out.append(entry)
        print(f"{name}: " + ", ".join(f"{stage} est {v['estimate']} / actual {v['actual']} s (ratio {v['ratio']})"
                                      for stage, v in entry["stages"].items()) + f"; wall {wall:.1f} s", flush=True)
    load_after = os.getloadavg()
    ratios = [v["ratio"] for entry in rows_out if not entry["calibration"] for v in entry["stages"].values()
              if v["ratio"] is not None and v["actual"] >= 0.5]
    summary = {"targets_within_2x": sum(0.5 <= r <= 2.0 for r in ratios), "target_stages": len(ratios),
               "lowest_ratio": min(ratios, default=None), "highest_ratio": max(ratios, default=None)}
    print(f"target stages (actual >= 0.5 s) within 2x: {summary['targets_within_2x']} of {summary['target_stages']} "
          f"(ratios {summary['lowest_ratio']} .. {summary['highest_ratio']}); load {load_before[0]:.2f} -> "
          f"{load_after[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": machine("each run is a fresh `hf-d2 prune` process; estimates from the dry run's plan"),
        "date": time.strftime("%Y-%m-%d %H:%M"), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after], "empty_cache_estimates": first,
        "runs": rows_out, "summary": summary}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
