"""bench meta: the measures against values known by construction, the bootstrap, the grades, the
driver's files, a reference carrying its meta table, and the report's trust lines."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.regression.references import load_reference
from bench.studies.meta import measures
from bench.studies.meta.bootstrap import bootstrap, bootstrap_mean
from bench.studies.meta.grades import CRITERIA, grade_table
from bench.studies.meta.run import run_meta
from bench.studies.meta.sources import MetaSource
from bench.studies.meta.table import COLUMNS, inter_model_rows, perturbation_rows, reliability_rows
from common.errors import CorruptFileError

METHODS = ["a", "b", "c", "d"]


def long_table(values: dict[str, np.ndarray], methods=METHODS) -> pd.DataFrame:
    """metric -> (images x methods) values as metrics.csv's rows."""
    rows = []
    for metric, table in values.items():
        for i, row in enumerate(table):
            rows += [(f"img{i:02d}", m, metric, float(v)) for m, v in zip(methods, row)]
    return pd.DataFrame(rows, columns=["image_id", "method", "metric", "value"])


def source(values: dict[str, np.ndarray], early: dict[str, np.ndarray] | None = None, model="m0", methods=METHODS) -> MetaSource:
    n = len(next(iter(values.values())))
    early_rows = [
        (f"img{i:02d}", m, replacement, float(v))
        for replacement, table in (early or {}).items()
        for i, row in enumerate(table)
        for m, v in zip(methods, row)
    ]
    return MetaSource(
        name=model,
        model=model,
        image_ids=[f"img{i:02d}" for i in range(n)],
        methods=list(methods),
        metrics=long_table(values, methods),
        early_drop=pd.DataFrame(early_rows, columns=["image_id", "method", "replacement", "value"]),
        settings={},
    )


def by(rows: list[dict], metric: str, measure: str) -> dict:
    found = [r for r in rows if r["metric"] == metric and r["measure"] == measure]
    assert len(found) == 1, (metric, measure, found)
    return found[0]


# ---------------------------------------------------------------- measures
def test_ranks_follow_the_metrics_direction_and_average_ties():
    table = np.array([[3.0, 1.0, 2.0, 2.0]])
    assert measures.method_ranks(table, higher_is_better=True).tolist() == [[1.0, 4.0, 2.5, 2.5]]
    assert measures.method_ranks(table, higher_is_better=False).tolist() == [[4.0, 1.0, 2.5, 2.5]]


def test_alpha_is_one_when_every_image_ranks_the_methods_alike_and_near_zero_at_random():
    rng = np.random.default_rng(0)
    same = np.tile([4.0, 3.0, 2.0, 1.0], (20, 1)) + rng.normal(0, 0.01, (20, 4))
    assert measures.inter_rater_alpha(same, higher_is_better=True) == pytest.approx(1.0)
    noise = rng.normal(size=(400, 4))
    assert abs(measures.inter_rater_alpha(noise, higher_is_better=True)) < 0.05
    # the direction does not change agreement: reversed ranks agree as well
    assert measures.inter_rater_alpha(same, higher_is_better=False) == pytest.approx(1.0)
    # two camps of images with opposite rankings: each method gets ranks 1 and 4 alike, no agreement
    flipped = np.vstack([same[:10], same[10:, ::-1]])
    assert abs(measures.inter_rater_alpha(flipped, higher_is_better=True)) < 0.1


def test_inter_method_and_paired_spearman_and_kendall_taus():
    x = np.arange(10.0)[:, None]
    table = np.hstack([x, 2 * x + 1, x**3, -x])  # pairs: 5 of rho 1, 3 of rho -1 -> mean (3 - 3) / 6 = 0
    assert measures.inter_method_spearman(table) == pytest.approx(0.0)
    assert measures.inter_method_spearman(table[:, :3]) == pytest.approx(1.0)
    assert measures.paired_spearman(table, table**3) == pytest.approx(1.0)  # monotone per column
    assert measures.paired_spearman(table, -table) == pytest.approx(-1.0)
    a = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    assert measures.per_image_tau(a, a[:, ::-1]).tolist() == [-1.0, -1.0]
    b = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert measures.ranking_tau(b, b[:, [1, 0, 2, 3]]) == pytest.approx(4 / 6)


def test_bootstrap_interval_brackets_the_value_is_seeded_and_counts_undefined_resamples():
    values = np.random.default_rng(1).normal(size=40)
    first = bootstrap_mean(values, 500, seed=3)
    assert first == bootstrap_mean(values, 500, seed=3)
    assert first.value == pytest.approx(values.mean()) and first.n == 40
    assert first.ci_low < first.value < first.ci_high
    # a statistic undefined on resamples with a repeated image 0 (most of them)
    undefined = bootstrap(lambda k: np.nan if 0 in k else 1.0, 10, 200, seed=0)
    assert 0 < undefined.undefined < 200 and undefined.ci_low == undefined.ci_high == 1.0


# ---------------------------------------------------------------- the table
def test_reliability_rows_measure_replacements_and_early_drop_by_construction():
    rng = np.random.default_rng(0)
    n = 30
    quality = np.tile([4.0, 3.0, 2.0, 1.0], (n, 1)) + rng.normal(0, 0.3, (n, 4))
    values = {
        "png_bytes": -quality,  # lower is better: the same ranking as quality
        "abpc_sum_logit": quality,
        "abpc_sum_logit_road": quality[:, ::-1] + 0.0,  # the reverse method ranking under ROAD
    }
    rows = reliability_rows(source(values, {"random-colour": quality, "road": quality}), n_boot=200, seed=0)
    assert set(pd.DataFrame(rows).columns) == set(COLUMNS)
    png, abpc = by(rows, "png_bytes", "inter_rater_alpha"), by(rows, "abpc_sum_logit", "inter_rater_alpha")
    assert png["value"] == pytest.approx(abpc["value"]) and png["value"] > 0.8 and png["n"] == n
    tau = by(rows, "abpc_sum_logit", "internal_consistency_replacement_tau")
    twin = by(rows, "abpc_sum_logit_road", "internal_consistency_replacement_tau")
    assert tau["value"] == pytest.approx(-1.0) and {**tau, "metric": twin["metric"]} == twin
    assert by(rows, "abpc_sum_logit", "internal_consistency_morf")["value"] == pytest.approx(1.0)
    assert by(rows, "abpc_sum_logit_road", "internal_consistency_morf")["value"] < 0.5
    assert not [r for r in rows if r["metric"] == "png_bytes" and r["measure"].startswith("internal")]


def test_inter_model_tau_uses_common_images_and_methods():
    rng = np.random.default_rng(2)
    quality = np.tile([4.0, 3.0, 2.0, 1.0], (12, 1)) + rng.normal(0, 0.1, (12, 4))
    mine = source({"ssim": quality})
    other = source({"ssim": quality[:, [1, 0, 2, 3]][:, :3]}, model="m1", methods=["a", "b", "c"])
    rows = inter_model_rows(mine, other, n_boot=100, seed=0)
    # on methods a, b, c the other model swaps a and b: 2 of 3 pairs concordant -> tau 1/3
    assert by(rows, "ssim", "inter_model_tau")["value"] == pytest.approx(1 / 3)
    assert by(rows, "ssim", "inter_model_tau_images")["value"] == pytest.approx(1 / 3)


def test_noise_resilience_and_adversary_reactivity_from_recomputed_tables():
    rng = np.random.default_rng(3)
    quality = np.tile([4.0, 3.0, 2.0, 1.0], (8, 1)) + rng.normal(0, 0.1, (8, 4))
    tables = {
        "original": long_table({"ssim": quality}),
        "noise": long_table({"ssim": quality + 0.01}),
        "randomised": long_table({"ssim": quality[:, ::-1]}),
    }
    rows = perturbation_rows(tables, n_boot=100, seed=0)
    assert by(rows, "ssim", "noise_resilience")["value"] == pytest.approx(1.0)
    reactivity = by(rows, "ssim", "adversary_reactivity")
    assert reactivity["value"] == pytest.approx(2.0) and reactivity["ci_low"] <= reactivity["ci_high"]


# ---------------------------------------------------------------- grades
def test_grades_take_the_weakest_graded_measure_and_ignore_ungraded_ones():
    alpha, tau = CRITERIA[0], CRITERIA[1]
    rows = [
        ("m1", alpha.measure, alpha.high + 0.01),
        ("m2", alpha.measure, alpha.high + 0.01),
        ("m2", tau.measure, tau.low - 0.01),
        ("m3", alpha.measure, (alpha.high + alpha.low) / 2),
        ("m4", "inter_method_spearman", 0.99),
    ]
    table = pd.DataFrame([{"metric": m, "measure": k, "value": v, "ci_low": v, "ci_high": v, "n": 9} for m, k, v in rows])
    grades = grade_table(table)
    assert {m: g["grade"] for m, g in grades.items()} == {"m1": "high", "m2": "low", "m3": "medium"}
    assert grades["m2"]["weakest"] == tau.measure


# ---------------------------------------------------------------- files, references, check, report
@pytest.fixture(scope="module")
def meta_folder(tmp_path_factory):
    rng = np.random.default_rng(4)
    quality = np.tile([4.0, 3.0, 2.0, 1.0], (16, 1)) + rng.normal(0, 1.0, (16, 4))
    out = tmp_path_factory.mktemp("meta")
    run_meta(source({"ssim": quality, "png_bytes": rng.normal(size=(16, 4))}), out, n_boot=100)
    return out


def test_run_meta_writes_the_table_the_markdown_and_the_figure(meta_folder):
    table = pd.read_csv(meta_folder / "meta.csv")
    assert list(table.columns) == COLUMNS and set(table["metric"]) == {"ssim", "png_bytes"}
    text = (meta_folder / "meta.md").read_text()
    assert "## Trust grades" in text and "Krippendorff" in text and "| png_bytes | **low** (n=16) |" in text
    info = json.loads((meta_folder / "meta.json").read_text())
    assert info["grades"]["png_bytes"]["grade"] == "low" and info["bootstrap_samples"] == 100
    assert (meta_folder / "figures" / "meta.png").stat().st_size > 10_000


def test_a_reference_carries_its_meta_table_verified_by_sha256(meta_folder, tmp_path):
    ref = tmp_path / "ref"
    shutil.copytree(load_reference("embedded-ci").path, ref)
    (ref / "meta.csv").unlink()  # the shipped one carries its table: start from one without
    info = json.loads((ref / "reference.json").read_text())
    del info["files"]["meta.csv"]
    (ref / "reference.json").write_text(json.dumps(info))
    assert load_reference(ref).meta is None
    from bench.regression.references import attach_meta

    attached = attach_meta(ref, meta_folder / "meta.csv")
    assert "meta.csv" in attached.info["files"] and len(attached.meta) == len(pd.read_csv(meta_folder / "meta.csv"))
    assert attached.metrics.equals(load_reference("embedded-ci").metrics)  # the data files are untouched
    (ref / "meta.csv").write_text((ref / "meta.csv").read_text().replace("ssim", "png_bytes", 1))
    with pytest.raises(CorruptFileError, match=r"meta\.csv differs from the sha256"):
        load_reference(ref)


def test_check_markdown_marks_low_trust_and_says_whether_replacements_agree():
    from bench.regression.check import markdown, replacement_agreement

    row = dict(higher_is_better=True, mean_diff=1.0, ci_low=0.5, ci_high=1.5, p_value=0.01, p_raw=0.01, n=12)
    comparisons = [
        dict(row, baseline="a", metric="abpc_sum_logit", verdict="better"),
        dict(row, baseline="a", metric="abpc_sum_logit_road", verdict="indistinguishable"),
        dict(row, baseline="b", metric="abpc_sum_logit", verdict="worse"),
        dict(row, baseline="b", metric="abpc_sum_logit_road", verdict="worse"),
        dict(row, baseline="a", metric="ssim", verdict="better"),
    ]
    agreement = replacement_agreement(comparisons)
    assert [(a["baseline"], a["agree"]) for a in agreement] == [("a", False), ("b", True)]
    grade = {"grade": "low", "measures": {"inter_rater_alpha": [0.1, "low"]}, "weakest": "inter_rater_alpha"}
    result = {
        "method": "m",
        "reference": {"name": "r", "model": "tiny", "baselines": ["a", "b"]},
        "images": ["x"] * 12,
        "comparisons": comparisons,
        "ranks": [
            {"metric": m, "higher_is_better": True, "rank": 1, "of": 3} for m in ("abpc_sum_logit", "abpc_sum_logit_road", "ssim")
        ],
        "against": None,
        "regressions": [],
        "statistics": {"verdict": "v", "test": "t", "correction": "c"},
        "seconds_per_image": [],
        "trust": {"abpc_sum_logit": grade},
        "replacement_agreement": agreement,
    }
    text = markdown(result)
    assert "1 of the 2 curve verdicts agree under random-colour and road (1 differ)" in text.splitlines()[0]
    assert "| abpc_sum_logit ↑ | 1 of 3 | low: inter_rater_alpha 0.10 | better +1 † | **worse** +1 † |" in text
    assert "| ssim ↑ | 1 of 3 | – | better +1 | not tested |" in text
    assert "| abpc_sum_logit | **differ** (better / ~) | agree (**worse** / **worse**) |" in text


def test_bench_meta_on_a_shipped_reference_without_perturbation(tmp_path, capsys):
    out = tmp_path / "meta"
    assert main(["meta", "nips17-ci", "--out", str(out), "--perturb-images", "0", "--bootstrap", "50"]) == 0
    table = pd.read_csv(out / "meta.csv")
    assert (table["n"] == 32).all() and "internal_consistency_replacement_tau" in set(table["measure"])
    assert main(["meta", str(out), "--out", str(tmp_path / "x")]) == 2  # not a run nor a reference
    assert "not a run folder" in capsys.readouterr().err


def test_the_headline_says_which_claims_survive_both_replacements():
    from bench.report.claims import ABPC_CLAIM, PNG_CLAIM, survival

    methods = ["deeplift", "sensitivity", "noise_mask"]
    rng = np.random.default_rng(5)
    n = 20
    best_last = np.tile([2.0, 1.0, 3.0], (n, 1)) + rng.normal(0, 0.1, (n, 3))  # noise_mask best
    values = {
        "abpc_sum_logit": best_last,
        "abpc_sum_logit_road": best_last[:, ::-1],  # noise_mask worst under ROAD
        "png_bytes": -best_last,  # lower is better: noise_mask smallest
    }
    found = survival(long_table(values, methods), pd.DataFrame(), methods, ["random-colour", "road"], n_boot=200)
    assert found.both == [] and found.some == {ABPC_CLAIM: ["random-colour"]} and found.none == []
    assert found.maps == {PNG_CLAIM: "supported"}
    values["abpc_sum_logit_road"] = best_last
    found = survival(long_table(values, methods), pd.DataFrame(), methods, ["random-colour", "road"], n_boot=200)
    assert found.both == [ABPC_CLAIM] and not found.some
