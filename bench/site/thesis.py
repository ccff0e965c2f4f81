"""The thesis's Tables 1-3 and claims beside each board's values, as the run report has them
(:mod:`bench.report.sections`: :func:`~bench.report.sections.thesis_tables`, the claims'
verdicts by :func:`bench.report.claims.evaluate_claims`, and where the board holds a replacement
besides random colours, ROAD's, :func:`~bench.report.sections.replacement_section`: Table 3 and
the curve claims under it), with the latest check of each method against the board as a column
of its own, and among the methods the claims compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.claims import NOT_SUPPORTED_BELOW, SUPPORTED_AT, evaluate_claims
from bench.report.sections import ReportInputs, claims_table, few_images_note, headline, replacement_section, thesis_tables
from bench.run.profile import bootstrap_samples, replacements
from bench.run.store import RunStore
from bench.site.collect import Board, Results
from bench.site.html import esc, markdown_to_html, page, write_page
from bench.site.leaderboard import latest_checks
from metrics.per_image import curve_metric_name
from metrics.perturbation import DEFAULT_REPLACEMENT

CURVE_COLUMNS = ["image_id", "method", "replacement", "order", "step", "logit"]


def curves_table(curves: dict[str, np.ndarray], image_ids: list[str], label: str | None = None) -> pd.DataFrame:
    """curves.csv's rows (image_id, method, replacement, order, step, logit) of a board's or a
    check's stored curves ("<method>.<replacement:><order>_logit" -> (images, steps + 1), rows in
    ``image_ids``' order); ``label``: the method's name in them (a check's "<method> (checked)")."""
    frames = []
    for key, values in curves.items():
        method, _, curve = key.rpartition(".")
        if not curve.endswith("_logit"):
            continue
        replacement, _, order = curve.removesuffix("_logit").rpartition(":")
        images, steps = values.shape
        frames.append(
            pd.DataFrame(
                {
                    "image_id": np.repeat(image_ids, steps),
                    "method": label or method,
                    "replacement": replacement or DEFAULT_REPLACEMENT,
                    "order": order,
                    "step": np.tile(np.arange(steps), images),
                    "logit": values.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)


def board_inputs(results: Results, board: Board) -> ReportInputs:
    """What the report's sections read, from the board's stored values and curves and its checks'.
    Its replacements: those of the board's settings whose ABPC it holds."""
    frames, methods = [board.metrics], list(board.methods)
    curves = [curves_table(board.curves, board.image_ids)]
    for check in latest_checks(results, board):
        label = f"{check.method} (checked)"
        rows = [
            (image_id, label, metric, value)
            for metric, values in check.result["values"].items()
            for image_id, value in zip(check.result["images"], values)
        ]
        frames.append(pd.DataFrame(rows, columns=["image_id", "method", "metric", "value"]))
        curves.append(curves_table(check.curves, check.result["images"], label))
        methods.append(label)
    settings = board.run["metrics_settings"]
    metrics = pd.concat(frames, ignore_index=True)
    held = set(metrics["metric"])
    return ReportInputs(
        store=RunStore(board.path),
        run=board.run,
        metrics=metrics,
        curves=pd.concat(curves, ignore_index=True),
        methods=methods,
        done=methods,
        replacements=[r for r in replacements(settings) if curve_metric_name("abpc_sum_logit", r) in held],
        n_boot=bootstrap_samples(settings),
        seed=int(board.run.get("seed", 0)),
        images=None,
        data_dir=board.path,
    )


def claims(inputs: ReportInputs) -> list[str]:
    """The thesis's claims on a board under random colours (the report's; its trust grades are
    the leaderboard's), with the headline over the replacements where there are several."""
    lines = [
        "## The thesis's claims\n",
        f"A claim is **supported** when it holds in at least {SUPPORTED_AT:.0%} of {inputs.n_boot} bootstrap resamples "
        f"of the images (the same resample for every method), **not supported** below {NOT_SUPPORTED_BELOW:.0%}, else "
        "**undecided**; 'per image': the share of images on which it holds for that image alone. As the run report "
        "evaluates them (`bench/report/claims.py`), over every method in the tables above, a checked one included.\n",
        *headline(inputs),
        "",
    ]
    if DEFAULT_REPLACEMENT not in inputs.replacements:
        return lines  # the claims on the maps are evaluated with random colours' only
    rows = [("", evaluate_claims(inputs.metrics, inputs.curves, inputs.done, n_boot=inputs.n_boot, seed=inputs.seed))]
    if not rows[0][1]:
        return [*lines, "No claim can be evaluated here: they compare noise_mask with the other methods."]
    return lines + claims_table(rows) + few_images_note(rows)


def board_section(results: Results, board: Board) -> str:
    inputs = board_inputs(results, board)
    lines = [*thesis_tables(inputs), *claims(inputs)]
    if any(r != DEFAULT_REPLACEMENT for r in inputs.replacements):
        lines += replacement_section(inputs)
    body = markdown_to_html(lines)
    # each table scrolls on its own (Table 3's last columns stay reachable) and its cells wrap
    body = body.replace('<table class="report"', '<div class="scroll"><table class="report wrap"').replace(
        "</table>", "</table></div>"
    )
    return f"<section><h2>{esc(board.label)}</h2>{body}</section>"


def write_thesis(results: Results, site: Path) -> int:
    parts = [
        "<p>The thesis's Tables 1-3 (Inception V3, 299x299, 200 NIPS-2017 images) and its claims beside each run's and "
        "reference's values, as the run report shows them, and under ROAD's imputation where a run or reference holds "
        "those curves; a checked method is a column of its own.</p>"
    ]
    parts += [board_section(results, board) for board in results.boards]
    if not results.boards:
        parts.append("<p>No run or reference folder was given.</p>")
    write_page(site / "thesis.html", page("The thesis's tables and claims", "".join(parts), "thesis.html"))
    return 1
