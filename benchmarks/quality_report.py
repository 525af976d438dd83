"""The quality page of the docs, regenerated from the committed sweep results: per task, the
default against random and CCS (paired differences with 95% intervals, both judges), the goal
check, the "how much can I prune?" figure, and the label-free default against random.

    python benchmarks/quality_report.py --results benchmarks/results/quality_final.jsonl \\
        --output docs/benchmarks/quality-tables.md --figures docs/assets/quality

Reads the JSON lines of ``quality_sweep.py`` (several files may be given; later rows of the same
cell win); never runs a selection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from quality_sweep import DATASET_NAMES, JUDGE_NAMES, RATES, load_cells  # noqa: E402

from hf_d2.evaluate.stats import mean_interval, paired_difference  # noqa: E402
from hf_d2.selection.rate_finder import DEFAULT_MAX_DROP, largest_safe_rate  # noqa: E402

BASELINES = ("random", "ccs-b0.1")
GOAL_HIGH_RATES = (0.7, 0.9)
GOAL_GAIN = 1.0  # points over random at the high rates (text tasks)
GOAL_SLACK = 0.3  # points: not further below CCS (high rates) or the better of random and CCS (low rates)
TEXT_TASKS = ("rotten_tomatoes", "imdb", "docstrings", "rt_dups")


def paired(cells: dict, group: tuple, config: str, versus: str, rate: float):
    values, baseline = cells.get((*group, config, rate)), cells.get((*group, versus, rate))
    return paired_difference(values, baseline) if values and baseline else None


def cell(interval) -> str:
    if interval is None:
        return "—"
    text = interval.format(signed=True).replace("-", "−")
    return f"**{text}**" if interval.excludes_zero() else text


def task_table(cells: dict, dataset: str, split: str, config: str) -> list[str]:
    """Markdown rows: per judge, the config's accuracy and its paired difference to random and to
    CCS at each rate."""
    lines = ["| judge | | " + " | ".join(f"rate {rate:g}" for rate in RATES) + " |",
             "|---|---|" + "---:|" * len(RATES)]
    judges = sorted({key[2] for key in cells if key[:2] == (dataset, split)}, key=lambda j: list(JUDGE_NAMES).index(j))
    for judge in judges:
        group = (dataset, split, judge)
        accuracy = []
        for rate in RATES:
            values = cells.get((*group, config, rate))
            accuracy.append(f"{100 * mean_interval(list(values.values())).mean:.1f}" if values else "—")
        random_accuracy = [mean_interval(list(cells[(*group, "random", rate)].values())).format()
                           if cells.get((*group, "random", rate)) else "—" for rate in RATES]
        name = JUDGE_NAMES.get(judge, judge)
        lines.append(f"| {name} | {config} accuracy | " + " | ".join(accuracy) + " |")
        lines.append(f"| {name} | random accuracy | " + " | ".join(random_accuracy) + " |")
        for versus in BASELINES:
            lines.append(f"| {name} | Δ vs {versus.split('-')[0].upper() if versus != 'random' else 'random'} | "
                         + " | ".join(cell(paired(cells, group, config, versus, rate)) for rate in RATES) + " |")
    return lines


def goal_rows(cells: dict, split: str, config: str) -> tuple[list[str], int, int]:
    """The issue's goal, cell by cell: never significantly below random; at 0.7 and 0.9 at least
    random + 1.0 (text tasks) and not below CCS by more than 0.3; at 0.3 and 0.5 not below the
    better of random and CCS by more than 0.3. Returns (markdown rows, cells met, cells checked)."""
    lines = ["| task | judge | " + " | ".join(f"rate {rate:g}" for rate in RATES) + " |", "|---|---|" + "---|" * len(RATES)]
    met_count = checked = 0
    for dataset in DATASET_NAMES:
        for judge in JUDGE_NAMES:
            group = (dataset, split, judge)
            if not any((*group, config, rate) in cells for rate in RATES):
                continue
            parts = []
            for rate in RATES:
                to_random, to_ccs = paired(cells, group, config, "random", rate), paired(cells, group, config, "ccs-b0.1", rate)
                if to_random is None:
                    parts.append("—")
                    continue
                gain, versus_ccs = 100 * to_random.mean, (100 * to_ccs.mean if to_ccs is not None else None)
                misses = []
                if to_random.high < 0:
                    misses.append("below random")
                if rate in GOAL_HIGH_RATES:
                    if dataset in TEXT_TASKS and gain < GOAL_GAIN:
                        misses.append(f"< random + {GOAL_GAIN:g}")
                    if versus_ccs is not None and versus_ccs < -GOAL_SLACK:
                        misses.append("below CCS")
                elif min(gain, versus_ccs if versus_ccs is not None else gain) < -GOAL_SLACK:
                    misses.append("below the better of random and CCS")
                checked += 1
                met_count += not misses
                parts.append("met" if not misses else "missed: " + ", ".join(misses))
            lines.append(f"| {DATASET_NAMES[dataset]} | {JUDGE_NAMES.get(judge, judge)} | " + " | ".join(parts) + " |")
    return lines, met_count, checked


def summary_rows(cells: dict, split: str, config: str, versus: str = "random") -> list[str]:
    """One table: the paired difference of ``config`` to ``versus`` on every task and judge."""
    lines = ["| task | judge | " + " | ".join(f"rate {rate:g}" for rate in RATES) + " |", "|---|---|" + "---:|" * len(RATES)]
    for dataset in DATASET_NAMES:
        for judge in JUDGE_NAMES:
            group = (dataset, split, judge)
            if any((*group, config, rate) in cells for rate in RATES):
                lines.append(f"| {DATASET_NAMES[dataset]} | {JUDGE_NAMES.get(judge, judge)} | " + " | ".join(
                    cell(paired(cells, group, config, versus, rate)) for rate in RATES) + " |")
    return lines


def label_free_goal(cells: dict, split: str, config: str) -> tuple[int, int, int, int]:
    """Issue 25's goal for the label-free default: (cells significantly below random, cells checked,
    high-rate cells of the embedding judge (LR) at least random + 1.0, such cells checked)."""
    below = checked = gained = high = 0
    for dataset in DATASET_NAMES:
        for judge in JUDGE_NAMES:
            for rate in RATES:
                difference = paired(cells, (dataset, split, judge), config, "random", rate)
                if difference is None:
                    continue
                checked += 1
                below += difference.high < 0
                if judge == "logistic" and rate in GOAL_HIGH_RATES:
                    high += 1
                    gained += 100 * difference.mean >= GOAL_GAIN
    return below, checked, gained, high


def prune_limit(cells: dict, group: tuple, config: str, max_drop: float) -> tuple[float | None, str]:
    """The largest rate at which ``config`` stays within ``max_drop`` points of ``full`` (paired by
    seed), and its paired difference there."""
    full = cells.get((*group, "full", 0.0))
    if not full:
        return None, "—"
    differences = {rate: paired_difference(cells[(*group, config, rate)], full)
                   for rate in RATES if cells.get((*group, config, rate))}
    rates = sorted(differences)
    chosen = largest_safe_rate(rates, [-100 * differences[rate].mean for rate in rates], max_drop)
    return chosen, cell(differences[chosen]) if chosen is not None else "none"


def figure(cells: dict, dataset: str, split: str, configs: list[str], path: Path, max_drop: float) -> None:
    """Accuracy (mean, 95% interval) against the rate for ``configs``, each judge a panel, with the
    full pool's accuracy and the band ``max_drop`` below it."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    judges = sorted({key[2] for key in cells if key[:2] == (dataset, split)}, key=lambda j: list(JUDGE_NAMES).index(j))
    figure, axes = plt.subplots(1, len(judges), figsize=(4.2 * len(judges), 3.3), squeeze=False)
    for axis, judge in zip(axes[0], judges):
        group = (dataset, split, judge)
        full = cells.get((*group, "full", 0.0))
        if full:
            level = 100 * float(np.mean(list(full.values())))
            axis.axhline(level, color="black", linewidth=1, linestyle="--", label=f"full pool ({level:.1f})")
            axis.axhspan(level - max_drop, level, color="black", alpha=0.08, label=f"within {max_drop:g} points")
        for config in configs:
            rates = [rate for rate in RATES if cells.get((*group, config, rate))]
            if not rates:
                continue
            intervals = [mean_interval(list(cells[(*group, config, rate)].values())) for rate in rates]
            axis.errorbar(rates, [100 * i.mean for i in intervals], yerr=[100 * np.nan_to_num(i.half_width) for i in intervals],
                          marker="o", capsize=3, label=config)
        axis.set_title(f"{DATASET_NAMES.get(dataset, dataset)}: {JUDGE_NAMES.get(judge, judge)}", fontsize=9)
        axis.set_xlabel("pruning rate (fraction removed)")
        axis.set_ylabel("accuracy (%), 95% interval")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(paths: list[str], split: str, config: str, label_free: str | None, figures: Path | None,
           figure_prefix: str, max_drop: float) -> str:
    cells = load_cells(paths)
    datasets = [d for d in DATASET_NAMES if any(key[:2] == (d, split) for key in cells)]
    lines = [f"**{config} against random, every task** (paired difference in accuracy points, 10 seeds, ± 95% "
             "interval; **bold** = the interval excludes 0):", "", *summary_rows(cells, split, config), ""]
    goal, met, checked = goal_rows(cells, split, config)
    lines += [f"### The goal, cell by cell ({met} of {checked} met)", "", *goal, ""]
    if label_free and any(key[3] == label_free for key in cells):
        below, lf_checked, gained, high = label_free_goal(cells, split, label_free)
        lines += [f"### Without labels ({label_free}) against random, every task", "",
                  f"Significantly below random in {below} of {lf_checked} cells; at least random + {GOAL_GAIN:g} on LR "
                  f"at rates 0.7 and 0.9 in {gained} of {high} cells.", "", *summary_rows(cells, split, label_free), ""]
    for dataset in datasets:
        lines += [f"### {DATASET_NAMES[dataset]}", "", *task_table(cells, dataset, split, config), ""]
        limits = []
        for judge in JUDGE_NAMES:
            group = (dataset, split, judge)
            if (*group, "full", 0.0) not in cells:
                continue
            for name in (config, *BASELINES):
                rate, text = prune_limit(cells, group, name, max_drop)
                limits.append(f"| {JUDGE_NAMES[judge]} | {name} | {'none' if rate is None else f'{rate:g}'} | {text} |")
        if limits:
            lines += [f"How much can I prune? The largest rate within {max_drop:g} points of the full pool (it and every "
                      "smaller rate; paired by seed):", "", "| judge | config | largest rate | Δ vs full pool there |",
                      "|---|---|---:|---:|", *limits, ""]
        if figures is not None:
            path = figures / f"{dataset}.png"
            figure(cells, dataset, split, [config, *BASELINES], path, max_drop)
            lines += [f"![{DATASET_NAMES[dataset]}: accuracy against the pruning rate]({figure_prefix}{path.name})", ""]
        if label_free and any(key[3] == label_free for key in cells if key[:2] == (dataset, split)):
            lines += [f"Without labels ({label_free}), paired difference to random:", "",
                      "| judge | " + " | ".join(f"rate {rate:g}" for rate in RATES) + " |", "|---|" + "---:|" * len(RATES)]
            for judge in JUDGE_NAMES:
                group = (dataset, split, judge)
                if any((*group, label_free, rate) in cells for rate in RATES):
                    lines.append(f"| {JUDGE_NAMES[judge]} | " + " | ".join(
                        cell(paired(cells, group, label_free, "random", rate)) for rate in RATES) + " |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", nargs="+", required=True, help="quality_sweep.py JSON-lines files")
    parser.add_argument("--split", default="final", choices=("dev", "final"))
    parser.add_argument("--config", default="default", help="the config the tables are about")
    parser.add_argument("--label-free", default="lf-default", help="the label-free config shown per task")
    parser.add_argument("--figures", type=Path, help="folder for one PNG per task")
    parser.add_argument("--figure-prefix", default="", help="how the markdown links the figures (a relative folder)")
    parser.add_argument("--max-drop", type=float, default=DEFAULT_MAX_DROP)
    parser.add_argument("--output", type=Path, help="write the markdown here (default: print it)")
    args = parser.parse_args(argv)
    text = report(args.results, args.split, args.config, args.label_free, args.figures, args.figure_prefix,
                  args.max_drop)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
