"""The thesis's Tables 1-3 beside each board's values, as the run report has them
(:func:`bench.report.sections.thesis_tables`), with the latest check of each method against the
board as a column of its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.sections import ReportInputs, thesis_tables
from bench.run.profile import bootstrap_samples, replacements
from bench.run.store import RunStore
from bench.site.collect import Board, Results
from bench.site.html import esc, markdown_to_html, page, write_page
from bench.site.leaderboard import latest_checks


def board_inputs(results: Results, board: Board) -> ReportInputs:
    """What the report's sections read, from the board's stored values and its checks'."""
    frames, methods = [board.metrics], list(board.methods)
    for check in latest_checks(results, board):
        label = f"{check.method} (checked)"
        rows = [
            (image_id, label, metric, value)
            for metric, values in check.result["values"].items()
            for image_id, value in zip(check.result["images"], values)
        ]
        frames.append(pd.DataFrame(rows, columns=["image_id", "method", "metric", "value"]))
        methods.append(label)
    settings = board.run["metrics_settings"]
    return ReportInputs(
        store=RunStore(board.path),
        run=board.run,
        metrics=pd.concat(frames, ignore_index=True),
        curves=pd.DataFrame(),
        methods=methods,
        done=methods,
        replacements=replacements(settings),
        n_boot=bootstrap_samples(settings),
        seed=int(board.run.get("seed", 0)),
        images=None,
        data_dir=board.path,
    )


def write_thesis(results: Results, site: Path) -> int:
    parts = [
        "<p>The thesis's Tables 1-3 (Inception V3, 299x299, 200 NIPS-2017 images) beside each run's and reference's "
        "values, as the run report shows them; a checked method is a column of its own.</p>"
    ]
    for board in results.boards:
        tables = markdown_to_html(thesis_tables(board_inputs(results, board)))
        # each table scrolls on its own (Table 3's last columns stay reachable) and its cells wrap
        tables = tables.replace('<table class="report"', '<div class="scroll"><table class="report wrap"').replace(
            "</table>", "</table></div>"
        )
        parts.append(f"<section><h2>{esc(board.label)}</h2>{tables}</section>")
    if not results.boards:
        parts.append("<p>No run or reference folder was given.</p>")
    write_page(site / "thesis.html", page("The thesis's tables", "".join(parts), "thesis.html"))
    return 1
