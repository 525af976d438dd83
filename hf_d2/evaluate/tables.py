"""The evaluation table: one row per (judge, method, rate) with the mean and its 95% interval
over seeds, and the PAIRED difference to random (same seed, same held-out rows, same judge)
with its own interval.

A *cell* is one (method, rate, seed, judge) result: ``accuracy`` and ``macro_f1`` in [0, 1],
``num_train``, ``train_seconds``. The judge is the evaluation classifier ("logistic", "mlp",
"tfidf" probes, or "finetune").
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hf_d2.evaluate.stats import Interval, mean_interval, paired_difference
from hf_d2.selection.rate_finder import largest_safe_rate

FULL_DATA = "full"  # the reference row: the classifier trained on the whole pool (rate 0)
BASELINE = "random"
METRICS = ("accuracy", "macro_f1")


def cell_judge(cell: dict[str, Any]) -> str:
    return cell.get("judge", "finetune")


def summarize(cells: Sequence[dict[str, Any]], method_order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per (judge, method, rate), ``full`` first, then ``method_order``, rates ascending.

    Each row: method, rate, judge, seeds, num_train (mean), train_seconds (mean), and for each
    metric ``<metric>_mean``, ``<metric>_std`` (sample std, 0 with one seed), ``<metric>_ci``
    (95% half-width, None with one seed) and, except for random and full, ``<metric>_vs_random``
    (the paired difference's mean) with ``<metric>_vs_random_ci`` over the seeds both have.
    """
    groups: dict[tuple[str, str, float], dict[int, dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell_judge(cell), cell["method"], float(cell["rate"])), {})[int(cell["seed"])] = cell
    order = [FULL_DATA, *method_order]

    def sort_key(key: tuple[str, str, float]) -> tuple:
        judge, method, rate = key
        return (judge, order.index(method) if method in order else len(order), method, rate)

    rows = []
    for judge, method, rate in sorted(groups, key=sort_key):
        by_seed = groups[(judge, method, rate)]
        seeds = sorted(by_seed)
        row: dict[str, Any] = {
            "judge": judge, "method": method, "rate": rate, "seeds": seeds,
            "num_train": int(round(np.mean([by_seed[s]["num_train"] for s in seeds]))),
            "train_seconds": float(np.mean([by_seed[s].get("train_seconds", 0.0) for s in seeds])),
        }
        baseline = groups.get((judge, BASELINE, rate))
        extra = sorted({key for s in seeds for key in by_seed[s] if key.startswith("metric_")})
        for metric in (*METRICS, *extra):
            values = [by_seed[s][metric] for s in seeds if metric in by_seed[s]]
            interval = mean_interval(values)
            row[f"{metric}_mean"] = interval.mean
            row[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            row[f"{metric}_ci"] = _finite(interval.half_width)
            if baseline is not None and method not in (BASELINE, FULL_DATA):
                paired = paired_difference({s: by_seed[s][metric] for s in seeds if metric in by_seed[s]},
                                           {s: cell[metric] for s, cell in baseline.items() if metric in cell})
                if paired is not None:
                    row[f"{metric}_vs_random"] = paired.mean
                    row[f"{metric}_vs_random_ci"] = _finite(paired.half_width)
                    row[f"{metric}_vs_random_seeds"] = paired.count
        rows.append(row)
    return rows


def prune_limits(cells: Sequence[dict[str, Any]], max_drop: float) -> list[dict[str, Any]]:
    """How much can I prune? Per (judge, method): the largest measured rate whose accuracy stays
    within ``max_drop`` points of the full pool's, it and every smaller measured rate (the rule of
    ``selection.rate_finder.largest_safe_rate``, on the mean paired difference to ``full`` over the
    seeds both have), with that difference's interval. ``rate`` is None when even the smallest rate
    loses more; [] without ``full`` cells. Each: judge, method, rate, max_drop, and, when a rate
    was found, difference / difference_ci (points, negative = below the full pool) and seeds."""
    by_key: dict[tuple[str, str, float], dict[int, float]] = {}
    for cell in cells:
        by_key.setdefault((cell_judge(cell), cell["method"], float(cell["rate"])), {})[int(cell["seed"])] = cell["accuracy"]
    limits = []
    for judge in dict.fromkeys(key[0] for key in by_key):
        full = next((values for (j, method, _), values in by_key.items() if j == judge and method == FULL_DATA), None)
        if full is None:
            continue
        for method in dict.fromkeys(m for (j, m, _) in by_key if j == judge and m != FULL_DATA):
            paired = {rate: paired_difference(values, full) for (j, m, rate), values in by_key.items()
                      if j == judge and m == method}
            paired = {rate: interval for rate, interval in paired.items() if interval is not None}
            rates = sorted(paired)
            chosen = largest_safe_rate(rates, [-100 * paired[rate].mean for rate in rates], max_drop)
            limit: dict[str, Any] = {"judge": judge, "method": method, "rate": chosen, "max_drop": max_drop}
            if chosen is not None:
                limit.update(difference=100 * paired[chosen].mean, difference_ci=_finite(100 * paired[chosen].half_width),
                             seeds=paired[chosen].count)
            limits.append(limit)
    return limits


def limits_markdown(limits: Sequence[dict[str, Any]]) -> str:
    """The "how much can I prune?" table: per judge and method, the largest rate within the
    tolerance and the paired difference to the full pool there."""
    if not limits:
        return ""
    lines = [f"How much can I prune? The largest measured rate whose accuracy stays within {limits[0]['max_drop']:g} "
             "points of the full pool's (it and every smaller rate; paired by seed).", "",
             "| judge | method | largest rate | Δ accuracy vs full (points) |", "|---|---|---:|---:|"]
    for limit in limits:
        if limit["rate"] is None:
            lines.append(f"| {limit['judge']} | {limit['method']} | none measured | — |")
            continue
        half = limit.get("difference_ci")
        difference = f"{limit['difference']:+.1f}" + ("" if half is None else f" ± {half:.1f}")
        lines.append(f"| {limit['judge']} | {limit['method']} | {limit['rate']:g} | {difference} |")
    return "\n".join(lines) + "\n"


def results_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table as markdown, accuracy and macro-F1 in %: mean ± 95% half-width over seeds
    (the mean alone with one seed), and the paired difference to random with its interval."""
    lines = []
    for judge in dict.fromkeys(row["judge"] for row in rows):
        judged = [row for row in rows if row["judge"] == judge]
        extra = sorted({key[:-len("_mean")] for row in judged for key in row
                        if key.startswith("metric_") and key.endswith("_mean")})
        lines += [f"Judge: **{judge}**", "",
                  "| method | rate | train examples | seeds | accuracy (%) | Δ accuracy vs random | macro-F1 (%) |"
                  + "".join(f" {name[len('metric_'):]} |" for name in extra),
                  "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(extra)]
        for row in (row for row in rows if row["judge"] == judge):
            accuracy = _interval(row, "accuracy_mean", "accuracy_ci")
            macro = _interval(row, "macro_f1_mean", "macro_f1_ci")
            paired = (_interval(row, "accuracy_vs_random", "accuracy_vs_random_ci", signed=True)
                      if "accuracy_vs_random" in row else "")
            lines.append(f"| {row['method']} | {row['rate']:g} | {row['num_train']:,} | {len(row['seeds'])} "
                         f"| {accuracy.format()} | {paired.format(signed=True) if paired else '—'} | {macro.format()} |"
                         + "".join(f" {_interval(row, f'{name}_mean', f'{name}_ci').format(scale=1.0, digits=3)} |"
                                   if f"{name}_mean" in row else " — |" for name in extra))
        lines.append("")
    return "\n".join(lines)


def _interval(row: dict[str, Any], mean_key: str, half_key: str, signed: bool = False) -> Interval:
    half = row.get(half_key)
    return Interval(float(row[mean_key]), float("nan") if half is None else float(half), len(row["seeds"]))


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
