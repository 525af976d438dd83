"""Page building for ``hf_d2.report``: the HTML page (``Page``: sections in order, plotly.js
embedded once), its style, and the text helpers every section uses (escaping, numbers, cuts)."""

from __future__ import annotations

import html
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from hf_d2.version import __version__

GENERATOR = "hf-d2 report"  # <meta name="generator">: how hf-d2 recognises a report it wrote
HOVER_CHARS = 300  # a row's text in a hover label is cut to this many characters
TABLE_CHARS = 600  # ... and in the row tables
HOVER_LINE = 80  # hover labels do not wrap by themselves: a line break every ~80 characters
BASIC_BUNDLE = Path(__file__).resolve().parents[1] / "report_assets" / "plotly-basic.min.js"
INSTALL_HINT = "The report needs plotly: pip install 'hf-d2[report]' (or pip install plotly)."


def plotly_js() -> str:
    """plotly.js to embed: the basic bundle shipped with hf-d2 (scatter, bar, pie; 1.2 MB, MIT;
    ``hf_d2/report_assets/``) when it is the version the installed plotly writes figures for,
    else plotly's full bundle (4.8 MB). Either way plotly's own code, nothing hand-written."""
    import plotly.offline  # noqa: PLC0415 - plotly is optional (the report extra)

    version = plotly.offline.get_plotlyjs_version()
    bundle = BASIC_BUNDLE.read_text(encoding="utf-8") if BASIC_BUNDLE.is_file() else ""
    if f"v{version}\n" in bundle[:300]:
        return bundle
    return plotly.offline.get_plotlyjs()


def require_plotly() -> None:
    """Raises a one-line ValueError with the install command when plotly is missing."""
    try:
        import plotly  # noqa: F401, PLC0415 - plotly is optional (the report extra)
    except ImportError:
        raise ValueError(INSTALL_HINT) from None


def is_report(path: str | os.PathLike) -> bool:
    """True when the file at ``path`` is a page hf-d2 report wrote (its head names the generator)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}' in head


def escape(text: Any) -> str:
    """``text`` as HTML (None as empty)."""
    return html.escape("" if text is None else str(text))


def number(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; "—" for NaN / inf."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return escape(value)
    return "—" if not np.isfinite(value) else f"{value:.{digits}g}"


def cut(text: str | None, limit: int) -> str | None:
    """``text`` with whitespace collapsed, cut to ``limit`` characters (an ellipsis marks a cut)."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def hover_text(text: str | None) -> str:
    """A row's text for a hover label: cut to ``HOVER_CHARS``, HTML-escaped (plotly renders a
    few tags), a ``<br>`` every ~``HOVER_LINE`` characters."""
    text = cut(text, HOVER_CHARS)
    if text is None:
        return "(text not available)"
    return "<br>".join(html.escape(line, quote=False) for line in textwrap.wrap(text, HOVER_LINE) or [""])


def value_text(value: Any) -> str:
    """A parameter value as page text (dicts as ``key=value`` pairs)."""
    if isinstance(value, float):
        return number(value, 6)
    if isinstance(value, dict):
        return ", ".join(f"{key}={value_text(item)}" for key, item in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(item) for item in value) or "—"
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


class Page:
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
        notes = "".join(f'<p class="note">{escape(note)}</p>' for note in self.notes)
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f'<meta name="generator" content="{GENERATOR} {__version__}">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(self.title)}</title><style>{STYLE}</style>"
                + (f'<script type="text/javascript">{plotly_js()}</script>' if self.charts_drawn else "")
                + "</head><body>"
                + "".join(self.parts) + (f"<h2>Notes</h2>{notes}" if notes else "")
                + f'<p class="note">Written by hf-d2 {escape(__version__)} (hf-d2 report); self-contained: it loads '
                  "nothing from the network.</p></body></html>\n")
