"""bench site: the static site's files, links and numbers (tests/test_site_browser.py loads it in a
real browser). The site is built once per session (tests/site_support.py)."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from site_support import built_site  # noqa: F401 - the shared session fixture

from bench.cli import main
from bench.regression.export import summaries
from bench.regression.references import load_reference
from bench.report.claims import ABPC_CLAIM, LERF_CLAIM, MORF_CLAIM, PNG_CLAIM, SSIM_CLAIM, lerf_window
from bench.site.html import markdown_to_html
from bench.site.leaderboard import grades

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
LINK = re.compile(r'(?:src|href)="([^"]+)"')


def pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


def test_every_page_links_only_files_of_the_site(built_site):  # noqa: F811
    site, _ = built_site
    assert {p.name for p in pages(site)} >= {
        "index.html",
        "explorer.html",
        "checks.html",
        "history.html",
        "thesis.html",
        "studies.html",
    }
    for page in pages(site):
        for link in LINK.findall(page.read_text()):
            if link.startswith("data:"):
                continue
            assert "://" not in link and not link.startswith("//"), f"{page.name} links outside the site: {link}"
            assert (site / link).is_file(), f"{page.name} links a missing file: {link}"


def test_plotly_is_one_shared_file_and_no_page_carries_a_copy(built_site):  # noqa: F811
    site, _ = built_site
    scripts = list(site.rglob("*.js"))
    plotly = [p for p in scripts if p.read_text().count("plotly.js v") > 0 and p.stat().st_size > 1_000_000]
    assert [p.relative_to(site).as_posix() for p in plotly] == ["assets/plotly.min.js"]
    for page in pages(site):
        assert page.stat().st_size < 300_000, page.name  # charts are data, not the library
        assert "cdn.plot.ly" not in page.read_text()


def test_images_are_files_beside_the_pages(built_site):  # noqa: F811
    site, checks = built_site
    assert "base64" not in "".join(p.read_text() for p in pages(site))
    shown = site / "img" / "embedded-ci" / "astronaut"
    assert (shown / "image.jpg").is_file()
    # the real check's map, as stored (the grayscale that PNG size measures) and as a heatmap
    stored = checks[-1] / "run" / "maps" / "sensitivity" / "astronaut.png"
    assert (shown / "sensitivity-grayscale.png").read_bytes() == stored.read_bytes()
    assert (shown / "sensitivity-heatmap.png").is_file()


def test_leaderboard_holds_the_stored_means_and_the_latest_check(built_site):  # noqa: F811
    site, checks = built_site
    index = (site / "index.html").read_text()
    assert "reference nips17-ci" in index and "reference embedded-ci" in index
    expected = {(r["method"], r["metric"].name): r["mean"] for r in summaries(checks[-1])}
    # the cell of the checked row holds the check's mean of png_bytes, as bench export gives it
    assert f'data-value="{expected["sensitivity", "png_bytes"]!r}"' in index
    assert index.count('class="checked"') == 1  # the latest check of the method only
    assert "check-sensitivity-now-" in index
    # both replacements of nips17-ci are columns
    assert "abpc_sum_logit_road" in index


def test_the_leaderboard_shows_one_group_of_metrics_at_a_time(built_site):  # noqa: F811
    """Issue 36, item 11: the ROAD columns beside the random-colour ones made the table scroll; each
    metric column belongs to a group (a replacement's curve metrics, or the maps'), buttons pick
    the group, and only the first (random colours) shows until one is picked."""
    site, _ = built_site
    index = (site / "index.html").read_text()
    section = index[index.index("<h2>reference nips17-ci</h2>") :]
    section = section[: section.index("</section>")]
    buttons = re.findall(r'<button type="button" data-group="([^"]+)" aria-pressed="(true|false)"', section)
    assert buttons == [("random-colour", "true"), ("road", "false"), ("maps", "false")]
    head = section[section.index("<thead>") : section.index("</thead>")]
    columns = re.findall(r'<th [^>]*?data-group="([^"]+)"( hidden)?>([a-z_]+)', head)
    assert {name: group for group, _, name in columns} == {
        "png_bytes": "maps",
        "ssim": "maps",
        "method_seconds": "maps",
        **{f"abpc_{k}": "random-colour" for k in ("sum_logit", "mean_logit", "sum_prob_pct", "mean_prob_pct")},
        **{f"abpc_{k}_road": "road" for k in ("sum_logit", "mean_logit", "sum_prob_pct", "mean_prob_pct")},
    }
    assert all(bool(hidden) == (group != "random-colour") for group, hidden, _ in columns)
    # every row's cells carry their column's group, hidden alike (a sort moves whole rows)
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section[section.index("<tbody>") :]):
        cells = re.findall(r'<td data-value="[^"]*"(?: data-group="([^"]+)"( hidden)?)?>', row)
        assert [(g, h) for g, h in cells[1:]] == [(g, h) for g, h, _ in columns]
    assert "showGroup" in (site / "assets" / "site.js").read_text()
    # an image's scores in the explorer come in the same groups
    scores = (site / "explore-embedded-ci-chelsea.html").read_text()
    scores = scores[scores.index("<h2>Scores of this image</h2>") :]
    assert re.findall(r'<button type="button" data-group="([^"]+)"', scores) == ["random-colour", "road", "maps"]
    assert '<th data-group="road" hidden>abpc_sum_logit_road ↑</th>' in scores
    assert '<th data-group="random-colour">abpc_sum_logit ↑</th>' in scores


def test_check_pages_and_history(built_site):  # noqa: F811
    site, checks = built_site
    listing = (site / "checks.html").read_text()
    assert listing.count('href="check-') == 3
    real = json.loads((checks[-1] / "check.json").read_text())
    page = next(site.glob("check-sensitivity-now-*.html")).read_text()
    assert page.count('class="indistinguishable"') + page.count('class="better"') + page.count('class="worse"') >= len(
        real["comparisons"]
    )
    history = (site / "history.html").read_text()
    assert "sensitivity checked against embedded-ci" in history and "3 points" in history


def test_the_thesis_tables_show_the_checked_method(built_site):  # noqa: F811
    site, _ = built_site
    thesis = (site / "thesis.html").read_text()
    assert "Table 1: PNG size of the grayscale maps (KiB)" in thesis and "sensitivity (checked)" in thesis
    assert "75.3 ± 5.5" in thesis  # the thesis's own deeplift cell


def test_a_meta_table_grades_the_metrics(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    rows = "metric,measure,value,ci_low,ci_high,n\nssim,inter_rater_alpha,0.85,0.7,0.9,32\npng_bytes,inter_rater_alpha,0.1,0.0,0.2,32\n"
    (meta / "meta.csv").write_text(rows)
    graded = grades(pd.read_csv(meta / "meta.csv"))
    assert {m: g["grade"] for m, g in graded.items()} == {"ssim": "high", "png_bytes": "low"}
    assert main(["site", "embedded-ci", str(meta), "--out", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    # embedded-ci's own meta.csv grades its board: 5 images, below the minimum (issue 34)
    assert "trust: too few images (n=5)" in index and "trust: high" not in index


def test_refusals_name_the_folder_and_write_nothing(tmp_path, capsys):
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert main(["site", str(empty), "--out", str(tmp_path / "site")]) == 2
    assert "not a run, reference, check" in capsys.readouterr().err and not (tmp_path / "site").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["site", "embedded-ci", "--out", str(other)]) == 2
    assert "is not a site built by bench site" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_a_site_is_replaced_whole(tmp_path):
    out = tmp_path / "site"
    assert main(["site", "nips17-ci", "--out", str(out)]) == 0
    assert len(list(out.glob("explore-nips17-ci-*.html"))) == 32
    assert main(["site", "embedded-ci", "--out", str(out)]) == 0
    assert not list(out.glob("explore-nips17-ci-*.html")) and len(list(out.glob("explore-embedded-ci-*.html"))) == 5
    assert json.loads((out / "site.json").read_text())["sources"] == [{"folder": "embedded-ci", "kinds": ["reference"]}]


def test_report_markdown_becomes_html():
    out = markdown_to_html(["### Table \\_1", "", "| | a\\|b |", "|---|---|", "| **x** | `y<z` |", "", "note"])
    assert "<h4>Table _1</h4>" in out and '<th class="text">a|b</th>' in out
    assert "<strong>x</strong>" in out and "<code>y&lt;z</code>" in out and "<p>note</p>" in out
    # italics, and a code span kept literal (issue 36, item 11: the claims' notes)
    out = markdown_to_html(["*few images*: see `records/*/*.npz`, 2 * 3 * 4"])
    assert out == "<p><em>few images</em>: see <code>records/*/*.npz</code>, 2 * 3 * 4</p>"
    # a column of text is left-aligned, one of numbers (or none) right
    out = markdown_to_html(
        ["| | claim | share | none |", "|---|---|---|---|", "| a | **holds** | 5% | – |", "| b | x | n/a | – |"]
    )
    assert '<th class="text">claim</th>' in out and '<td class="text"><strong>holds</strong></td>' in out
    assert "<th>share</th>" in out and "<td>5%</td>" in out and "<td>–</td>" in out and "<td>a</td>" in out


def test_the_example_workflow_publishes_the_site():
    from ruamel.yaml import YAML

    workflow = YAML(typ="safe").load((Path(__file__).resolve().parents[1] / "examples" / "ci" / "saliency-check.yml").read_text())
    steps = workflow["jobs"]["check"]["steps"]
    build = next(s["run"] for s in steps if "python -m bench site" in s.get("run", ""))
    assert "--out site" in build and "check" in build.split("--out")[0]
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert [s["with"]["path"] for s in uploads] == ["site"]
    pages = workflow["jobs"]["pages"]
    assert pages["needs"] == "check" and pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert [s["uses"].split("@")[0] for s in pages["steps"]] == ["actions/deploy-pages"]


def test_studies_from_a_sanity_and_a_discovery_folder(tmp_path):
    from bench.studies.discovery import CSV_COLUMNS
    from bench.studies.sanity.summary import summary

    rng = np.random.default_rng(0)
    steps = [
        (m, i, s, s * rng.uniform(0.1, 0.9) if m == "sensitivity" else 1 - s / 3)
        for m in ("sensitivity", "elrp")
        for i in "ab"
        for s in range(4)
    ]
    table = pd.DataFrame(
        [(m, i, s, f"group{s}", 1 - v if s else 1.0, 1 - v / 2 if s else 1.0) for m, i, s, v in steps],
        columns=["method", "image_id", "step", "layer", "spearman", "ssim"],
    )
    sanity = tmp_path / "sanity"
    sanity.mkdir()
    test = {
        "status": "complete",
        "modes": ["cascading"],
        "methods": ["sensitivity", "elrp"],
        "summary": {"cascading": summary(table)},
    }
    (sanity / "sanity.json").write_text(json.dumps(test))
    discovery = tmp_path / "discovery"
    discovery.mkdir()
    (discovery / "discovery.json").write_text("{}")
    rows = [
        (model, f"layer{p}", p, i, 40 - 5 * p, 0.5, 100, 0.3 - 0.03 * p, 0.5)
        for model in ("vgg16", "resnet50")
        for p in range(1, 7)
        for i in "ab"
    ]
    pd.DataFrame(rows, columns=CSV_COLUMNS).to_csv(discovery / "discovery.csv", index=False)
    assert main(["site", str(sanity), str(discovery), "--out", str(tmp_path / "site")]) == 0
    studies = (tmp_path / "site" / "studies.html").read_text()
    assert "Randomisation test: sanity" in studies and "randomisation_spearman" in studies
    assert "Model discovery: discovery" in studies and "resnet50" in studies
    assert studies.count('class="plotly-graph-div"') == 4  # two similarities, loss term and spread


def test_exports_over_time_are_a_history(tmp_path, built_site):  # noqa: F811
    from bench.regression.export import export_folder

    _, checks = built_site
    folders = []
    for day, check in enumerate(checks):  # CI's artefacts of three commits, dated by their files
        out = tmp_path / f"export-{day}"
        bencher = next(p for p in export_folder(check, out) if p.name == "bencher.json")
        os.utime(bencher, (1_700_000_000 + day * 86_400,) * 2)
        folders.append(str(out))
    assert main(["site", *folders, "--out", str(tmp_path / "site")]) == 0
    history = (tmp_path / "site" / "history.html").read_text()
    assert "sensitivity in exports" in history and "3 points" in history


def test_a_references_images_show_where_a_data_folder_holds_them(tmp_path):
    """Issue 36, item 11: a reference stores no pixels; where a data folder here holds its images
    (the same sha256), the explorer lists each with a thumbnail and shows it on its page."""
    out = tmp_path / "site"
    assert main(["site", "embedded-ci", "--out", str(out)]) == 0  # the embedded photos are always here
    explorer = (out / "explorer.html").read_text()
    thumbs = re.findall(r'<a class="thumb" href="explore-embedded-ci-[^"]+"><img src="(img/embedded-ci/[^"]+)"', explorer)
    assert len(thumbs) == 5 and all((out / src).is_file() for src in thumbs)
    assert (
        '<img src="img/embedded-ci/astronaut/image.jpg" alt="astronaut">'
        in (out / "explore-embedded-ci-astronaut.html").read_text()
    )
    assert main(["site", "nips17-ci", "--out", str(tmp_path / "nips")]) == 0  # no NIPS-2017 data here: ids only
    assert '<a class="thumb" href="explore-nips17-ci-' in (tmp_path / "nips" / "explorer.html").read_text()


def test_the_thesis_pages_tables_each_scroll_and_wrap(tmp_path):
    """Issue 36, item 11: Table 3's wide cells were cut off; each table scrolls on its own, and its cells wrap."""
    out = tmp_path / "site"
    assert main(["site", "embedded-ci", "--out", str(out)]) == 0
    thesis = (out / "thesis.html").read_text()
    # Tables 1-3, the claims, Table 3 under ROAD and the claims under ROAD
    assert thesis.count('<div class="scroll"><table class="report wrap">') == thesis.count("<table") == 6
    assert "table.wrap td { white-space: normal;" in next(out.rglob("site.css")).read_text()


def test_the_thesis_page_has_the_claims_and_table_3_under_road(tmp_path):
    """Issue 36, item 11: the thesis page had neither the ROAD table nor the claims the run report
    has: the claims' verdicts (claims 3-4 read the stored curves) under random colours and under
    ROAD, and Table 3 under ROAD, from the reference's values."""
    out = tmp_path / "site"
    assert main(["site", "embedded-ci", "--out", str(out)]) == 0
    thesis = (out / "thesis.html").read_text()
    ref = load_reference("embedded-ci")
    curves = ref.curves()
    claims = thesis[thesis.index("<h3>The thesis&#x27;s claims</h3>") : thesis.index("<h3>Do the curve verdicts survive")]
    road = thesis[thesis.index("<h3>Do the curve verdicts survive") :]
    for claim in (PNG_CLAIM, SSIM_CLAIM, MORF_CLAIM, LERF_CLAIM, ABPC_CLAIM):
        assert html.escape(claim) in claims
    assert "<strong>Headline.</strong> Curve claims supported under both replacements" in claims
    # claim 4's evidence: noise_mask's mean LeRF logit over the window's steps (1-75 of 100 under random
    # colours, 1-6 of ROAD's 9 fractions), from the stored curves
    for section, key in ((claims, "noise_mask.lerf_logit"), (road, "noise_mask.road:lerf_logit")):
        steps = curves[key].shape[1] - 1
        first, last = lerf_window(steps)
        lerf = curves[key][:, first : last + 1].mean()
        pattern = rf"highest mean logit over LeRF steps {first}-{last} of {steps}: [^<]*noise_mask {lerf:.2f}"
        assert re.search(pattern, section), key
    assert "<strong>Caution, few images.</strong>" in claims and "<em>few images</em>" in road  # 5 images
    assert "<h4>Table 3 under road: ABPC</h4>" in road and "<h4>The curve claims under road</h4>" in road
    table = road[road.index("<h4>Table 3 under road") : road.index("</table>")]
    means = ref.metrics[ref.metrics["metric"] == "abpc_sum_logit_road"].groupby("method")["value"].mean()
    row = re.search(r"<td>road: sum over steps, logit</td>(.*?)</tr>", table).group(1)
    cells = [c.split(" ± ")[0] for c in re.findall(r"<td>([^<]*)</td>", row)]
    assert cells == [f"{means[m]:.1f}" for m in ["deeplift", "intgrad", "elrp", "sensitivity", "perturbation", "noise_mask"]]
    assert '<td class="text">' + html.escape(MORF_CLAIM) in road  # text columns are left-aligned


def test_the_readme_says_where_the_explorers_maps_come_from():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    shot = readme.index("![the image explorer]")
    assert "come from a run folder" in readme[shot : shot + 400] and "a shipped reference stores no maps" in readme


def test_a_curves_chart_is_tall_enough_for_its_legend():
    """Issue 36, item 11 (seen in the explorer's screenshot): 13 lines (the random order, six
    methods' MoRF and LeRF) made a legend taller than the 380 px chart, and noise_mask's entries
    were scrolled out of sight; the chart grows with its legend (20 px a line, 10 between methods)."""
    from bench.site.charts import curves_chart

    methods = ["deeplift", "intgrad", "elrp", "sensitivity", "perturbation", "noise_mask"]
    lines = [{"method": "random-order", "order": "random", "x": [0, 1], "y": [1, 0]}]
    lines += [{"method": m, "order": o, "x": [0, 1], "y": [1, 0]} for m in methods for o in ("morf", "lerf")]
    height = int(re.search(r'"height":(\d+)', curves_chart("t", lines, "c", methods)).group(1))
    assert height >= 20 * 13 + 10 * 7 + 100
    assert int(re.search(r'"height":(\d+)', curves_chart("t", lines[:3], "c", methods)).group(1)) == 380
