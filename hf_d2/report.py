"""The selection report: one self-contained, interactive ``report.html`` for an output folder.

``write_report(folder, path)`` reads an ``hf-d2 prune`` / ``hf-d2 select`` folder (selection.json,
scores.parquet, the coreset) or an ``hf-d2 evaluate`` folder (results.json) and writes ONE HTML
file that works offline: plotly draws every chart and its JavaScript (plotly.js: the basic
bundle shipped with hf-d2, or plotly's full one) is embedded once in the page, so the page loads
nothing from the network.
No plotting JavaScript is written by hand; each chart is plotly's own ``Figure.to_html``.

A prune / select page shows the data map (confidence vs variability, when the scores table has
training dynamics) and the 2-D PCA projection of the embeddings, each with a "kept" and a
"pruned" trace (hover: the row's text, label, difficulty, forward score, pick rank); per-label
counts before and after; the hardest kept rows, the easiest pruned rows and the rows D2's
reverse pass suppressed because a near neighbour was kept (``suppressed_by_neighbours``); and
every parameter of the record. An evaluate page shows accuracy against pruning rate (one line
per method and judge, 95% intervals as error bars), the paired difference to random, and the
table.

The text of the PRUNED rows is not stored in a prune folder (only the coreset is), so it is read
from the run's plan (``hf-d2 prune --report``), or from the source named in the record, or from
``source=``; failing all three, only kept rows show their text and the page says why.

Needs plotly (the ``report`` extra): ``pip install 'hf-d2[report]'``.
"""

from __future__ import annotations

import html
import json
import logging
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hf_d2.folders import EVALUATE_RESULTS, RECORD_FILE, SCORES_FILE
from hf_d2.plots import KEPT_COLOUR, PRUNED_COLOUR, project_2d

logger = logging.getLogger("hf_d2")

GENERATOR = "hf-d2 report"  # <meta name="generator">: how hf-d2 recognises a report it wrote
HOVER_CHARS = 300  # a row's text in a hover label is cut to this many characters
TABLE_CHARS = 600  # ... and in the row tables
HOVER_LINE = 80  # hover labels do not wrap by themselves: a line break every ~80 characters
TABLE_ROWS = 10  # rows per list (hardest kept, easiest pruned, suppressed)
MAX_POINTS = 20_000  # points per chart; a larger selection is drawn as a seeded uniform sample
NEIGHBOUR_CHUNK = 65_536  # embedding rows per block when searching nearest kept neighbours
SEPARATOR = " [SEP] "  # between the two texts of a pair
BASIC_BUNDLE = Path(__file__).resolve().parent / "report_assets" / "plotly-basic.min.js"
INSTALL_HINT = "The report needs plotly: pip install 'hf-d2[report]' (or pip install plotly)."


def plotly_js() -> str:
    """plotly.js to embed: the basic bundle shipped with hf-d2 (scatter, bar, pie; 1.2 MB, MIT;
    ``hf_d2/report_assets/``) when it is the version the installed plotly writes figures for,
    else plotly's full bundle (4.8 MB). Either way plotly's own code, nothing hand-written."""
    import plotly.offline  # noqa: PLC0415

    version = plotly.offline.get_plotlyjs_version()
    bundle = BASIC_BUNDLE.read_text(encoding="utf-8") if BASIC_BUNDLE.is_file() else ""
    if f"v{version}\n" in bundle[:300]:
        return bundle
    return plotly.offline.get_plotlyjs()


def require_plotly() -> None:
    """Raises a one-line ValueError with the install command when plotly is missing."""
    try:
        import plotly  # noqa: F401, PLC0415
    except ImportError:
        raise ValueError(INSTALL_HINT) from None


def write_report(folder: str | os.PathLike, path: str | os.PathLike, *, plan: Any = None,
                 embeddings: str | os.PathLike | np.ndarray | None = None, cache_dir: str | os.PathLike | None = None,
                 source: Any = None, max_points: int = MAX_POINTS) -> Path:
    """Writes the report of ``folder`` to ``path`` (atomically: a killed run leaves no partial
    file) and returns ``path``. Writes nothing else.

    folder: an ``hf-d2 prune`` / ``hf-d2 select`` output folder (reads selection.json,
        scores.parquet and, without ``plan`` or a loadable source, the coreset) or an ``hf-d2
        evaluate`` output folder (reads results.json).
    plan: the ``RunPlan`` of the run that is writing ``folder`` (``hf-d2 prune --report``): its
        rows give every row's text and label, and its cache dir and given embeddings are used.
    embeddings: a .npy file (or array) of the run's (n, d) embeddings, row i = scores row i; by
        default they are read from the stage cache (``record.embeddings.cache_key``).
    cache_dir: the stage cache to look in (default: the plan's, else $HF_D2_CACHE / ~/.cache/hf_d2).
    source: the source rows (a ``Dataset`` or a path) when the record's source cannot be loaded.
    max_points: most points per chart (a larger selection is drawn as a seeded sample).
    """
    from hf_d2.cache import write_atomically  # noqa: PLC0415

    page = report_html(folder, plan=plan, embeddings=embeddings, cache_dir=cache_dir, source=source,
                       max_points=max_points)
    target = Path(path).expanduser()
    write_atomically(target, lambda handle: handle.write(page.encode("utf-8")))
    logger.info("Wrote %s (%.2f MB)", target, target.stat().st_size / 1e6)
    return target


def report_html(folder: str | os.PathLike, *, plan: Any = None, embeddings: Any = None, cache_dir: Any = None,
                source: Any = None, max_points: int = MAX_POINTS) -> str:
    """The report page of ``folder`` as a string (see ``write_report``); reads the folder only."""
    require_plotly()
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"'{folder}' is not a folder; pass the --output folder of hf-d2 prune, select or "
                                "evaluate.")
    if (folder / EVALUATE_RESULTS).is_file():
        return _evaluate_page(folder)
    if (folder / RECORD_FILE).is_file():
        return _prune_page(folder, plan=plan, embeddings=embeddings, cache_dir=cache_dir, source=source,
                           max_points=max_points)
    raise ValueError(f"'{folder}' holds neither {RECORD_FILE} (hf-d2 prune / select) nor {EVALUATE_RESULTS} "
                     "(hf-d2 evaluate); pass one of those output folders.")


def is_report(path: str | os.PathLike) -> bool:
    """True when the file at ``path`` is a page this module wrote (its head names the generator)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}' in head


# ----------------------------------------------------------------------- D2's reverse pass


def suppressed_by_neighbours(forward_scores: Any, kept: Any, groups: Any = None) -> np.ndarray:
    """Positions of the rows D2's reverse pass suppressed because a near neighbour was kept,
    highest forward score first.

    D2 picks rows greedily by score and, after each pick, lowers the scores of the picked row's
    graph neighbours. Without those updates it would keep the rows with the highest forward
    scores. So a row is counted as suppressed when it is NOT kept although its forward score
    ranks within the top b of its group, where b is the number of rows kept in that group (the
    whole selection, or one label with ``partition="label"``: ``groups`` (n,) gives each row's
    group). Ties rank the lower position first, as D2 does. Rows without a forward score (NaN:
    another method, or dropped by the pre-filter) are never counted.
    """
    forward = np.asarray(forward_scores, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if forward.shape != kept.shape or forward.ndim != 1:
        raise ValueError(f"forward_scores and kept must be (n,) arrays of one length; got {forward.shape}, "
                         f"{kept.shape}.")
    groups = np.zeros(forward.size, dtype=np.int64) if groups is None else np.asarray(groups)
    finite = np.isfinite(forward)
    found = []
    for value in np.unique(groups):
        members = np.flatnonzero((groups == value) & finite)
        budget = int(kept[members].sum())
        order = members[np.lexsort((members, -forward[members]))]  # forward desc, position asc
        top = order[:budget]
        found.append(top[~kept[top]])
    positions = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return positions[np.lexsort((positions, -forward[positions]))]


def nearest_kept(embeddings: Any, queries: Sequence[int], kept: Any,
                 chunk: int = NEIGHBOUR_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """For each query position, the kept position nearest to it by Euclidean distance between
    embedding rows (the distance D2's graph uses) and that distance: ((m,) int64, (m,) float64).
    ``embeddings`` (n, d) may be memory-mapped; it is read in blocks of ``chunk`` rows."""
    kept_positions = np.flatnonzero(np.asarray(kept, dtype=bool))
    queries = np.asarray(queries, dtype=np.int64)
    best = np.full(queries.size, -1, dtype=np.int64)
    best_distance = np.full(queries.size, np.inf)
    if queries.size == 0 or kept_positions.size == 0:
        return best, best_distance
    query_vectors = np.asarray(embeddings[queries], dtype=np.float64)
    query_norms = (query_vectors ** 2).sum(axis=1)
    for start in range(0, kept_positions.size, chunk):
        block = kept_positions[start:start + chunk]
        vectors = np.asarray(embeddings[block], dtype=np.float64)
        squared = query_norms[:, None] + (vectors ** 2).sum(axis=1)[None, :] - 2.0 * query_vectors @ vectors.T
        squared[block[None, :] == queries[:, None]] = np.inf  # a row is not its own neighbour
        column = squared.argmin(axis=1)
        distance = np.sqrt(np.maximum(squared[np.arange(queries.size), column], 0.0))
        better = distance < best_distance
        best[better], best_distance[better] = block[column[better]], distance[better]
    return best, best_distance


# -------------------------------------------------------------------------- prune / select


@dataclass
class _Rows:
    """What the page knows of each scores row: its text and label (None: unknown), the rows as a
    ``Dataset`` (for embedding columns; None when only the coreset was readable) and a note."""

    texts: list[str | None]
    labels: list[str | None]
    dataset: Any = None
    notes: list[str] = field(default_factory=list)


def _prune_page(folder: Path, *, plan: Any, embeddings: Any, cache_dir: Any, source: Any, max_points: int) -> str:
    """The page of a prune / select folder: reads its record, scores and (as needed) coreset,
    the source rows and the embeddings; writes nothing."""
    from hf_d2.folders import read_prune_folder  # noqa: PLC0415 - reads datasets

    coreset, record, scores_dataset = read_prune_folder(folder)
    page = _Page(f"hf-d2 report: {record.method} at rate {record.rate:g}")
    page.header(record)
    if scores_dataset is None:
        page.note(f"The folder has no {SCORES_FILE}, so there are no per-row charts or lists; only the parameters.")
        page.label_counts(record)
        page.parameters(record)
        return page.render()
    scores = {name: np.asarray(scores_dataset[name]) for name in scores_dataset.column_names}
    n = int(scores["kept"].size)
    kept = scores["kept"].astype(bool)
    rows = _row_texts(folder, record, coreset, scores["original_index"], plan, source)
    vectors, vector_note = _embeddings(record, n, embeddings=embeddings, plan=plan, cache_dir=cache_dir,
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


def _row_texts(folder: Path, record: Any, coreset: Any, row_ids: np.ndarray, plan: Any, source: Any) -> _Rows:
    """Text and label of every scores row: from ``plan`` (the rows a running prune selected
    from), else from the source rows (``source`` or the record's), else only the kept rows'
    from the coreset in ``folder``."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    if plan is not None and plan.num_rows == row_ids.size and np.array_equal(plan.row_ids, row_ids):
        texts = _render(plan.dataset, plan.text_columns or _text_columns(plan.dataset, record))
        labels = None
        if plan.labels is not None:
            labels = [plan.labels.names[int(i)] for i in plan.labels.ids]
        return _Rows(texts, labels or [None] * row_ids.size, plan.dataset)
    from hf_d2.reselect import source_rows  # noqa: PLC0415 - imports the Hub helpers

    try:
        rows = source_rows(record, source)
        if rows.num_rows <= int(row_ids.max(initial=-1)):
            raise ValueError(f"they have {rows.num_rows:,} rows, fewer than the record refers to")
        subset = rows.select(row_ids)
        return _Rows(_render(subset, _text_columns(subset, record)), _labels(subset, record.columns.label), subset)
    except (ValueError, FileNotFoundError, OSError, KeyError) as error:
        reason = " ".join(str(error).split()).rstrip(".")
    # Only the coreset is in the folder: its rows are the kept ids, ascending.
    texts: list[str | None] = [None] * row_ids.size
    labels: list[str | None] = [None] * row_ids.size
    kept_ids = np.asarray(record.kept_row_ids, dtype=np.int64)
    where = np.searchsorted(kept_ids, row_ids)
    found = (where < kept_ids.size) & (kept_ids[np.minimum(where, kept_ids.size - 1)] == row_ids)
    if kept_ids.size and coreset.num_rows == kept_ids.size:
        coreset_texts = _render(coreset, _text_columns(coreset, record))
        coreset_labels = _labels(coreset, record.columns.label)
        for position in np.flatnonzero(found):
            texts[position] = coreset_texts[where[position]]
            labels[position] = coreset_labels[where[position]]
    note = (f"Only kept rows show their text: a prune folder stores the coreset, not the pruned rows, and the source "
            f"rows could not be loaded ({reason}). Run hf-d2 report FOLDER --source PATH to show every row's text.")
    return _Rows(texts, labels, None, [note])


def _text_columns(dataset: Any, record: Any) -> Any:
    """The record's text columns for ``dataset`` (None when it lacks them)."""
    from hf_d2.data.columns import TextColumns, infer_columns  # noqa: PLC0415

    columns = record.columns
    label = columns.label if columns.label in dataset.column_names else None
    try:
        if columns.text_template and columns.text_template != "<callable>":
            return infer_columns(dataset, text_template=columns.text_template, label_column=label, require_label=False)
        if columns.text and columns.text in dataset.column_names:
            pair = columns.text_pair if columns.text_pair in dataset.column_names else None
            return TextColumns(text=columns.text, text_pair=pair)
        if columns.text is None and columns.text_template is None:  # no stage read text (hf-d2 select)
            return infer_columns(dataset, label_column=label, require_label=False)  # as prune would find it
    except ValueError:
        pass
    return None


def _render(dataset: Any, columns: Any) -> list[str | None]:
    """Each row's text as the stages read it (the pair joined by `` [SEP] ``); None without columns."""
    from hf_d2.data.columns import render_texts  # noqa: PLC0415

    if columns is None or dataset is None:
        return [None] * (dataset.num_rows if dataset is not None else 0)
    texts = render_texts(dataset, columns)
    if columns.text_pair:
        texts = [None if a is None else f"{a}{SEPARATOR}{'' if b is None else b}"
                 for a, b in zip(texts, dataset[columns.text_pair])]
    return [None if text is None else str(text) for text in texts]


def _labels(dataset: Any, label_column: str | None) -> list[str | None]:
    """Label names as the record counts them: a ClassLabel's name, else the value as a string."""
    import datasets  # noqa: PLC0415

    if not label_column or label_column not in dataset.column_names:
        return [None] * dataset.num_rows
    feature = dataset.features[label_column]
    values = dataset[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return [None if value is None else feature.int2str(int(value)) for value in values]
    return [None if value is None else str(value) for value in values]


def _embeddings(record: Any, n: int, *, embeddings: Any, plan: Any, cache_dir: Any,
                rows: Any) -> tuple[np.ndarray | None, str]:
    """The run's (n, d) embeddings and where they came from, or (None, why not). Given
    ``embeddings`` (a .npy path or an array) that do not match the selection are an error."""
    from hf_d2.cache import cache_root, stage_path  # noqa: PLC0415

    if embeddings is not None:
        where = str(embeddings) if not isinstance(embeddings, np.ndarray) else "the given array"
        if not isinstance(embeddings, np.ndarray):
            if not Path(embeddings).expanduser().is_file():
                raise FileNotFoundError(f"No embeddings file at '{embeddings}'; pass the .npy file of the run's (n, d) "
                                        "embeddings.")
            try:
                embeddings = np.load(Path(embeddings).expanduser(), mmap_mode="r")
            except ValueError:
                raise ValueError(f"'{where}' is not a .npy array; pass the run's (n, d) embeddings saved with "
                                 "numpy.save.") from None
        if embeddings.ndim != 2 or embeddings.shape[0] != n:
            raise ValueError(f"The embeddings in {where} have shape {tuple(embeddings.shape)} but the selection has {n:,} "
                             "rows; pass the (n, d) embeddings of the same run.")
        return embeddings, f"from {where}"
    if plan is not None and getattr(plan.given, "embeddings", None) is not None and len(plan.given.embeddings) == n:
        return plan.given.embeddings, f"from the column '{record.columns.embedding}'"
    info = record.embeddings
    if info is None:
        return None, "the run used no embeddings"
    if cache_dir is None and plan is not None:
        cache_dir = plan.options.cache_dir
    candidates: list[Path] = []
    if info.source == "column":
        column = record.columns.embedding or info.model
        if rows is not None and column in rows.column_names:
            return np.asarray(rows[column], dtype=np.float32), f"from the column '{column}'"
        return None, f"the embeddings were the column '{column}' of the source rows, which could not be read"
    if info.cache_key:
        if info.source == "classifier":
            from hf_d2.difficulty.api import EMBEDDINGS_FILE  # noqa: PLC0415

            candidates.append(stage_path(cache_dir, "difficulty", info.cache_key) / EMBEDDINGS_FILE)
        else:
            candidates.append(stage_path(cache_dir, "embeddings", info.cache_key, ".npy"))
    for candidate in candidates:
        if candidate.is_file():
            array = np.load(candidate, mmap_mode="r")
            if array.ndim == 2 and array.shape[0] == n:
                return array, f"from the stage cache ({candidate})"
    looked = f" (looked for {candidates[0]})" if candidates else ""
    return None, (f"the embeddings are not in the stage cache {cache_root(cache_dir)}{looked}; pass --embeddings "
                  "FILE.npy or --cache-dir DIR")


# ----------------------------------------------------------------------------- the page


def _escape(text: Any) -> str:
    """``text`` as HTML (None as empty)."""
    return html.escape("" if text is None else str(text))


def _number(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; "—" for NaN / inf."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return _escape(value)
    return "—" if not np.isfinite(value) else f"{value:.{digits}g}"


def _cut(text: str | None, limit: int) -> str | None:
    """``text`` with whitespace collapsed, cut to ``limit`` characters (an ellipsis marks a cut)."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _hover_text(text: str | None) -> str:
    """A row's text for a hover label: cut to ``HOVER_CHARS``, HTML-escaped (plotly renders a
    few tags), a ``<br>`` every ~``HOVER_LINE`` characters."""
    text = _cut(text, HOVER_CHARS)
    if text is None:
        return "(text not available)"
    return "<br>".join(html.escape(line, quote=False) for line in textwrap.wrap(text, HOVER_LINE) or [""])


def _value(value: Any) -> str:
    """A parameter value as page text (dicts as ``key=value`` pairs)."""
    if isinstance(value, float):
        return _number(value, 6)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_value(item)}" for key, item in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(item) for item in value) or "—"
    return "—" if value is None or value == "" else str(value)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1280px;padding:16px 24px;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:3px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{max-width:640px}.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
.charts.one{grid-template-columns:minmax(0,1fr)}@media (max-width:1000px){.charts{grid-template-columns:minmax(0,1fr)}}
#parameters th{white-space:nowrap}.note{color:#555;font-size:.9em}.facts span{margin-right:1.5em}.warning{color:#a33}
"""


class _Page:
    """The HTML page being built: sections in order, plotly.js embedded with the first chart."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []
        self.notes: list[str] = []
        self.charts_drawn = 0

    def add(self, text: str) -> None:
        """Appends an HTML section (already escaped) to the page."""
        self.parts.append(text)

    def note(self, text: str) -> None:
        """Adds a plain-text line to the Notes section (what was skipped and why)."""
        self.notes.append(text)

    def figure(self, figure: Any, div_id: str) -> str:
        """The chart as plotly's own HTML (plotly.js itself is embedded once, by ``render``)."""
        self.charts_drawn += 1
        text = figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                              config={"displaylogo": False, "responsive": True})
        # plotly's JSON writes "<" and "/" as \u003c and \u002f inside its <script>. With every other
        # "<" still escaped, "<br>" and "/" cannot end that script, and they are shorter (a line
        # break every ~80 characters of hover text; 1 in 64 characters of the base64 data).
        return text.replace("\\u003cbr\\u003e", "<br>").replace("\\u002f", "/")

    def render(self) -> str:
        """The whole page; the generator meta tag is how ``is_report`` recognises it."""
        from hf_d2.version import __version__  # noqa: PLC0415

        notes = "".join(f'<p class="note">{_escape(note)}</p>' for note in self.notes)
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f'<meta name="generator" content="{GENERATOR} {__version__}">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{_escape(self.title)}</title><style>{STYLE}</style>"
                + (f'<script type="text/javascript">{plotly_js()}</script>' if self.charts_drawn else "")
                + "</head><body>"
                + "".join(self.parts) + (f"<h2>Notes</h2>{notes}" if notes else "")
                + f'<p class="note">Written by hf-d2 {_escape(__version__)} (hf-d2 report); self-contained: it loads '
                  "nothing from the network.</p></body></html>\n")

    # ----------------------------------------------------------------- prune / select sections

    def header(self, record: Any) -> None:
        """Title, rows kept of rows before, the source and the record's warnings."""
        source = record.source
        name = source.repo_id or source.name or source.path or source.kind or "in-memory rows"
        split = f", split {source.split}" if source.split else ""
        self.add(f"<h1>{_escape(self.title)}</h1><p class=\"facts\"><span>kept <b>{record.num_rows_after:,}</b> of "
                 f"<b>{record.num_rows_before:,}</b> rows</span><span>source <b>{_escape(name)}</b>{_escape(split)}</span>"
                 f"<span>hf-d2 {_escape(record.hf_d2_version)}</span></p>")
        for warning in record.warnings:
            self.add(f'<p class="warning">warning: {_escape(warning)}</p>')

    def charts(self, scores: dict[str, np.ndarray], kept: np.ndarray, rows: _Rows, record: Any,
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
            figure = _scatter(scores["variability"], scores["confidence"], kept, shown, hover,
                              title="Data map (training dynamics)",
                              x_title="variability (std of the gold-label probability over epochs)",
                              y_title="confidence (mean gold-label probability)", x_name="variability",
                              y_name="confidence")
            blocks.append(f'<div class="chart">{self.figure(figure, "data-map")}</div>')
        else:
            self.note("No data map: the difficulty did not come from training dynamics, so the scores table has no "
                      "confidence and variability.")
        if "projection_x" in scores and "projection_y" in scores:
            figure = _scatter(scores["projection_x"], scores["projection_y"], kept, shown, hover,
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
            f'<tr data-label="{_escape(label)}"><td>{_escape(label)}</td><td class="num before">{count:,}</td>'
            f'<td class="num after">{after.get(label, 0):,}</td>'
            f'<td class="num">{100 * after.get(label, 0) / count if count else 0:.1f}%</td></tr>'
            for label, count in before.items())
        self.add("<h2>Rows per label</h2><table id=\"label-counts\"><thead><tr><th>label</th><th>before</th>"
                 f"<th>after</th><th>kept</th></tr></thead><tbody>{body}</tbody><tfoot><tr><th>total</th>"
                 f'<th class="num">{record.num_rows_before:,}</th><th class="num">{record.num_rows_after:,}</th>'
                 f"<th></th></tr></tfoot></table>")

    def row_lists(self, scores: dict[str, np.ndarray], kept: np.ndarray, rows: _Rows) -> None:
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

    def suppressed(self, scores: dict[str, np.ndarray], kept: np.ndarray, rows: _Rows, record: Any,
                   vectors: np.ndarray | None, vector_note: str) -> None:
        """The rows D2's reverse pass suppressed (``suppressed_by_neighbours``), each beside its
        nearest kept row in ``vectors``; skipped with the reason when there are no forward scores
        or no embeddings."""
        title = "<h2>Pruned because a near neighbour was kept</h2>"
        forward = scores["forward_score"].astype(np.float64)
        if not np.isfinite(forward).any():
            self.add(f"{title}<p class=\"note\">Skipped: the {_escape(record.method)} method has no D2 reverse pass "
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
            self.add(f"{title}<p class=\"note\">Skipped: {_escape(vector_note)}.</p>")
            return
        shown = found[:TABLE_ROWS]
        neighbours, distances = nearest_kept(vectors, shown, kept)
        body = []
        for position, neighbour, distance in zip(shown, neighbours, distances):
            body.append(
                f"<tr><td class=\"num\">{int(scores['original_index'][position])}</td>"
                f"<td>{_escape(rows.labels[position])}</td><td class=\"num\">{_number(forward[position])}</td>"
                f"<td class=\"text\">{_escape(_cut(rows.texts[position], TABLE_CHARS) or '(text not available)')}</td>"
                f"<td class=\"num\">{int(scores['original_index'][neighbour])}</td>"
                f"<td class=\"num\">{_number(distance)}</td><td class=\"num\">{int(scores['pick_rank'][neighbour])}</td>"
                f"<td class=\"text\">{_escape(_cut(rows.texts[neighbour], TABLE_CHARS) or '(text not available)')}</td>"
                "</tr>")
        self.add(f"{title}<p class=\"note\">{rule} Embeddings {_escape(vector_note)}.</p>"
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
        body = "".join(f"<tr><th>{_escape(name)}</th><td>{_escape(_value(value))}</td></tr>" for name, value in entries)
        self.add(f"<h2>Parameters</h2><table id=\"parameters\">{body}</table>")
        if record.auto:
            candidates = "".join(
                f"<tr{' class=chosen' if c.get('name') == record.auto.get('chosen') else ''}><td>{_escape(c.get('name'))}"
                f"{' (chosen)' if c.get('name') == record.auto.get('chosen') else ''}</td><td>{_escape(c.get('method'))}"
                f"</td><td class=\"num\">{_number(c.get('prefilter'))}</td><td>{_escape(c.get('partition'))}</td>"
                f"<td class=\"num\">{100 * float(c.get('score', float('nan'))):.2f}%</td></tr>"
                for c in record.auto.get("candidates", []))
            extra = {k: v for k, v in record.auto.items() if k not in ("candidates", "chosen")}
            self.add(f"<h2>auto's candidates</h2><p class=\"note\">auto chose <b>{_escape(record.auto.get('chosen'))}"
                     f"</b> by inner accuracy ({_escape(_value(extra))}).</p><table id=\"auto-candidates\"><thead><tr>"
                     "<th>candidate</th><th>method</th><th>pre-filter</th><th>partition</th><th>inner accuracy</th></tr>"
                     f"</thead><tbody>{candidates}</tbody></table>")


def _prefilter(record: Any) -> str:
    """The pre-filter as "0.1 by aum", or "none"."""
    if not record.prefilter:
        return "none"
    score = record.columns.prefilter or (record.difficulty.prefilter_score if record.difficulty else None)
    return f"{record.prefilter:g}" + (f" by {score}" if score else "")


def _hover_parts(scores: dict[str, np.ndarray], rows: _Rows, shown: np.ndarray) -> dict[str, Any]:
    """Per-row hover material for the shown rows, kept small (the page embeds it twice): the
    numbers as one float array (difficulty, forward score, row id, pick rank), which plotly
    stores as base64, the label as ``text`` and the row's text as ``hovertext``."""
    ids = scores["original_index"][shown]
    dtype = np.float32 if ids.size == 0 or int(ids.max()) < 2 ** 24 else np.float64  # exact integers
    numbers = np.stack([scores["difficulty"][shown], scores["forward_score"][shown], ids,
                        scores["pick_rank"][shown]], axis=1).astype(dtype)
    labels = [rows.labels[position] for position in shown]
    return {"texts": np.array([_hover_text(rows.texts[position]) for position in shown], dtype=object),
            "labels": np.array(["" if label is None else label for label in labels], dtype=object),
            "has_labels": any(label is not None for label in labels), "numbers": numbers,
            "has_difficulty": bool(np.isfinite(numbers[:, 0]).any()), "has_forward": bool(np.isfinite(numbers[:, 1]).any())}


def _scatter(x: np.ndarray, y: np.ndarray, kept: np.ndarray, shown: np.ndarray, hover: dict[str, Any], *,
             title: str, x_title: str, y_title: str, x_name: str, y_name: str) -> Any:
    """A scatter chart of the shown rows: a grey "pruned" trace under a blue "kept" one."""
    import plotly.graph_objects as go  # noqa: PLC0415

    size = 7 if shown.size <= 2_000 else 5 if shown.size <= 10_000 else 3
    head = "<b>row %{customdata[2]:d}</b>" + (" · label %{text}" if hover["has_labels"] else "")
    numbers = (["difficulty %{customdata[0]:.4f}"] if hover["has_difficulty"] else []) + (
        ["forward score %{customdata[1]:.4f}"] if hover["has_forward"] else []) + ["pick rank %{customdata[3]:d}"]
    figure = go.Figure()
    for name, colour, members in (("pruned", PRUNED_COLOUR, ~kept[shown]), ("kept", KEPT_COLOUR, kept[shown])):
        template = (f"{head}<br>%{{hovertext}}<br>{' · '.join(numbers)}<br>{x_name} %{{x:.4f}} · {y_name} "
                    f"%{{y:.4f}}<extra>{name}</extra>")
        figure.add_trace(go.Scatter(
            x=np.asarray(x[shown][members], dtype=np.float32), y=np.asarray(y[shown][members], dtype=np.float32),
            mode="markers", name=name, marker={"color": colour, "size": size, "line": {"width": 0}},
            text=list(hover["labels"][members]) if hover["has_labels"] else None,
            hovertext=list(hover["texts"][members]), customdata=hover["numbers"][members], hovertemplate=template))
    figure.update_layout(template="none", title={"text": title, "x": 0.02}, height=480,
                         margin={"l": 70, "r": 20, "t": 60, "b": 55},
                         legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.08},
                         xaxis={"title": {"text": x_title}, "zeroline": False},
                         yaxis={"title": {"text": y_title}, "zeroline": False},
                         hoverlabel={"align": "left"})
    return figure


def _row_table(table_id: str, positions: np.ndarray, scores: dict[str, np.ndarray], rows: _Rows) -> str:
    """An HTML table of the scores rows at ``positions``: id, label, scores, pick rank, text."""
    body = "".join(
        f"<tr><td class=\"num\">{int(scores['original_index'][p])}</td><td>{_escape(rows.labels[p])}</td>"
        f"<td class=\"num\">{_number(scores['difficulty'][p])}</td><td class=\"num\">{_number(scores['forward_score'][p])}"
        f"</td><td class=\"num\">{int(scores['pick_rank'][p])}</td>"
        f"<td class=\"text\">{_escape(_cut(rows.texts[p], TABLE_CHARS) or '(text not available)')}</td></tr>"
        for p in positions)
    return (f'<table id="{table_id}"><thead><tr><th>row</th><th>label</th><th>difficulty</th><th>forward score</th>'
            f"<th>pick rank</th><th>text</th></tr></thead><tbody>{body}</tbody></table>")


# ------------------------------------------------------------------------------- evaluate


def _evaluate_page(folder: Path) -> str:
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
    page = _Page("hf-d2 report: coreset quality vs pruning rate")
    source = config.get("source") or {}
    name = source.get("repo_id") or source.get("name") or source.get("path") or "the pool"
    seeds = max(len(row.get("seeds", [])) for row in rows)
    page.add(f"<h1>{_escape(page.title)}</h1><p class=\"facts\"><span>source <b>{_escape(name)}</b></span>"
             f"<span>pool {_value(config.get('num_pool'))} rows, held out {_value(config.get('num_heldout'))}</span>"
             f"<span>judges <b>{_escape(', '.join(judges))}</b></span><span>up to {seeds} "
             f"seed{'s' if seeds != 1 else ''}</span></p>")
    page.add("<h2>Accuracy vs pruning rate</h2><p class=\"note\">Mean accuracy on the held-out rows over seeds; error "
             "bars are 95% Student-t intervals over seeds (none with one seed). The dashed line is the classifier "
             "trained on the whole pool.</p>" + page.figure(_accuracy_figure(rows, judges), "accuracy"))
    if any("accuracy_vs_random" in row for row in rows):
        page.add("<h2>Paired difference to random</h2><p class=\"note\">Accuracy minus random's on the same seed, "
                 "held-out rows and judge; error bars are 95% intervals of the paired difference. Above 0 and an "
                 "interval clear of 0: better than random at that size.</p>"
                 + page.figure(_difference_figure(rows, judges), "accuracy-vs-random"))
    page.add("<h2>Table</h2>" + _evaluate_table(rows))
    settings = {key: config.get(key) for key in ("classifier", "probes", "eval_training", "options", "seed_meaning")
                if config.get(key) not in (None, {}, [])}
    if settings:
        body = "".join(f"<tr><th>{_escape(key)}</th><td>{_escape(_value(value))}</td></tr>"
                       for key, value in settings.items())
        page.add(f"<h2>Settings</h2><table id=\"parameters\">{body}</table>")
    return page.render()


def _percent(value: Any) -> float | None:
    """A fraction in %, None kept."""
    return None if value is None else 100.0 * float(value)


def _judge_subplots(judges: Sequence[str], y_title: str) -> Any:
    """An empty figure with one panel per judge, sharing the y axis."""
    from plotly.subplots import make_subplots  # noqa: PLC0415

    figure = make_subplots(rows=1, cols=len(judges), shared_yaxes=True,
                           subplot_titles=[f"judge: {judge}" for judge in judges] if len(judges) > 1 else None)
    figure.update_layout(template="simple_white", height=460, margin={"l": 60, "r": 20, "t": 60, "b": 50},
                         hovermode="closest")
    figure.update_xaxes(title_text="pruning rate (fraction removed)", showgrid=True)
    figure.update_yaxes(showgrid=True)
    figure.update_yaxes(title_text=y_title, col=1)
    return figure


def _colours(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """One colour per method (the same in every panel and chart)."""
    import plotly.express as px  # noqa: PLC0415

    methods = [m for m in dict.fromkeys(row["method"] for row in rows) if m != "full"]
    palette = px.colors.qualitative.D3
    return {method: palette[i % len(palette)] for i, method in enumerate(methods)}


def _accuracy_figure(rows: Sequence[dict[str, Any]], judges: Sequence[str]) -> Any:
    """One line per (judge, method) with error bars; full data as a dashed line per judge."""
    import plotly.graph_objects as go  # noqa: PLC0415

    figure = _judge_subplots(judges, "accuracy (%) on held-out rows")
    colours = _colours(rows)
    rates = sorted({float(row["rate"]) for row in rows if row["method"] != "full"}) or [0.0, 1.0]
    for column, judge in enumerate(judges, 1):
        members = [row for row in rows if row.get("judge", "finetune") == judge]
        for method in dict.fromkeys(row["method"] for row in members):
            line = sorted((row for row in members if row["method"] == method), key=lambda row: row["rate"])
            label = method if len(judges) == 1 else f"{method} ({judge})"
            if method == "full":
                mean, half = _percent(line[0]["accuracy_mean"]), _percent(line[0].get("accuracy_ci"))
                interval = f" ± {half:.2f}" if half is not None else ""
                figure.add_trace(go.Scatter(
                    x=[rates[0], rates[-1]], y=[mean, mean], mode="lines", name="full data", legendgroup="full",
                    line={"color": "black", "dash": "dash", "width": 1}, showlegend=column == 1,
                    hovertemplate=f"full data: {mean:.2f}%{interval}<extra>{_escape(judge)}</extra>"), row=1, col=column)
                continue
            figure.add_trace(go.Scatter(
                x=[row["rate"] for row in line], y=[_percent(row["accuracy_mean"]) for row in line],
                error_y={"type": "data", "array": [_percent(row.get("accuracy_ci")) or 0.0 for row in line],
                         "visible": True, "thickness": 1.2, "width": 4},
                mode="lines+markers", name=label, legendgroup=method, showlegend=True,
                line={"color": colours.get(method)},
                hovertext=[f"{_escape(method)} at rate {float(row['rate']):g}: "
                           f"{_interval_text(row, 'accuracy_mean', 'accuracy_ci')}%<br>{len(row.get('seeds', []))} "
                           f"seeds, {_value(row.get('num_train'))} training rows" for row in line],
                hovertemplate=f"%{{hovertext}}<extra>{_escape(judge)}</extra>"), row=1, col=column)
    return figure


def _difference_figure(rows: Sequence[dict[str, Any]], judges: Sequence[str]) -> Any:
    """Paired accuracy difference to random per (judge, method), with its 95% interval."""
    import plotly.graph_objects as go  # noqa: PLC0415

    figure = _judge_subplots(judges, "accuracy − random (percentage points)")
    colours = _colours(rows)
    for column, judge in enumerate(judges, 1):
        members = [row for row in rows if row.get("judge", "finetune") == judge and "accuracy_vs_random" in row]
        for method in dict.fromkeys(row["method"] for row in members):
            line = sorted((row for row in members if row["method"] == method), key=lambda row: row["rate"])
            figure.add_trace(go.Scatter(
                x=[row["rate"] for row in line], y=[_percent(row["accuracy_vs_random"]) for row in line],
                error_y={"type": "data", "array": [_percent(row.get("accuracy_vs_random_ci")) or 0.0 for row in line],
                         "visible": True, "thickness": 1.2, "width": 4},
                mode="lines+markers", name=method if len(judges) == 1 else f"{method} ({judge})",
                line={"color": colours.get(method)},
                hovertext=[f"{_escape(method)} − random at rate {float(row['rate']):g}: "
                           f"{_interval_text(row, 'accuracy_vs_random', 'accuracy_vs_random_ci', signed=True)} points "
                           f"({_value(row.get('accuracy_vs_random_seeds'))} paired seeds)" for row in line],
                hovertemplate=f"%{{hovertext}}<extra>{_escape(judge)}</extra>"), row=1, col=column)
        figure.add_hline(y=0, line={"color": "#888", "width": 1}, row=1, col=column)
    return figure


def _interval_text(row: dict[str, Any], mean_key: str, half_key: str, signed: bool = False) -> str:
    """"mean ± half" in % (the mean alone without an interval; "—" without a mean)."""
    if row.get(mean_key) is None:
        return "—"
    mean = 100.0 * float(row[mean_key])
    half = row.get(half_key)
    text = f"{mean:+.2f}" if signed else f"{mean:.2f}"
    return text if half is None else f"{text} ± {100.0 * float(half):.2f}"


def _evaluate_table(rows: Sequence[dict[str, Any]]) -> str:
    """The results table as HTML, one row per (judge, method, rate)."""
    body = "".join(
        f"<tr><td>{_escape(row.get('judge', 'finetune'))}</td><td>{_escape(row['method'])}</td>"
        f"<td class=\"num\">{float(row['rate']):g}</td><td class=\"num\">{_value(row.get('num_train'))}</td>"
        f"<td class=\"num\">{len(row.get('seeds', []))}</td>"
        f"<td class=\"num\">{_interval_text(row, 'accuracy_mean', 'accuracy_ci')}</td>"
        f"<td class=\"num\">{_interval_text(row, 'accuracy_vs_random', 'accuracy_vs_random_ci', signed=True)}</td>"
        f"<td class=\"num\">{_value(row.get('accuracy_vs_random_seeds'))}</td>"
        f"<td class=\"num\">{_interval_text(row, 'macro_f1_mean', 'macro_f1_ci')}</td></tr>"
        for row in rows)
    return ("<p class=\"note\">Accuracy and macro-F1 in %, mean ± 95% half-width over seeds; Δ vs random: the paired "
            "difference (same seeds) in percentage points, with its 95% interval.</p><table id=\"evaluate-table\">"
            "<thead><tr><th>judge</th><th>method</th><th>rate</th><th>training rows</th><th>seeds</th>"
            "<th>accuracy (%)</th><th>Δ accuracy vs random</th><th>paired seeds</th><th>macro-F1 (%)</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


__all__ = ["GENERATOR", "is_report", "nearest_kept", "report_html", "require_plotly", "suppressed_by_neighbours",
           "write_report"]
