"""The report says each thing once (issue 36, item 8): Table 3's random-colour rows and the
random-colour claims are not repeated under ROAD, the map claims are not listed as curve claims,
and a verdict on fewer images than `bench check`'s rule needs carries that rule's caution."""

from __future__ import annotations

import re

import pytest

from bench.core.small_samples import images_for_a_verdict
from bench.report.claims import ABPC_CLAIM, LERF_CLAIM, MORF_CLAIM, PNG_CLAIM, SSIM_CLAIM, ClaimVerdict
from bench.report.run_report import write_report
from bench.report.sections import claims_table, few_images_note
from bench.run.profile import apply_overrides, load_profile
from bench.run.runner import run_benchmark


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    """report.md of a smoke run (every method, Noise Mask included) under both replacements."""
    out = tmp_path_factory.mktemp("report") / "run"
    run_benchmark(apply_overrides(load_profile("smoke"), ["metrics.replacement=random-colour,road"]), out, log=lambda s: None)
    return write_report(out).read_text()


def section(report: str, title: str) -> str:
    """The text of the section ``## title`` up to the next ``## `` heading."""
    start = report.index(f"\n## {title}")
    end = report.find("\n## ", start + 1)
    return report[start : end if end > 0 else None]


def rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


def test_table_3s_random_colour_rows_appear_once(report):
    main = section(report, "Tables")
    table_3 = [r for r in rows(main[main.index("### Table 3") :]) if r.startswith("| sum")]
    assert table_3, main
    for row in table_3:
        cells = row.split("|", 2)[2]  # the values, without the row's label
        assert report.count(cells) == 1, row
    road = section(report, "Do the curve verdicts survive ROAD's imputation?")
    assert [r.split("|")[1].strip() for r in rows(road) if ": sum" in r] == [
        "road: sum over steps, logit",
        "road: sum × 800/steps, logit",
        "road: sum over steps, probability %",
    ]
    assert "The random-colour rows are Table 3 above." in road


def test_the_curve_claims_under_road_are_curve_claims_listed_once(report):
    road = section(report, "Do the curve verdicts survive ROAD's imputation?")
    claims = road[road.index("### The curve claims") :]
    assert PNG_CLAIM not in claims and SSIM_CLAIM not in claims  # claims about maps, not curves
    listed = [r.split("|")[1:3] for r in rows(claims)[1:]]
    assert [(where.strip(), claim.strip()) for where, claim in listed] == [
        ("road", MORF_CLAIM),
        ("road", LERF_CLAIM),
        ("road", ABPC_CLAIM),
    ]
    assert "under random-colour (above)" in claims  # the random-colour verdict beside each, not a row of its own
    for claim in (MORF_CLAIM, LERF_CLAIM, ABPC_CLAIM, PNG_CLAIM, SSIM_CLAIM):
        assert len([r for r in rows(section(report, "The thesis's claims on this run")) if claim in r]) == 1


def test_a_verdict_on_too_few_images_carries_check_s_caution(report):
    need = images_for_a_verdict(5)
    decided = [r for r in rows(section(report, "The thesis's claims on this run")) if "supported**" in r]
    assert decided and all("(few images)" in r for r in decided), decided  # smoke: 2 images, each verdict marked
    assert "**Caution, few images.**" in report
    assert f"{need} images are needed for p < 0.05" in report
    assert re.search(r"On 2 images a verdict describes these images only", report) or "**none**" in report


def test_few_images_marks_only_decided_verdicts_below_checks_rule():
    need = images_for_a_verdict(5)
    family = [ClaimVerdict(f"claim {k}", "supported", 1.0, 1.0, "e", need - 1) for k in range(4)]
    family.append(ClaimVerdict("open", "undecided", 0.5, 0.5, "e", need - 1))
    table = claims_table([("", family)])
    assert sum("**supported** (few images)" in r for r in table) == 4
    assert any("**undecided** |" in r for r in table)
    note = " ".join(few_images_note([("", family)]))
    assert f"4 of these verdicts rest on {need - 1} images" in note and f"{need} images are needed" in note
    enough = [ClaimVerdict(v.claim, v.verdict, v.fraction, v.win_rate, v.evidence, need) for v in family]
    assert not any("few images" in r for r in claims_table([("", enough)]))
    assert few_images_note([("", enough)]) == []
    assert few_images_note([("", [ClaimVerdict("c", "supported", 1.0, 1.0, "e")])]) == []  # images unknown
