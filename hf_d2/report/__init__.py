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

The package, by job: ``api`` (``write_report``, ``report_html``), ``prune_page`` and
``evaluate_page`` (the two pages and their sections), ``rows`` (each row's text, label and
embeddings, from the plan, the source or the folder), ``neighbours`` (the rows the reverse pass
suppressed), ``figures`` (the plotly charts) and ``html`` (the page, its style, text helpers).
"""

from hf_d2.report.api import report_html, write_report
from hf_d2.report.html import GENERATOR, is_report, plotly_js, require_plotly
from hf_d2.report.neighbours import nearest_kept, suppressed_by_neighbours

__all__ = ["GENERATOR", "is_report", "nearest_kept", "plotly_js", "report_html", "require_plotly",
           "suppressed_by_neighbours", "write_report"]
