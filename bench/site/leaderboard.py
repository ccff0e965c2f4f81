"""The leaderboard (index.html): per board, methods x metrics with the mean over the images, its
95% bootstrap CI and the rank (1 = best in the metric's declared direction; ties share the better
rank); the latest check of each method checked against the board is a row among the baselines,
with its verdicts against them (better / worse / indistinguishable, from check.json); the metric's
trust grade where a meta table (``bench meta``'s meta.csv) grades it. A click on a column sorts.

The metric columns come in groups (:func:`metric_group`): the curve metrics of each pixel
replacement (random colours, ROAD) and the maps' metrics with the method's time. A board with
more than one group shows one at a time, picked by the buttons above its table (site.js); the
first is shown until one is picked."""

from __future__ import annotations

import pandas as pd

from bench.site.collect import Board, Check, Results
from bench.site.html import esc, number, page, table
from bench.studies.meta.grades import TOO_FEW, grade_label, grade_table
from metrics import PER_IMAGE_METRICS
from metrics.per_image import CURVE_METRICS, curve_metric_name
from metrics.perturbation import REPLACEMENT_TEXT, REPLACEMENTS

MAP_GROUP = "maps"
GROUP_LABELS = {"random-colour": "random colour (the thesis)", "road": "ROAD", MAP_GROUP: "map metrics and time"}
"""The buttons' labels: a replacement's curve metrics, then the maps' (a replacement without a
label here is shown by its name)."""


def metric_group(metric: str) -> str:
    """The group of a metric's column: the replacement whose curves it measures, else the maps'."""
    for replacement in REPLACEMENTS:
        if metric in {curve_metric_name(info.name, replacement) for info in CURVE_METRICS}:
            return replacement
    return MAP_GROUP


def group_title(group: str) -> str:
    return REPLACEMENT_TEXT.get(group, "PNG size and SSIM of the maps, and the method's seconds per image")


def latest_checks(results: Results, board: Board) -> list[Check]:
    """The latest check of each method checked against ``board``."""
    latest: dict[str, Check] = {}
    for check in results.checks_of(board):
        latest[check.method] = check
    return list(latest.values())


def grades(meta: pd.DataFrame | None) -> dict[str, dict]:
    """metric -> its trust grade from a meta table (:func:`bench.studies.meta.grades.grade_table`:
    "grade", "weakest" measure, ...); empty without one."""
    return {} if meta is None else grade_table(meta)


def grade_class(grade: dict) -> str:
    """The CSS class of a grade: ``grade-low``, ``grade-medium``, ``grade-high``, ``grade-few``."""
    return "grade-few" if grade["grade"] == TOO_FEW else f"grade-{esc(grade['grade'])}"


def _means(rows: list[dict]) -> dict[str, dict]:
    return {r["metric"].name: r for r in rows}


def ranks(means: dict[str, float], higher_is_better: bool) -> dict[str, int]:
    """Rank of each row (1 = best); ties share the better rank."""
    return {k: 1 + sum((o > v) if higher_is_better else (o < v) for j, o in means.items() if j != k) for k, v in means.items()}


def board_metrics(results: Results, board: Board) -> list[str]:
    """The metric columns of a board's table: those the board or its checks hold."""
    rows = [board.summaries, *(c.summaries for c in latest_checks(results, board))]
    held = {r["metric"].name for summaries in rows for r in summaries}
    return [m for m in PER_IMAGE_METRICS if m in held]


def board_groups(metrics: list[str]) -> list[str]:
    """The groups of ``metrics`` in the order of the buttons: the replacements, then the maps'."""
    found = {metric_group(m) for m in metrics}
    return [g for g in (*REPLACEMENTS, MAP_GROUP) if g in found]


def group_buttons(groups: list[str]) -> str:
    """The buttons that pick the group of columns shown (none for a single group)."""
    if len(groups) < 2:
        return ""
    buttons = "".join(
        f'<button type="button" data-group="{esc(g)}" aria-pressed="{"true" if k == 0 else "false"}" '
        f'title="{esc(group_title(g))}">{esc(GROUP_LABELS.get(g, g))}</button>'
        for k, g in enumerate(groups)
    )
    return f'<div class="groups" role="group" aria-label="metrics shown">metrics: {buttons}</div>'


def board_table(results: Results, board: Board) -> str:
    checks = latest_checks(results, board)
    rows: dict[str, dict[str, dict]] = {m: {} for m in board.methods}
    for r in board.summaries:
        rows.setdefault(r["method"], {})[r["metric"].name] = r
    labels = {m: esc(m) for m in rows}
    for check in checks:
        key = f"{check.method} (checked)"
        rows[key] = _means(check.summaries)
        labels[key] = (
            f'<a href="check-{check.name}.html">{esc(check.method)}</a> <span class="tag">checked {check.created:%Y-%m-%d}</span>'
        )
    metrics = board_metrics(results, board)
    groups = board_groups(metrics)
    shown = groups[0] if len(groups) > 1 else None
    hide = {m: f' data-group="{metric_group(m)}"' + (" hidden" if shown and metric_group(m) != shown else "") for m in metrics}
    graded = grades(results.meta_of(board))
    verdicts = {(f"{c.method} (checked)", v["metric"]): v for c in checks for v in _verdict_counts(c.result["comparisons"])}
    header = ['<th data-type="text">method</th>']
    for metric in metrics:
        info = PER_IMAGE_METRICS[metric]
        arrow = "↑" if info.higher_is_better else "↓"
        grade = ""
        if metric in graded:
            g = graded[metric]
            why = esc(f"trust grade (bench meta): {grade_label(g)}, n: images; set by its weakest measure, {g['weakest']}")
            grade = f'<br><span class="grade {grade_class(g)}" title="{why}">trust: {esc(grade_label(g))}</span>'
        title = esc(f"{info.description} ({info.unit}); {'higher' if info.higher_is_better else 'lower'} is better")
        header.append(
            f'<th title="{title}" data-better="{"high" if info.higher_is_better else "low"}"{hide[metric]}>'
            f"{esc(metric)} {arrow}{grade}</th>"
        )
    ranked = {
        m: ranks({k: r[m]["mean"] for k, r in rows.items() if m in r}, PER_IMAGE_METRICS[m].higher_is_better) for m in metrics
    }
    body, attrs = [], []
    for key, cells in rows.items():
        line = [f'<td data-value="{esc(key)}">{labels[key]}</td>']
        for metric in metrics:
            line.append(_cell(cells.get(metric), ranked[metric].get(key), verdicts.get((key, metric)), hide[metric]))
        body.append(line)
        attrs.append(' class="checked"' if key.endswith("(checked)") else "")
    return table(header, body, "sortable leaderboard", attrs)


def _cell(row: dict | None, rank: int | None, verdict: dict | None, attrs: str = "") -> str:
    if row is None:
        return f'<td data-value=""{attrs}>–</td>'
    ci = f"[{number(row['ci_low'])}, {number(row['ci_high'])}]"
    badge = ""
    if verdict is not None:
        badge = (
            f'<div class="verdicts" title="against the baselines: better / worse / indistinguishable">'
            f'<span class="better">▲{verdict["better"]}</span> <span class="worse">▼{verdict["worse"]}</span> '
            f'<span class="same">~{verdict["indistinguishable"]}</span></div>'
        )
    return (
        f'<td data-value="{row["mean"]!r}"{attrs}><span class="mean">{number(row["mean"])}</span>'
        f'<sup class="rank" title="rank">#{rank}</sup><div class="ci">{ci}</div>{badge}</td>'
    )


def _verdict_counts(comparisons: list[dict]) -> list[dict]:
    out: dict[str, dict] = {}
    for c in comparisons:
        counts = out.setdefault(c["metric"], {"metric": c["metric"], "better": 0, "worse": 0, "indistinguishable": 0})
        counts[c["verdict"]] += 1
    return list(out.values())


def leaderboard_page(results: Results) -> str:
    parts = [
        "<p>Per method and metric: the mean over the images, its 95% bootstrap CI and its rank (#1 = best in the metric's "
        "direction, ↑ higher or ↓ lower is better). A checked method is shown among the baselines with its verdicts "
        "against them (▲ better, ▼ worse, ~ indistinguishable; Wilcoxon signed-rank, Holm-corrected). Click a column "
        "to sort. The buttons above a table pick its metrics: the curves' ABPC under random colours (the thesis's) "
        "or under ROAD's imputation, or the maps' PNG size and SSIM with the method's time.</p>"
    ]
    if not results.boards:
        parts.append("<p>No run or reference folder was given.</p>")
    for board in results.boards:
        fp = board.run
        parts.append(
            f'<section><h2>{esc(board.label)}</h2><p class="meta">{esc(fp.get("model"))}, {len(board.image_ids)} images, '
            f"{len(board.methods)} methods</p>{group_buttons(board_groups(board_metrics(results, board)))}"
            f'<div class="scroll">{board_table(results, board)}</div></section>'
        )
    return page("Leaderboard", "".join(parts), "index.html")
