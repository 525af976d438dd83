"""The report page of an ``hf-d2 evaluate`` folder: accuracy against the pruning rate (one line
per method and judge, 95% intervals as error bars), the paired difference to random, the table
and the settings, from results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from hf_d2.folders import EVALUATE_RESULTS
from hf_d2.report.figures import accuracy_figure, difference_figure, interval_text
from hf_d2.report.html import Page, escape, value_text


def evaluate_page(folder: Path) -> str:
    """Accuracy vs rate (one line per method and judge, 95% intervals), the paired difference
    to random, and the table, from ``folder``/results.json."""
    try:
        results = json.loads((folder / EVALUATE_RESULTS).read_text())
    except ValueError:
        raise ValueError(f"'{folder / EVALUATE_RESULTS}' is not valid JSON; re-run hf-d2 evaluate into this folder "
                         "(finished cells are reused).") from None
    rows = results.get("rows") if isinstance(results, dict) else None
    if not rows:
        raise ValueError(f"'{folder / EVALUATE_RESULTS}' has no result rows; run hf-d2 evaluate to the end first.")
    config = results.get("config") or {}
    judges = list(dict.fromkeys(row.get("judge", "finetune") for row in rows))
    page = Page("hf-d2 report: coreset quality vs pruning rate")
    source = config.get("source") or {}
    name = source.get("repo_id") or source.get("name") or source.get("path") or "the pool"
    seeds = max(len(row.get("seeds", [])) for row in rows)
    page.add(f"<h1>{escape(page.title)}</h1><p class=\"facts\"><span>source <b>{escape(name)}</b></span>"
             f"<span>pool {value_text(config.get('num_pool'))} rows, held out {value_text(config.get('num_heldout'))}</span>"
             f"<span>judges <b>{escape(', '.join(judges))}</b></span><span>up to {seeds} "
             f"seed{'s' if seeds != 1 else ''}</span></p>")
    page.add("<h2>Accuracy vs pruning rate</h2><p class=\"note\">Mean accuracy on the held-out rows over seeds; error "
             "bars are 95% Student-t intervals over seeds (none with one seed). The dashed line is the classifier "
             "trained on the whole pool.</p>" + page.figure(accuracy_figure(rows, judges), "accuracy"))
    if any("accuracy_vs_random" in row for row in rows):
        page.add("<h2>Paired difference to random</h2><p class=\"note\">Accuracy minus random's on the same seed, "
                 "held-out rows and judge; error bars are 95% intervals of the paired difference. Above 0 and an "
                 "interval clear of 0: better than random at that size.</p>"
                 + page.figure(difference_figure(rows, judges), "accuracy-vs-random"))
    page.add("<h2>Table</h2>" + _evaluate_table(rows))
    settings = {key: config.get(key) for key in ("classifier", "probes", "eval_training", "options", "seed_meaning")
                if config.get(key) not in (None, {}, [])}
    if settings:
        body = "".join(f"<tr><th>{escape(key)}</th><td>{escape(value_text(value))}</td></tr>"
                       for key, value in settings.items())
        page.add(f"<h2>Settings</h2><table id=\"parameters\">{body}</table>")
    return page.render()


def _evaluate_table(rows: Sequence[dict[str, Any]]) -> str:
    """The results table as HTML, one row per (judge, method, rate)."""
    body = "".join(
        f"<tr><td>{escape(row.get('judge', 'finetune'))}</td><td>{escape(row['method'])}</td>"
        f"<td class=\"num\">{float(row['rate']):g}</td><td class=\"num\">{value_text(row.get('num_train'))}</td>"
        f"<td class=\"num\">{len(row.get('seeds', []))}</td>"
        f"<td class=\"num\">{interval_text(row, 'accuracy_mean', 'accuracy_ci')}</td>"
        f"<td class=\"num\">{interval_text(row, 'accuracy_vs_random', 'accuracy_vs_random_ci', signed=True)}</td>"
        f"<td class=\"num\">{value_text(row.get('accuracy_vs_random_seeds'))}</td>"
        f"<td class=\"num\">{interval_text(row, 'macro_f1_mean', 'macro_f1_ci')}</td></tr>"
        for row in rows)
    return ("<p class=\"note\">Accuracy and macro-F1 in %, mean ± 95% half-width over seeds; Δ vs random: the paired "
            "difference (same seeds) in percentage points, with its 95% interval.</p><table id=\"evaluate-table\">"
            "<thead><tr><th>judge</th><th>method</th><th>rate</th><th>training rows</th><th>seeds</th>"
            "<th>accuracy (%)</th><th>Δ accuracy vs random</th><th>paired seeds</th><th>macro-F1 (%)</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")
