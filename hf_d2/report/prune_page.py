"""The report page of an ``hf-d2 prune`` / ``hf-d2 select`` folder: the data map and the
embedding projection (kept and pruned rows), rows per label, the hardest kept and easiest pruned
rows, the rows D2's reverse pass suppressed beside their nearest kept row, and every parameter of
the record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hf_d2.folders import SCORES_FILE, read_prune_folder
from hf_d2.plots import project_2d
from hf_d2.report.figures import scatter
from hf_d2.report.html import TABLE_CHARS, Page, cut, escape, hover_text, number, value_text
from hf_d2.report.neighbours import nearest_kept, suppressed_by_neighbours
from hf_d2.report.rows import Rows, row_texts, run_embeddings

TABLE_ROWS = 10  # rows per list (hardest kept, easiest pruned, suppressed)
MAX_POINTS = 20_000  # points per chart; a larger selection is drawn as a seeded uniform sample


def prune_page(folder: Path, *, plan: Any, embeddings: Any, cache_dir: Any, source: Any, max_points: int) -> str:
    """The page of a prune / select folder: reads its record, scores and (as needed) coreset,
    the source rows and the embeddings; writes nothing."""
    coreset, record, scores_dataset = read_prune_folder(folder)
    page = PrunePage(f"hf-d2 report: {record.method} at rate {record.rate:g}")
    page.header(record)
    if scores_dataset is None:
        page.note(f"The folder has no {SCORES_FILE}, so there are no per-row charts or lists; only the parameters.")
        page.label_counts(record)
        page.parameters(record)
        return page.render()
    scores = {name: np.asarray(scores_dataset[name]) for name in scores_dataset.column_names}
    n = int(scores["kept"].size)
    kept = scores["kept"].astype(bool)
    rows = row_texts(folder, record, coreset, scores["original_index"], plan, source)
    vectors, vector_note = run_embeddings(record, n, embeddings=embeddings, plan=plan, cache_dir=cache_dir,
                                          rows=rows.dataset)
    if "projection_x" not in scores and vectors is not None and n >= 2:
        projection = project_2d(vectors)
        scores["projection_x"], scores["projection_y"] = projection[:, 0], projection[:, 1]
    page.charts(scores, kept, rows, record, max_points)
    page.label_counts(record)
    page.row_lists(scores, kept, rows)
    page.suppressed(scores, kept, rows, record, vectors, vector_note)
    page.parameters(record)
    for note in rows.notes:
        page.note(note)
    return page.render()


class PrunePage(Page):
    """The page of a prune / select folder: ``Page`` with that page's sections."""

    def header(self, record: Any) -> None:
        """Title, rows kept of rows before, the source and the record's warnings."""
        source = record.source
        name = source.repo_id or source.name or source.path or source.kind or "in-memory rows"
        split = f", split {source.split}" if source.split else ""
        self.add(f"<h1>{escape(self.title)}</h1><p class=\"facts\"><span>kept <b>{record.num_rows_after:,}</b> of "
                 f"<b>{record.num_rows_before:,}</b> rows</span><span>source <b>{escape(name)}</b>{escape(split)}</span>"
                 f"<span>hf-d2 {escape(record.hf_d2_version)}</span></p>")
        for warning in record.warnings:
            self.add(f'<p class="warning">warning: {escape(warning)}</p>')

    def charts(self, scores: dict[str, np.ndarray], kept: np.ndarray, rows: Rows, record: Any,
               max_points: int) -> None:
        """The data map and the projection, each a "pruned" and a "kept" trace."""
        n = kept.size
        shown = np.arange(n)
        if n > max_points:
            shown = np.sort(np.random.default_rng(0).choice(n, size=max_points, replace=False))
        sample = (f" Showing a uniform sample of {shown.size:,} of the {n:,} rows (seed 0)." if shown.size < n else "")
        hover = _hover_parts(scores, rows, shown)
        blocks = []
        if "confidence" in scores and "variability" in scores:
            figure = scatter(scores["variability"], scores["confidence"], kept, shown, hover,
                             title="Data map (training dynamics)",
                             x_title="variability (std of the gold-label probability over epochs)",
                             y_title="confidence (mean gold-label probability)", x_name="variability",
                             y_name="confidence")
            blocks.append(f'<div class="chart">{self.figure(figure, "data-map")}</div>')
        else:
            self.note("No data map: the difficulty did not come from training dynamics, so the scores table has no "
                      "confidence and variability.")
        if "projection_x" in scores and "projection_y" in scores:
            figure = scatter(scores["projection_x"], scores["projection_y"], kept, shown, hover,
                             title="Embeddings, 2-D PCA projection", x_title="PC 1", y_title="PC 2", x_name="PC 1",
                             y_name="PC 2")
            blocks.append(f'<div class="chart">{self.figure(figure, "projection")}</div>')
        else:
            self.note("No embedding projection: the run used no embeddings and none were given (--embeddings).")
        if blocks:
            self.add(f"<h2>Kept and pruned rows</h2><p class=\"note\">{int(kept.sum()):,} kept (blue), "
                     f"{int((~kept).sum()):,} pruned (grey). Hover a point for its text, label, difficulty (higher = "
                     f"harder), D2 forward score and pick rank (0 = picked first; −1 = not ranked, e.g. dropped by the "
                     f"pre-filter).{sample}</p>"
                     f'<div class="charts{" one" if len(blocks) == 1 else ""}">{"".join(blocks)}</div>')

    def label_counts(self, record: Any) -> None:
        """The table of rows per label before and after (the record's counts)."""
        before, after = record.label_counts_before, record.label_counts_after or {}
        if not before:
            self.add("<h2>Rows per label</h2><p class=\"note\">No labels (a label-free run).</p>")
            return
        body = "".join(
            f'<tr data-label="{escape(label)}"><td>{escape(label)}</td><td class="num before">{count:,}</td>'
            f'<td class="num after">{after.get(label, 0):,}</td>'
            f'<td class="num">{100 * after.get(label, 0) / count if count else 0:.1f}%</td></tr>'
            for label, count in before.items())
        self.add("<h2>Rows per label</h2><table id=\"label-counts\"><thead><tr><th>label</th><th>before</th>"
                 f"<th>after</th><th>kept</th></tr></thead><tbody>{body}</tbody><tfoot><tr><th>total</th>"
                 f'<th class="num">{record.num_rows_before:,}</th><th class="num">{record.num_rows_after:,}</th>'
                 f"<th></th></tr></tfoot></table>")

    def row_lists(self, scores: dict[str, np.ndarray], kept: np.ndarray, rows: Rows) -> None:
        """The ``TABLE_ROWS`` hardest kept rows and easiest pruned rows (by the scores' difficulty)."""
        difficulty = scores["difficulty"].astype(np.float64)
        finite = np.isfinite(difficulty)
        if not finite.any():
            self.add("<h2>Hardest kept and easiest pruned rows</h2><p class=\"note\">The method used no difficulty "
                     "scores.</p>")
            return
        positions = np.arange(kept.size)
        hardest = positions[kept & finite][np.argsort(-difficulty[kept & finite], kind="stable")][:TABLE_ROWS]
        easiest = positions[~kept & finite][np.argsort(difficulty[~kept & finite], kind="stable")][:TABLE_ROWS]
        self.add("<h2>Hardest kept rows</h2><p class=\"note\">Kept rows with the highest difficulty.</p>"
                 + _row_table("hardest-kept", hardest, scores, rows)
                 + "<h2>Easiest pruned rows</h2><p class=\"note\">Pruned rows with the lowest difficulty.</p>"
                 + _row_table("easiest-pruned", easiest, scores, rows))

    def suppressed(self, scores: dict[str, np.ndarray], kept: np.ndarray, rows: Rows, record: Any,
                   vectors: np.ndarray | None, vector_note: str) -> None:
        """The rows D2's reverse pass suppressed (``suppressed_by_neighbours``), each beside its
        nearest kept row in ``vectors``; skipped with the reason when there are no forward scores
        or no embeddings."""
        title = "<h2>Pruned because a near neighbour was kept</h2>"
        forward = scores["forward_score"].astype(np.float64)
        if not np.isfinite(forward).any():
            self.add(f"{title}<p class=\"note\">Skipped: the {escape(record.method)} method has no D2 reverse pass "
                     "(no forward scores), so no row was pruned for a kept neighbour.</p>")
            return
        groups = None
        partition_note = ""
        if record.partition == "label" and any(label is not None for label in rows.labels):
            groups = np.array(["" if label is None else label for label in rows.labels], dtype=object)
        elif record.partition == "strata":
            partition_note = (" The selection was partitioned into difficulty strata, each with its own budget; the "
                              "rule is applied to the whole selection, so this list is approximate.")
        found = suppressed_by_neighbours(forward, kept, groups)
        rule = ("D2 picks rows greedily by score and, after each pick, lowers the scores of the picked row's graph "
                "neighbours (the reverse pass). Without that it would keep the rows with the highest forward scores. "
                "Listed: rows that were <b>not kept although their forward score ranks within the top b</b>, b = rows "
                "kept" + (" in their label (the label partition)" if groups is not None else "")
                + f", highest forward score first ({found.size:,} such rows). Beside each: its nearest kept row by "
                "Euclidean distance between embeddings (the distance D2's graph uses)." + partition_note)
        if vectors is None:
            self.add(f"{title}<p class=\"note\">Skipped: {escape(vector_note)}.</p>")
            return
        shown = found[:TABLE_ROWS]
        neighbours, distances = nearest_kept(vectors, shown, kept)
        body = []
        for position, neighbour, distance in zip(shown, neighbours, distances):
            body.append(
                f"<tr><td class=\"num\">{int(scores['original_index'][position])}</td>"
                f"<td>{escape(rows.labels[position])}</td><td class=\"num\">{number(forward[position])}</td>"
                f"<td class=\"text\">{escape(cut(rows.texts[position], TABLE_CHARS) or '(text not available)')}</td>"
                f"<td class=\"num\">{int(scores['original_index'][neighbour])}</td>"
                f"<td class=\"num\">{number(distance)}</td><td class=\"num\">{int(scores['pick_rank'][neighbour])}</td>"
                f"<td class=\"text\">{escape(cut(rows.texts[neighbour], TABLE_CHARS) or '(text not available)')}</td>"
                "</tr>")
        self.add(f"{title}<p class=\"note\">{rule} Embeddings {escape(vector_note)}.</p>"
                 "<table id=\"suppressed\"><thead><tr><th>row</th><th>label</th><th>forward score</th><th>text</th>"
                 "<th>nearest kept row</th><th>distance</th><th>its pick rank</th><th>its text</th></tr></thead>"
                 f"<tbody>{''.join(body)}</tbody></table>")

    def parameters(self, record: Any) -> None:
        """Every parameter of the record, and auto's candidates when the method was auto."""
        entries: list[tuple[str, Any]] = [
            ("method", record.method), ("rate (fraction removed)", record.rate), ("budget (rows kept)", record.budget),
            ("rows before / after", f"{record.num_rows_before:,} / {record.num_rows_after:,}"),
            ("pre-filter (hardest fraction dropped first)", _prefilter(record)), ("partition", record.partition)]
        if record.partition != "none":
            entries += [("budget allocation", record.budget_allocation)]
        if record.partition == "strata":
            entries += [("strata", record.num_strata), ("strata score", record.strata_score)]
        entries += [("method parameters", record.method_params)] + ([("graph", record.graph)] if record.graph else [])
        entries += [("options given", record.options), ("seeds", vars(record.seeds)),
                    ("columns", {k: v for k, v in vars(record.columns).items() if v is not None}),
                    ("source", {k: v for k, v in vars(record.source).items() if v is not None})]
        difficulty = record.difficulty
        if difficulty is not None:
            entries += [("difficulty score", f"{difficulty.score} ({difficulty.direction})"),
                        ("difficulty source", difficulty.source), ("difficulty labels", difficulty.labels),
                        ("difficulty model", f"{difficulty.model or '—'}"
                                             + (f" @ {difficulty.revision}" if difficulty.revision else "")),
                        ("difficulty settings", difficulty.settings)]
            if difficulty.train_accuracy:
                entries.append(("training accuracy per epoch", ", ".join(
                    f"{epoch}: {100 * value:.1f}%" for epoch, value in enumerate(difficulty.train_accuracy, 1))))
            if difficulty.train_loss:
                entries.append(("training loss per epoch", ", ".join(
                    f"{epoch}: {value:.4g}" for epoch, value in enumerate(difficulty.train_loss, 1))))
        else:
            entries.append(("difficulty", "none (the method uses no difficulty)"))
        embedding = record.embeddings
        if embedding is not None:
            entries.append(("embeddings", f"{embedding.source}: {embedding.model or '—'}"
                            + (f" @ {embedding.revision}" if embedding.revision else "")
                            + (f", {embedding.dimensions} dimensions" if embedding.dimensions else "")))
        entries += [("warnings", record.warnings or "none"), ("command", record.command),
                    ("timings", [f"{t.get('stage')} {t.get('seconds')} s ({t.get('cache')})" for t in record.timings]),
                    ("hf-d2 version", record.hf_d2_version)]
        if record.reselected_from:
            entries.append(("re-selected from", record.reselected_from))
        body = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value_text(value))}</td></tr>" for name, value in entries)
        self.add(f"<h2>Parameters</h2><table id=\"parameters\">{body}</table>")
        if record.auto:
            candidates = "".join(
                f"<tr{' class=chosen' if c.get('name') == record.auto.get('chosen') else ''}><td>{escape(c.get('name'))}"
                f"{' (chosen)' if c.get('name') == record.auto.get('chosen') else ''}</td><td>{escape(c.get('method'))}"
                f"</td><td class=\"num\">{number(c.get('prefilter'))}</td><td>{escape(c.get('partition'))}</td>"
                f"<td class=\"num\">{100 * float(c.get('score', float('nan'))):.2f}%</td></tr>"
                for c in record.auto.get("candidates", []))
            extra = {k: v for k, v in record.auto.items() if k not in ("candidates", "chosen")}
            self.add(f"<h2>auto's candidates</h2><p class=\"note\">auto chose <b>{escape(record.auto.get('chosen'))}"
                     f"</b> by inner accuracy ({escape(value_text(extra))}).</p><table id=\"auto-candidates\"><thead><tr>"
                     "<th>candidate</th><th>method</th><th>pre-filter</th><th>partition</th><th>inner accuracy</th></tr>"
                     f"</thead><tbody>{candidates}</tbody></table>")


def _prefilter(record: Any) -> str:
    """The pre-filter as "0.1 by aum", or "none"."""
    if not record.prefilter:
        return "none"
    score = record.columns.prefilter or (record.difficulty.prefilter_score if record.difficulty else None)
    return f"{record.prefilter:g}" + (f" by {score}" if score else "")


def _hover_parts(scores: dict[str, np.ndarray], rows: Rows, shown: np.ndarray) -> dict[str, Any]:
    """Per-row hover material for the shown rows, kept small (the page embeds it twice): the
    numbers as one float array (difficulty, forward score, row id, pick rank), which plotly
    stores as base64, the label as ``text`` and the row's text as ``hovertext``."""
    ids = scores["original_index"][shown]
    dtype = np.float32 if ids.size == 0 or int(ids.max()) < 2 ** 24 else np.float64  # exact integers
    numbers = np.stack([scores["difficulty"][shown], scores["forward_score"][shown], ids,
                        scores["pick_rank"][shown]], axis=1).astype(dtype)
    labels = [rows.labels[position] for position in shown]
    return {"texts": np.array([hover_text(rows.texts[position]) for position in shown], dtype=object),
            "labels": np.array(["" if label is None else label for label in labels], dtype=object),
            "has_labels": any(label is not None for label in labels), "numbers": numbers,
            "has_difficulty": bool(np.isfinite(numbers[:, 0]).any()), "has_forward": bool(np.isfinite(numbers[:, 1]).any())}


def _row_table(table_id: str, positions: np.ndarray, scores: dict[str, np.ndarray], rows: Rows) -> str:
    """An HTML table of the scores rows at ``positions``: id, label, scores, pick rank, text."""
    body = "".join(
        f"<tr><td class=\"num\">{int(scores['original_index'][p])}</td><td>{escape(rows.labels[p])}</td>"
        f"<td class=\"num\">{number(scores['difficulty'][p])}</td><td class=\"num\">{number(scores['forward_score'][p])}"
        f"</td><td class=\"num\">{int(scores['pick_rank'][p])}</td>"
        f"<td class=\"text\">{escape(cut(rows.texts[p], TABLE_CHARS) or '(text not available)')}</td></tr>"
        for p in positions)
    return (f'<table id="{table_id}"><thead><tr><th>row</th><th>label</th><th>difficulty</th><th>forward score</th>'
            f"<th>pick rank</th><th>text</th></tr></thead><tbody>{body}</tbody></table>")
