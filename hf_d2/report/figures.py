"""The report's plotly figures: the kept / pruned scatter (data map, projection) of a prune
page, and accuracy and the paired difference to random against the pruning rate, one panel per
judge, of an evaluate page. plotly is imported when a figure is drawn (the ``report`` extra)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hf_d2.plots import KEPT_COLOUR, PRUNED_COLOUR
from hf_d2.report.html import escape, value_text


def scatter(x: np.ndarray, y: np.ndarray, kept: np.ndarray, shown: np.ndarray, hover: dict[str, Any], *,
            title: str, x_title: str, y_title: str, x_name: str, y_name: str) -> Any:
    """A scatter chart of the shown rows: a grey "pruned" trace under a blue "kept" one."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly is optional (the report extra)

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


def _percent(value: Any) -> float | None:
    """A fraction in %, None kept."""
    return None if value is None else 100.0 * float(value)


def _judge_subplots(judges: Sequence[str], y_title: str) -> Any:
    """An empty figure with one panel per judge, sharing the y axis."""
    from plotly.subplots import make_subplots  # noqa: PLC0415 - plotly is optional (the report extra)

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
    import plotly.express as px  # noqa: PLC0415 - plotly is optional (the report extra)

    methods = [m for m in dict.fromkeys(row["method"] for row in rows) if m != "full"]
    palette = px.colors.qualitative.D3
    return {method: palette[i % len(palette)] for i, method in enumerate(methods)}


def accuracy_figure(rows: Sequence[dict[str, Any]], judges: Sequence[str]) -> Any:
    """One line per (judge, method) with error bars; full data as a dashed line per judge."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly is optional (the report extra)

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
                    hovertemplate=f"full data: {mean:.2f}%{interval}<extra>{escape(judge)}</extra>"), row=1, col=column)
                continue
            figure.add_trace(go.Scatter(
                x=[row["rate"] for row in line], y=[_percent(row["accuracy_mean"]) for row in line],
                error_y={"type": "data", "array": [_percent(row.get("accuracy_ci")) or 0.0 for row in line],
                         "visible": True, "thickness": 1.2, "width": 4},
                mode="lines+markers", name=label, legendgroup=method, showlegend=True,
                line={"color": colours.get(method)},
                hovertext=[f"{escape(method)} at rate {float(row['rate']):g}: "
                           f"{interval_text(row, 'accuracy_mean', 'accuracy_ci')}%<br>{len(row.get('seeds', []))} "
                           f"seeds, {value_text(row.get('num_train'))} training rows" for row in line],
                hovertemplate=f"%{{hovertext}}<extra>{escape(judge)}</extra>"), row=1, col=column)
    return figure


def difference_figure(rows: Sequence[dict[str, Any]], judges: Sequence[str]) -> Any:
    """Paired accuracy difference to random per (judge, method), with its 95% interval."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly is optional (the report extra)

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
                hovertext=[f"{escape(method)} − random at rate {float(row['rate']):g}: "
                           f"{interval_text(row, 'accuracy_vs_random', 'accuracy_vs_random_ci', signed=True)} points "
                           f"({value_text(row.get('accuracy_vs_random_seeds'))} paired seeds)" for row in line],
                hovertemplate=f"%{{hovertext}}<extra>{escape(judge)}</extra>"), row=1, col=column)
        figure.add_hline(y=0, line={"color": "#888", "width": 1}, row=1, col=column)
    return figure


def interval_text(row: dict[str, Any], mean_key: str, half_key: str, signed: bool = False) -> str:
    """"mean ± half" in % (the mean alone without an interval; "—" without a mean)."""
    if row.get(mean_key) is None:
        return "—"
    mean = 100.0 * float(row[mean_key])
    half = row.get(half_key)
    text = f"{mean:+.2f}" if signed else f"{mean:.2f}"
    return text if half is None else f"{text} ± {100.0 * float(half):.2f}"
