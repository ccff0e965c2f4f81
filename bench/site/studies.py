"""Studies (studies.html): the randomisation test of each sanity folder (per method, the
similarity to the fully randomised model's map with its 95% CI, as ``bench export`` reads it)
and each discovery's per-layer means (loss term, spread) per model, from discovery.csv."""

from __future__ import annotations

from pathlib import Path

from bench.site import charts
from bench.site.collect import Results, slug
from bench.site.html import esc, number, page, table, write_page


def sanity_section(folder: Path, rows: list[dict], n: int) -> str:
    if not rows:
        return f"<section><h2>Randomisation test: {esc(folder.name)}</h2><p>Unfinished: no summary yet.</p></section>"
    cells = [
        [
            esc(r["method"]),
            esc(r["metric"].name),
            number(r["mean"]),
            f"[{number(r['ci_low'])}, {number(r['ci_high'])}]",
            str(r["n"]),
        ]
        for r in rows
    ]
    out = [
        f"<section><h2>Randomisation test: {esc(folder.name)}</h2>",
        table(["method", "similarity", "mean", "95% CI", "images"], cells),
    ]
    for metric in dict.fromkeys(r["metric"].name for r in rows):
        part = [r for r in rows if r["metric"].name == metric]
        out.append(charts.means_chart(f"{metric} after full randomisation (about 0 passes)", part, f"sanity-{n}-{slug(metric)}"))
    return "".join(out) + "</section>"


def discovery_section(folder: Path, frame, n: int) -> str:
    out = [f"<section><h2>Model discovery: {esc(folder.name)}</h2>"]
    means = frame.groupby(["model", "position"])[["loss_term_pct", "spread"]].mean().reset_index()
    for column, label in (("loss_term_pct", "loss term (%)"), ("spread", "spread (fraction of the side)")):
        lines = {str(model): (g["position"].tolist(), g[column].round(5).tolist()) for model, g in means.groupby("model")}
        out.append(
            charts.lines_chart(
                f"mean {label} per layer position", lines, "layer position (6 = logits)", label, f"discovery-{n}-{column}"
            )
        )
    rows = [[esc(r["model"]), str(r["position"]), number(r["loss_term_pct"]), number(r["spread"])] for _, r in means.iterrows()]
    out.append(table(["model", "position", "mean loss term (%)", "mean spread"], rows))
    return "".join(out) + "</section>"


def write_studies(results: Results, site: Path) -> int:
    parts = [sanity_section(folder, rows, n) for n, (folder, rows) in enumerate(results.sanity)]
    parts += [discovery_section(folder, frame, n) for n, (folder, frame) in enumerate(results.discovery)]
    body = "".join(parts) or "<p>No sanity or discovery folder was given.</p>"
    write_page(site / "studies.html", page("Studies", body, "studies.html", charts=bool(parts)))
    return 1
