"""The site's interactive charts, drawn with Plotly (https://plotly.com/python/). Each chart is a
``<div>`` and its ``Plotly.newPlot`` call; Plotly's JavaScript is written once, to
``assets/plotly.min.js`` (:func:`write_plotly_js`), and every page loads it from there, so the
site opens from ``file://`` with no network and no page carries its own copy."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from common import thesis

PLOTLY_JS = "assets/plotly.min.js"
CONFIG = {"displaylogo": False, "responsive": True}
VERDICT_COLOURS = {"better": "#1a7f37", "worse": "#cf222e", "indistinguishable": "#8c959f"}
ORDER_DASH = {"morf": "solid", "lerf": "dash", "random": "dot"}
ORDER_NAMES = {"morf": "MoRF", "lerf": "LeRF", "random": "random order"}


def write_plotly_js(site: Path) -> None:
    path = site / PLOTLY_JS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(get_plotlyjs(), encoding="utf-8")


def colour(method: str, others: list[str] | None = None) -> str:
    """A method's colour, the same on every page: the thesis's methods first, then ``others``."""
    names = list(thesis.METHOD_ORDER) + [m for m in (others or []) if m not in thesis.METHOD_ORDER]
    if method not in names:
        names.append(method)
    palette = qualitative.D3
    return palette[names.index(method) % len(palette)]


def to_div(fig: go.Figure, div_id: str) -> str:
    """The chart as HTML that uses the page's shared Plotly script."""
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 40, "b": 40}, font={"size": 12})
    html: str = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG)
    return html


def curves_chart(title: str, lines: list[dict], div_id: str, methods: list[str]) -> str:
    """Perturbation curves of one image: ``lines`` of {method, order, x, y}; a line's ``meta`` is its
    method, so that the explorer can bring one method forward; ``methods``: every method of the
    page, so that a method has one colour in all its charts."""
    fig = go.Figure()
    for line in lines:
        fig.add_trace(
            go.Scatter(
                x=line["x"],
                y=line["y"],
                mode="lines",
                name=f"{line['method']} {ORDER_NAMES[line['order']]}",
                meta=line["method"],
                legendgroup=line["method"],
                line={"color": colour(line["method"], methods), "dash": ORDER_DASH[line["order"]], "width": 2},
            )
        )
    # tall enough for the whole legend (a line 20 px, a gap between methods' groups 10 px): a legend
    # taller than the plot scrolls, and its last method (noise_mask, in the thesis's order) was cut off
    legend = 20 * len(lines) + 10 * len({line["method"] for line in lines})
    fig.update_layout(
        title=title, height=max(380, legend + 110), xaxis_title="fraction of pixels replaced", yaxis_title="target logit"
    )
    return to_div(fig, div_id)


def differences_chart(comparisons: list[dict], div_id: str) -> str:
    """A check's mean differences (method minus baseline) with their 95% CIs, one panel per metric."""
    metrics = list(dict.fromkeys(c["metric"] for c in comparisons))
    fig = make_subplots(rows=len(metrics), cols=1, subplot_titles=metrics, vertical_spacing=0.35 / max(len(metrics), 1))
    for row, metric in enumerate(metrics, start=1):
        part = [c for c in comparisons if c["metric"] == metric]
        fig.add_trace(
            go.Scatter(
                x=[c["mean_diff"] for c in part],
                y=[c["baseline"] for c in part],
                mode="markers",
                marker={"color": [VERDICT_COLOURS[c["verdict"]] for c in part], "size": 9},
                error_x={
                    "type": "data",
                    "color": "#444",
                    "symmetric": False,
                    "array": [c["ci_high"] - c["mean_diff"] for c in part],
                    "arrayminus": [c["mean_diff"] - c["ci_low"] for c in part],
                },
                customdata=[[c["verdict"], c["ci_low"], c["ci_high"], c["p_value"]] for c in part],
                hovertemplate="%{y}: %{x:.4g} [%{customdata[1]:.4g}, %{customdata[2]:.4g}], p %{customdata[3]:.3g}, "
                "%{customdata[0]}<extra></extra>",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        fig.add_vline(x=0, line={"color": "#444", "width": 1}, row=row, col=1)
    per_panel = 22 * len(dict.fromkeys(c["baseline"] for c in comparisons)) + 50
    fig.update_layout(height=per_panel * len(metrics) + 60)
    fig.update_yaxes(type="category", tickfont_size=11)
    fig.update_annotations(font_size=11)
    return to_div(fig, div_id)


def history_chart(series: dict[str, list[tuple[datetime, float, float, float, str]]], div_id: str, columns: int = 3) -> str:
    """Each metric's mean over time with its 95% CI: ``series`` metric -> [(time, mean, ci_low, ci_high, label)]."""
    metrics = list(series)
    rows = -(-len(metrics) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=metrics, vertical_spacing=0.6 / max(rows, 1))
    for k, metric in enumerate(metrics):
        points = sorted(series[metric])
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines+markers",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [p[3] - p[1] for p in points],
                    "arrayminus": [p[1] - p[2] for p in points],
                },
                text=[p[4] for p in points],
                hovertemplate="%{text}<br>%{x}: %{y:.4g}<extra></extra>",
                showlegend=False,
                line={"color": colour("history")},
            ),
            row=k // columns + 1,
            col=k % columns + 1,
        )
    fig.update_layout(height=230 * rows + 40)
    fig.update_annotations(font_size=11)
    return to_div(fig, div_id)


def means_chart(title: str, rows: list[dict], div_id: str) -> str:
    """Means with their 95% CIs per method: ``rows`` of {method, mean, ci_low, ci_high}."""
    fig = go.Figure(
        go.Bar(
            x=[r["method"] for r in rows],
            y=[r["mean"] for r in rows],
            marker_color=[colour(r["method"]) for r in rows],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r["ci_high"] - r["mean"] for r in rows],
                "arrayminus": [r["mean"] - r["ci_low"] for r in rows],
            },
        )
    )
    fig.update_layout(title=title, height=320)
    return to_div(fig, div_id)


def lines_chart(title: str, lines: dict[str, tuple[list, list]], x_title: str, y_title: str, div_id: str) -> str:
    """One line per name: ``lines`` name -> (x, y)."""
    fig = go.Figure()
    for name, (x, y) in lines.items():
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name))
    fig.update_layout(title=title, height=340, xaxis_title=x_title, yaxis_title=y_title)
    return to_div(fig, div_id)
