"""ROAD's replacement and the sanity check in runs: curves of both replacements, a run extended with
stored maps, the report's section, checks and exports (tiny model, smoke profile)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from bench.report.run_report import write_report
from bench.run.profile import apply_overrides, curve_grid, load_profile, replacements, with_explicit_road_grid
from bench.run.runner import RunError, run_benchmark
from bench.run.store import RunStore
from common.errors import ParameterError
from metrics import CurveEvaluator
from metrics.per_image import curve_metric_name
from metrics.perturbation import ROAD_PROTOCOL_STEPS, pixels_per_step_for

FAST = ["perturbation", "sensitivity"]
ROAD = ["abpc_sum_logit_road", "abpc_mean_logit_road", "abpc_sum_prob_pct_road", "abpc_mean_prob_pct_road"]


@pytest.fixture(scope="module")
def smoke():
    return apply_overrides(load_profile("smoke"), None, methods=FAST)


@pytest.fixture(scope="module")
def plain_run(smoke, tmp_path_factory):
    out = tmp_path_factory.mktemp("road") / "plain"
    run_benchmark(smoke, out, log=lambda s: None)
    return out


@pytest.fixture(scope="module")
def both_run(smoke, tmp_path_factory):
    out = tmp_path_factory.mktemp("road") / "both"
    run_benchmark(apply_overrides(smoke, ["metrics.replacement=random-colour,road"]), out, log=lambda s: None)
    write_report(out)  # the report is the report's job, as in bench run
    return out


def test_the_setting_takes_a_name_a_list_or_names_joined_by_commas(smoke):
    assert replacements({}) == ["random-colour"]
    assert replacements({"replacement": "road"}) == ["road"]
    assert replacements({"replacement": ["road", "random-colour"]}) == ["random-colour", "road"]
    assert replacements({"replacement": "road, random-colour"}) == ["random-colour", "road"]
    with pytest.raises(ParameterError, match=r"metrics\.replacement must be one of 'random-colour', 'road'"):
        run_benchmark(apply_overrides(smoke, ["metrics.replacement=blur"]), "unused", log=lambda s: None)


def test_a_run_with_both_replacements(both_run, plain_run):
    run = json.loads((both_run / "run.json").read_text())
    assert run["metrics_settings"]["replacement"] == ["random-colour", "road"]
    assert {"curves/random-colour", "curves/road"} <= set(run["timings_s"])
    metrics = pd.read_csv(both_run / "metrics.csv", dtype={"image_id": str})
    plain = pd.read_csv(plain_run / "metrics.csv", dtype={"image_id": str})
    for method in FAST:
        names = set(metrics[metrics["method"] == method]["metric"])
        assert set(ROAD) <= names
    # the random-colour numbers are those of a run without ROAD: the replacements do not interact
    key = ["image_id", "method", "metric"]
    merged = plain.merge(metrics, on=key, suffixes=("_plain", "_both"))
    merged = merged[merged["metric"] != "method_seconds"]
    assert len(merged) == len(plain[plain["metric"] != "method_seconds"])
    np.testing.assert_array_equal(merged["value_plain"], merged["value_both"])
    curves = pd.read_csv(both_run / "curves.csv", dtype={"image_id": str})
    assert list(curves.columns[:4]) == ["image_id", "method", "replacement", "order"]
    assert set(curves["replacement"]) == {"random-colour", "road"}
    road = curves[curves["replacement"] == "road"]
    assert set(road["order"]) == {"morf", "lerf", "random"}
    # ROAD's curves differ from the random-colour ones but start at the same unperturbed logit
    a = curves[(curves["replacement"] == "random-colour") & (curves["order"] == "morf")]
    b = road[road["order"] == "morf"]
    assert np.array_equal(a[a["step"] == 0]["logit"].to_numpy(), b[b["step"] == 0]["logit"].to_numpy())
    # ROAD on its own protocol (9 fractions), random colours on the profile's 20 steps; both end near 90 %
    assert set(b["step"]) == set(range(10)) and set(a["step"]) == set(range(21))
    last_a, last_b = a[a["step"] == 20], b[b["step"] == 9]
    np.testing.assert_allclose(last_a["fraction_replaced"], last_b["fraction_replaced"], atol=0.01)
    assert not np.allclose(last_a["logit"].to_numpy(), last_b["logit"].to_numpy())


def test_the_runs_road_curves_are_the_evaluators(both_run):
    """The stored ROAD curve of a map is what CurveEvaluator(replacement="road") gives for it."""
    from bench.run.planning import image_seed
    from models import get_model

    store = RunStore(both_run)
    run = store.read_run()
    model = get_model("tiny")
    from bench.datasets import load_image_set

    images = load_image_set(run["data_dir"], size=model.input_size, ids=run["image_ids"])
    rel = np.stack([store.load_map("sensitivity", i) for i in run["image_ids"]])
    ms = run["metrics_settings"]
    # ROAD's own protocol by default: 9 fractions of 10 % to 90 %, a grid of its own
    assert curve_grid(ms, "road") == (ROAD_PROTOCOL_STEPS, pixels_per_step_for(model.input_size, 9, 0.9))
    assert curve_grid(ms, "random-colour") == (ms["steps"], ms["pixels_per_step"]) and ms["steps"] == 20
    steps, pixels_per_step = curve_grid(ms, "road")
    evaluator = CurveEvaluator(
        model,
        images.pixels,
        np.array(run["targets"]),
        pixels_per_step=pixels_per_step,
        steps=steps,
        seed=[image_seed(run["seed"], i) for i in run["image_ids"]],
        replacement="road",
    )
    morf = evaluator.curves(rel, "morf")
    record = store.read_record(store.record_path("sensitivity", run["image_ids"][1]))
    assert record["road:morf_logit"].shape == (10,) and record["morf_logit"].shape == (21,)
    np.testing.assert_allclose(record["road:morf_logit"], morf.logits[1], rtol=1e-5, atol=1e-5)
    curves = store.tables(ms, 32 * 32)[1]
    fractions = curves[(curves["replacement"] == "road") & (curves["order"] == "morf")]["fraction_replaced"].unique()
    np.testing.assert_allclose(fractions, np.arange(10) * pixels_per_step / (32 * 32))


def test_road_grid_of_settings_stored_before_it_existed_is_the_random_colour_grid():
    """run.json and reference.json written before road_steps gave ROAD the random-colour grid; they still mean it,
    and a check of such a reference computes its curves on that grid."""
    old = {"steps": 100, "pixels_per_step": 449, "replacement": ["random-colour", "road"]}
    assert curve_grid(old, "road") == curve_grid(old, "random-colour") == (100, 449)
    assert with_explicit_road_grid(old) == {**old, "road_steps": 100, "road_pixels_per_step": 449}
    new = {**old, "road_steps": 9, "road_pixels_per_step": 5018}
    assert curve_grid(new, "road") == (9, 5018) and with_explicit_road_grid(new) == new


def test_a_road_grid_that_removes_every_pixel_is_refused_before_work(smoke, tmp_path):
    profile = apply_overrides(smoke, ["metrics.replacement=road", "metrics.road_steps=32", "metrics.road_pixels_per_step=32"])
    with pytest.raises(RunError, match=r"32 steps of 32 pixels \(road curves\) would replace all 1024 pixels"):
        run_benchmark(profile, tmp_path / "run", log=lambda s: None)
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_run_extended_with_road_reuses_its_maps(plain_run, both_run, smoke, tmp_path):
    out = tmp_path / "extended"
    shutil.copytree(plain_run, out)
    store = RunStore(out)
    ids = store.read_run()["image_ids"]
    maps_before = {m: [store.map_path(m, i).stat().st_mtime_ns for i in ids] for m in FAST}
    lines = []
    run_benchmark(apply_overrides(smoke, ["metrics.replacement=road"]), out, log=lines.append)
    assert any("adding the road curves" in line for line in lines)
    assert {m: [store.map_path(m, i).stat().st_mtime_ns for i in ids] for m in FAST} == maps_before  # maps not recomputed
    run = store.read_run()
    assert run["metrics_settings"]["replacement"] == ["random-colour", "road"]  # what it holds, not only what was asked
    extended = pd.read_csv(out / "metrics.csv", dtype={"image_id": str}).sort_values(["image_id", "method", "metric"])
    both = pd.read_csv(both_run / "metrics.csv", dtype={"image_id": str}).sort_values(["image_id", "method", "metric"])
    extended, both = extended[extended["metric"] != "method_seconds"], both[both["metric"] != "method_seconds"]
    assert extended[["image_id", "method", "metric"]].values.tolist() == both[["image_id", "method", "metric"]].values.tolist()
    np.testing.assert_allclose(extended["value"].to_numpy(), both["value"].to_numpy(), rtol=1e-6)
    # run again: nothing left to do
    lines.clear()
    run_benchmark(apply_overrides(smoke, ["metrics.replacement=road"]), out, log=lines.append)
    assert not any("units of work" in line for line in lines)


def test_the_report_sets_the_replacements_side_by_side(both_run):
    report = (both_run / "report.md").read_text()
    assert "## Do the curve verdicts survive ROAD's imputation?" in report
    assert "| replacement | claim |" in report
    assert "road: sum over steps, logit" in report and "ROAD / random colours = " in report
    assert "figures/morf_road.png" in report and (both_run / "figures" / "lerf_road.png").is_file()
    assert "road curves: 9 steps of" in report and "ROAD's own protocol" in report


def test_the_report_says_where_the_wall_time_went(both_run):
    """Issue 32: the model's passes, ROAD's imputation and the rest as shares of the run's wall time."""
    split = json.loads((both_run / "run.json").read_text())["time_split_s"]
    assert split["wall"] > 0 and split["model_passes"] > 0 and split["imputation"] > 0
    assert split["imputation"] <= json.loads((both_run / "run.json").read_text())["timings_s"]["curves/road"]
    report = (both_run / "report.md").read_text()
    row = re.search(r"\| model passes [^|]*\| ([\d.]+) \| (\d+)% \|", report)
    assert row and float(row[1]) == pytest.approx(split["model_passes"], abs=0.06), report
    assert round(100 * split["model_passes"] / split["wall"]) == int(row[2])
    assert "| ROAD's imputation" in report and "| everything else" in report


def test_a_resume_still_refuses_other_settings(plain_run, smoke):
    with pytest.raises(RunError, match=r"metrics_settings\.steps"):
        run_benchmark(apply_overrides(smoke, ["metrics.replacement=road", "metrics.steps=10"]), plain_run, log=lambda s: None)


def test_exports_and_names_of_the_road_metrics(both_run, tmp_path):
    from bench.regression.export import export_folder

    assert curve_metric_name("abpc_sum_logit", "road") == "abpc_sum_logit_road"
    assert curve_metric_name("abpc_sum_logit", "random-colour") == "abpc_sum_logit"
    paths = export_folder(both_run, tmp_path / "export")
    bigger = json.loads(next(p for p in paths if p.name.endswith("bigger.json")).read_text())
    assert {f"sensitivity {m}" for m in ROAD} <= {e["name"] for e in bigger}


class RecordingModel:
    """A Classifier stand-in whose logits are the mean of each channel; it keeps every image it scores."""

    name, num_classes, input_size = "recording", 3, (12, 12)

    def __init__(self):
        self.seen = []

    def check_images(self, images):
        return np.asarray(images)

    def logits(self, images, batch_size=32):
        self.seen += [np.array(x) for x in images]
        return np.asarray(images, np.float32).mean(axis=(1, 2))


def test_the_evaluator_scores_roads_imputation_of_each_step():
    from metrics.road import ImputationCurve

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (2, 12, 12, 3)).astype(np.uint8)
    relevance = rng.random((2, 12, 12))
    model = RecordingModel()
    ev = CurveEvaluator(model, images, np.array([0, 1]), pixels_per_step=10, steps=5, seed=[7, 8], replacement="road")
    curves = ev.curves(relevance, "morf")
    scored = model.seen[2:]  # after the two unperturbed images
    assert len(scored) == 2 * 5
    for i in range(2):
        expected = ImputationCurve(
            images[i], ev.image_ranking(i, relevance[i], "morf"), 10, 5, np.random.SeedSequence(ev._entropies[i], spawn_key=(3,))
        )
        for t in range(1, 6):
            np.testing.assert_array_equal(scored[i * 5 + t - 1], expected.step_image(t))
            assert curves.logits[i, t] == pytest.approx(expected.step_image(t).mean(axis=(0, 1))[ev.targets[i]], rel=1e-5)
    # the same ranking under random colours scores other images; the unperturbed step is shared
    plain = CurveEvaluator(model, images, np.array([0, 1]), pixels_per_step=10, steps=5, seed=[7, 8]).curves(relevance, "morf")
    np.testing.assert_array_equal(plain.logits[:, 0], curves.logits[:, 0])
    assert not np.allclose(plain.logits[:, 1:], curves.logits[:, 1:])


def test_a_check_against_a_reference_with_road_compares_the_road_metrics(both_run, tmp_path):
    from bench.regression.check import run_check
    from bench.regression.references import freeze_run

    freeze_run(both_run, tmp_path / "ref", name="road-ref")
    result = run_check("sensitivity", tmp_path / "check", reference=str(tmp_path / "ref"), log=lambda s: None)
    compared = {c["metric"] for c in result["comparisons"]}
    assert set(ROAD) <= compared and "abpc_sum_logit" in compared
    own = [c for c in result["comparisons"] if c["baseline"] == "sensitivity" and c["metric"] in ROAD]
    assert [c["mean_diff"] for c in own] == [0.0] * len(ROAD)  # the same method on the same images: the same ROAD curves
    # the regression mode compares the ROAD metrics too, each with its tolerance
    again = run_check(
        "sensitivity", tmp_path / "again", reference=str(tmp_path / "ref"), against=tmp_path / "check", log=lambda s: None
    )
    regressions = {r["metric"]: r for r in again["regressions"]}
    assert set(ROAD) <= set(regressions) and again["status"] == "pass"
    assert all(regressions[m]["mean_diff"] == 0.0 and regressions[m]["tolerance"] >= 0 for m in ROAD)


def test_a_check_of_a_reference_made_before_road_steps_uses_its_random_colour_grid(smoke, tmp_path):
    """A reference frozen before issue 32 has no road_steps: its ROAD curves are on the random-colour
    grid, and a check computes the method's ROAD curves on that grid, not on today's default."""
    from bench.regression.check import run_check
    from bench.regression.references import freeze_run

    grid = ["metrics.replacement=random-colour,road", "metrics.road_steps=20", "metrics.road_pixels_per_step=46"]
    run_benchmark(apply_overrides(smoke, grid), tmp_path / "run", log=lambda s: None)
    freeze_run(tmp_path / "run", tmp_path / "ref", name="old-ref")
    manifest = json.loads((tmp_path / "ref" / "reference.json").read_text())
    settings = manifest["fingerprint"]["metrics_settings"]
    assert (settings["steps"], settings["pixels_per_step"]) == (20, 46)
    del settings["road_steps"], settings["road_pixels_per_step"]  # as written before issue 32
    (tmp_path / "ref" / "reference.json").write_text(json.dumps(manifest))
    result = run_check("sensitivity", tmp_path / "check", reference=str(tmp_path / "ref"), log=lambda s: None)
    store = RunStore(tmp_path / "check" / "run")
    record = store.read_record(store.record_path("sensitivity", manifest["fingerprint"]["image_ids"][0]))
    assert record["road:morf_logit"].shape == (21,)  # 20 steps, not ROAD's 9 fractions
    own = [c for c in result["comparisons"] if c["baseline"] == "sensitivity" and c["metric"] in ROAD]
    assert len(own) == len(ROAD) and all(c["mean_diff"] == 0.0 for c in own)


def test_a_runs_sanity_folder_shows_in_its_report_and_export(plain_run, tmp_path):
    """``bench sanity ... --out RUN_DIR/sanity``: the run's report shows the randomisation table and
    figure, and its export charts the summary (lower is better)."""
    from bench.cli import main
    from bench.regression.export import export_folder

    run_dir = tmp_path / "run"
    shutil.copytree(plain_run, run_dir)
    assert main(["sanity", "--model", "tiny", "--methods", "sensitivity", "--limit", "2", "--out", str(run_dir / "sanity")]) == 0
    assert main(["report", str(run_dir)]) == 0
    report = (run_dir / "report.md").read_text()
    assert "## Sanity check: model-parameter randomisation" in report and "](sanity/figures/randomisation.png)" in report
    assert "| sensitivity |" in report.split("## Sanity check")[1]
    smaller = json.loads(next(p for p in export_folder(run_dir, tmp_path / "out") if p.name.endswith("smaller.json")).read_text())
    entries = {e["name"]: e for e in smaller}
    sanity = json.loads((run_dir / "sanity" / "sanity.json").read_text())["summary"]["cascading"]["sensitivity"]
    assert entries["sensitivity randomisation_spearman"]["value"] == sanity["spearman"]["mean"]
    assert "sensitivity png_bytes" in entries  # the run's own metrics are still there
    # a sanity folder exports on its own too
    alone = export_folder(run_dir / "sanity", tmp_path / "alone")
    assert {e["name"] for e in json.loads(alone[1].read_text())} == {
        "sensitivity randomisation_spearman",
        "sensitivity randomisation_ssim",
    }


@pytest.fixture(scope="module")
def run_with_sanity(plain_run, tmp_path_factory):
    """The smoke run with its randomisation test (both methods, 2 images) in RUN_DIR/sanity."""
    from bench.studies.sanity import run_sanity

    run_dir = tmp_path_factory.mktemp("sanity-ref") / "run"
    shutil.copytree(plain_run, run_dir)
    run_sanity("tiny", FAST, run_dir / "sanity", limit=2, log=lambda s: None)
    return run_dir


def test_a_check_against_a_reference_with_a_randomisation_test_runs_and_compares_it(run_with_sanity, tmp_path):
    from bench.regression.check import SANITY_COMPARED, compared_metrics, run_check
    from bench.regression.export import export_folder
    from bench.regression.references import freeze_run
    from bench.studies.sanity import final_values, read_table
    from metrics import holm

    ref = freeze_run(run_with_sanity, tmp_path / "ref", name="sanity-ref")
    assert ref.sanity["methods"] == FAST and (tmp_path / "ref" / "sanity.csv").is_file()
    tested = read_table(run_with_sanity / "sanity")
    ids = ref.sanity["fingerprint"]["image_ids"]
    for method in FAST:
        for metric in SANITY_COMPARED:
            np.testing.assert_array_equal(ref.sanity_values(method, metric), final_values(tested, method, metric, ids))

    result = run_check("sensitivity", tmp_path / "check", reference=str(tmp_path / "ref"), log=lambda s: None)
    assert (tmp_path / "check" / "sanity" / "randomisation.csv").is_file()
    assert result["sanity"]["images"] == ids and result["sanity"]["baselines"] == FAST
    rows = {(c["baseline"], c["metric"]): c for c in result["comparisons"]}
    for metric in SANITY_COMPARED:
        # the same method through the same test: the reference's values exactly
        assert result["sanity"]["values"][metric] == ref.sanity_values("sensitivity", metric).tolist()
        assert rows[("sensitivity", metric)]["mean_diff"] == 0.0
        assert rows[("sensitivity", metric)]["verdict"] == "indistinguishable"
        other = rows[("perturbation", metric)]
        expected = np.mean(ref.sanity_values("sensitivity", metric) - ref.sanity_values("perturbation", metric))
        assert other["mean_diff"] == pytest.approx(expected) and other["higher_is_better"] is False
    # one family: Holm over the run's and the test's comparisons together
    assert len(rows) == len(result["comparisons"]) == len(FAST) * (len(compared_metrics(ref)) + len(SANITY_COMPARED))
    raw = [c["p_raw"] for c in result["comparisons"]]
    assert [c["p_value"] for c in result["comparisons"]] == pytest.approx(list(holm(raw)))
    rank = {r["metric"]: r for r in result["ranks"]}
    assert rank["randomisation_spearman"]["of"] == 3
    md = (tmp_path / "check" / "check.md").read_text()
    assert "| randomisation_spearman ↓ |" in md and "the fully randomised model" in md
    family = len(result["comparisons"])  # 2 images: no comparison can be called, and the summary says so
    assert f"{family} of the {family} comparisons cannot reach a verdict" in md
    assert all(c["n"] == 2 for c in result["comparisons"])
    exported = export_folder(tmp_path / "check", tmp_path / "export")
    smaller = json.loads(next(p for p in exported if p.name.endswith("smaller.json")).read_text())
    assert {"sensitivity randomisation_spearman", "sensitivity png_bytes"} <= {e["name"] for e in smaller}

    # a regression check against it compares the test too, with its own tolerance
    again = run_check(
        "sensitivity", tmp_path / "again", reference=str(tmp_path / "ref"), against=tmp_path / "check", log=lambda s: None
    )
    regressions = {r["metric"]: r for r in again["regressions"]}
    assert set(SANITY_COMPARED) <= set(regressions)
    assert (
        regressions["randomisation_spearman"]["mean_diff"] == 0.0 and regressions["randomisation_spearman"]["tolerance"] == 0.05
    )
    assert again["status"] == "pass"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": "running"}, "holds an unfinished randomisation test"),
        ({"fingerprint.model": "efficientnet_lite0"}, "the randomisation test was made with efficientnet_lite0"),
        ({"fingerprint.image_ids": ["elsewhere"]}, "used images the run has not: elsewhere"),
    ],
)
def test_a_reference_refuses_a_randomisation_test_it_cannot_stand_for(run_with_sanity, tmp_path, change, message):
    from bench.regression.references import ReferenceInputError as FrozenReferenceError
    from bench.regression.references import freeze_run

    run_dir = tmp_path / "run"
    shutil.copytree(run_with_sanity, run_dir)
    test = json.loads((run_dir / "sanity" / "sanity.json").read_text())
    for key, value in change.items():
        *path, last = key.split(".")
        target = test
        for part in path:
            target = target[part]
        target[last] = value
    (run_dir / "sanity" / "sanity.json").write_text(json.dumps(test))
    with pytest.raises(FrozenReferenceError, match=message):
        freeze_run(run_dir, tmp_path / "ref")
    assert not (tmp_path / "ref").exists()


def test_the_quick_profile_computes_both_replacements_and_the_paper_profile_the_thesiss():
    """Issue 24: ROAD on by default where verdicts are made (quick, the references, checks); the
    paper profile keeps the thesis's protocol, ROAD an option (``--param metrics.replacement``)."""
    assert replacements(load_profile("quick")["metrics"]) == ["random-colour", "road"]
    assert load_profile("quick")["metrics"]["road_steps"] == ROAD_PROTOCOL_STEPS  # issue 32: ROAD's own protocol
    assert replacements(load_profile("paper")["metrics"]) == ["random-colour"]
    paper = apply_overrides(load_profile("paper"), ["metrics.replacement=random-colour,road"])
    assert replacements(paper["metrics"]) == ["random-colour", "road"]
