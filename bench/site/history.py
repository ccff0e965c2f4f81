"""History (history.html), as asv shows a benchmark's: for each method checked several times
against the same reference (e.g. CI's check artefacts) and each method in several exports
(``bench export``'s bencher.json, dated by the file), every metric's mean over time with its 95%
CI. Checks are dated by check.json's ``created``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bench.site import charts
from bench.site.collect import Results, slug
from bench.site.html import esc, page, write_page

Series = dict[str, list[tuple[datetime, float, float, float, str]]]


def series(results: Results) -> dict[str, Series]:
    """title -> metric -> [(time, mean, ci_low, ci_high, label)], for every method with history."""
    out: dict[str, Series] = {}
    for check in results.checks:
        title = f"{check.method} checked against {check.result['reference']['name']}"
        for row in check.summaries:
            point = (check.created, row["mean"], row["ci_low"], row["ci_high"], f"check {check.path.name}")
            out.setdefault(title, {}).setdefault(row["metric"].name, []).append(point)
    for export in results.exports:
        for method, metrics in export.values.items():
            for metric, v in metrics.items():
                point = (export.created, v["value"], v["lower_value"], v["upper_value"], f"export {export.path.name}")
                out.setdefault(f"{method} in exports", {}).setdefault(metric, []).append(point)
    return out


def write_history(results: Results, site: Path) -> int:
    parts = [
        "<p>Each metric's mean over the images with its 95% bootstrap CI, one point per check (or export) of the same "
        "method, in time order. A method needs two or more to have a history.</p>"
    ]
    shown = 0
    for title, metrics in series(results).items():
        points = max(len(v) for v in metrics.values())
        if points < 2:
            continue
        shown += 1
        chart = charts.history_chart(metrics, f"history-{slug(title)}")
        parts.append(f"<section><h2>{esc(title)}</h2><p class=meta>{points} points</p>{chart}</section>")
    if not shown:
        parts.append("<p>No method was given with two or more checks or exports.</p>")
    write_page(site / "history.html", page("History", "".join(parts), "history.html", charts=bool(shown)))
    return 1
