"""A page per ``bench check``: its headline, the verdict table (per metric: its trust grade where
a meta table grades it, the checked method's rank, and its verdict and mean difference against
each baseline, as check.md has it), the regression check against a previous check, and the mean
differences with their 95% CIs as a chart; checks.html lists them. Everything is read from
check.json (and the grades from the reference's meta.csv)."""

from __future__ import annotations

from pathlib import Path

from bench.site import charts
from bench.site.collect import Check, Results
from bench.site.html import esc, number, page, table, write_page
from bench.site.leaderboard import grade_class, grades
from bench.studies.meta.grades import grade_label

SYMBOL = {"better": "▲ better", "worse": "▼ worse", "indistinguishable": "~"}


def _counts(comparisons: list[dict]) -> dict[str, int]:
    return {v: sum(c["verdict"] == v for c in comparisons) for v in ("better", "worse", "indistinguishable")}


def verdict_table(result: dict, graded: dict[str, dict]) -> str:
    """Per metric: its trust grade (where a meta table grades it), the rank, and a cell per baseline."""
    comparisons, baselines = result["comparisons"], result["reference"]["baselines"]
    rank = {r["metric"]: r for r in result["ranks"]}
    cell = {(c["baseline"], c["metric"]): c for c in comparisons}
    rows = []
    for metric in dict.fromkeys(c["metric"] for c in comparisons):
        arrow = "↑" if rank[metric]["higher_is_better"] else "↓"
        g = graded.get(metric)
        line = [
            f"{esc(metric)} {arrow}",
            f'<td class="{grade_class(g)}">{esc(grade_label(g))}</td>' if g else '<td class="grade-">–</td>',
            f"{rank[metric]['rank']} of {rank[metric]['of']}",
        ]
        for baseline in baselines:
            c = cell.get((baseline, metric))
            if c is None:
                line.append("not tested")
                continue
            title = esc(f"95% CI [{c['ci_low']:.4g}, {c['ci_high']:.4g}], p (Holm) {c['p_value']:.3g}")
            line.append(f'<td class="{c["verdict"]}" title="{title}">{SYMBOL[c["verdict"]]} {c["mean_diff"]:+.4g}</td>')
        rows.append(line)
    return table(["metric", "trust", "rank", *(esc(b) for b in baselines)], rows, "verdicts")


def regressions_table(result: dict) -> str:
    rows = [
        [
            esc(r["metric"]),
            number(r["mean_diff"]),
            f"[{number(r['ci_low'])}, {number(r['ci_high'])}]",
            f"{r['p_value']:.3g}",
            r["verdict"],
            number(r["tolerance"]),
            "<strong>yes</strong>" if r["regression"] else "no",
        ]
        for r in result["regressions"]
    ]
    return table(["metric", "mean diff", "95% CI", "p (Holm)", "verdict", "tolerance", "regressed"], rows)


def check_page(check: Check, n: int, graded: dict[str, dict]) -> str:
    result = check.result
    ref, count = result["reference"], _counts(result["comparisons"])
    body = [
        f'<p class="headline"><strong>{esc(result["method"])}</strong> against the reference <code>{esc(ref["name"])}</code> '
        f"({len(result['images'])} images, {esc(ref['model'])}), checked {check.created:%Y-%m-%d %H:%M} UTC: better in "
        f"{count['better']}, worse in {count['worse']} and indistinguishable in {count['indistinguishable']} of "
        f"{len(result['comparisons'])} comparisons with {len(ref['baselines'])} baselines; status <strong>{esc(result['status'])}</strong>.</p>",
        f'<h2>Verdicts</h2><div class="scroll">{verdict_table(result, graded)}</div>',
        f"<p class=caption>Cells: verdict and mean difference ({esc(result['method'])} minus the baseline) over the images; "
        f"{esc(result['statistics']['verdict'])} ({esc(result['statistics']['test'])}; {esc(result['statistics']['correction'])}). "
        "Trust: the metric's grade on the reference's data (bench meta), where it was measured, with n, the images it "
        "rests on.</p>",
    ]
    if result["regressions"]:
        body.append(f"<h2>Against the previous check ({esc(result['against'])})</h2>{regressions_table(result)}")
    body.append(
        "<h2>Mean differences with their 95% CIs</h2><p class=caption>Per metric and baseline: the mean difference "
        f"({esc(result['method'])} minus the baseline) with its 95% bootstrap CI; green better, red worse, grey "
        "indistinguishable.</p>"
    )
    body.append(charts.differences_chart(result["comparisons"], f"differences-{n}"))
    seconds = ", ".join(f"{esc(s['method'])} {s['seconds']:.3g} s ({esc(s['measured_by'])})" for s in result["seconds_per_image"])
    body.append(f"<p class=caption>Seconds per image: {seconds}. Folder: {esc(check.path.name)}.</p>")
    return page(f"Check of {result['method']}", "".join(body), "checks.html", charts=True)


def write_checks(results: Results, site: Path) -> int:
    rows = []
    for n, check in enumerate(sorted(results.checks, key=lambda c: c.created)):
        boards = [b for b in results.boards if check in results.checks_of(b)]
        graded = grades(results.meta_of(boards[0])) if boards else {}
        write_page(site / f"check-{check.name}.html", check_page(check, n, graded))
        count = _counts(check.result["comparisons"])
        rows.append(
            [
                f'<a href="check-{check.name}.html">{esc(check.method)}</a>',
                esc(check.result["reference"]["name"]),
                f"{check.created:%Y-%m-%d %H:%M}",
                esc(check.result["status"]),
                f'<span class="better">▲{count["better"]}</span> <span class="worse">▼{count["worse"]}</span> '
                f'<span class="same">~{count["indistinguishable"]}</span>',
            ]
        )
    body = (
        table(["method", "reference", "checked (UTC)", "status", "verdicts"], rows)
        if rows
        else "<p>No check folder was given.</p>"
    )
    write_page(site / "checks.html", page("Checks", body, "checks.html"))
    return len(rows) + 1
