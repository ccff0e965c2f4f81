"""The thesis-rendering search: distances computed by hand, the pairing search, the cache of
rendered values, and the report section on a smoke run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bench.report import rendering_search as rs
from bench.report.run_report import write_report
from bench.run.profile import apply_overrides, load_profile
from bench.run.runner import run_benchmark
from bench.run.store import MAP_SHA256, RunStore, map_sha256
from common import thesis
from metrics import MASK_RENDERINGS, RENDERINGS


def thesis_table(renderings=RENDERINGS) -> pd.DataFrame:
    """A means table in which every rendering reproduces the thesis exactly."""
    target = rs.thesis_targets()
    rows = []
    for rendering in renderings:
        for method in thesis.METHOD_ORDER:
            if rendering in MASK_RENDERINGS and method != rs.MASK_METHOD:
                continue
            rows.append((rendering, method, target.loc[method, "bpp"], target.loc[method, "ssim"]))
    return pd.DataFrame(rows, columns=["rendering", "method", "bits_per_pixel", "ssim"]).set_index(["rendering", "method"])


def test_thesis_targets_are_table_1_per_pixel_and_table_2():
    target = rs.thesis_targets()
    assert target.loc["deeplift", "bpp"] == pytest.approx(75.3 * 1024 * 8 / 299**2)
    assert target.loc["noise_mask", "bpp_std"] == pytest.approx(7.5 * 1024 * 8 / 299**2)
    assert target.loc["noise_mask", "ssim"] == 0.599 and target.loc["sensitivity", "ssim_std"] == 0.01


def test_distance_is_the_rms_of_differences_in_thesis_standard_deviations():
    table = thesis_table()
    assert rs.distance(table, "abs-p99.5", "abs-p99.5") == 0
    shifted = table.copy()
    shifted.loc[("abs-p99.5", "noise_mask"), "ssim"] += 2 * 0.12  # two thesis stds
    shifted.loc[("abs-p99.5", "perturbation"), "bits_per_pixel"] -= rs.thesis_targets().loc["perturbation", "bpp_std"]
    assert rs.distance(shifted, "abs-p99.5", "abs-p99.5") == pytest.approx(np.sqrt((4 + 1) / 12))
    # Noise Mask drawn otherwise: only its two cells come from the mask rendering
    assert rs.distance(shifted, "abs-p99.5", "mask") == pytest.approx(np.sqrt(1 / 12))
    assert np.isnan(rs.distance(table.drop(("mask", "noise_mask")), "abs-p99.5", "mask"))


def test_search_pairs_every_baseline_rendering_with_every_noise_mask_rendering():
    table = thesis_table()
    table.loc[(slice(None), slice(None)), "ssim"] += 0.5
    baselines = [m for m in thesis.METHOD_ORDER if m != rs.MASK_METHOD]
    table.loc[[("deepexplain-heatmap", m) for m in baselines], "ssim"] -= 0.5  # exact for the baselines
    table.loc[("masked-image-grey", "noise_mask"), "ssim"] -= 0.5  # exact for Noise Mask
    found = rs.search(table)
    baseline = [r for r in RENDERINGS if r not in MASK_RENDERINGS]
    assert len(found) == len(baseline) * len(RENDERINGS)
    best = found.iloc[0]
    assert (best.baseline_rendering, best.noise_mask_rendering, best.alike) == ("deepexplain-heatmap", "masked-image-grey", False)
    assert best.distance == pytest.approx(0, abs=1e-12) and found.iloc[1].distance > 0.1
    assert list(found["distance"]) == sorted(found["distance"])


def test_as_metrics_takes_noise_mask_from_its_rendering_and_the_rest_from_theirs():
    values = pd.DataFrame(
        [
            ("a", "noise_mask", "mask", "x", 10, 1.0, 0.5),
            ("a", "noise_mask", "abs-p99.5", "x", 20, 2.0, 0.1),
            ("a", "deeplift", "abs-p99.5", "y", 30, 3.0, 0.2),
            ("a", "deeplift", "innvestigate-heatmap", "y", 40, 4.0, 0.3),
        ],
        columns=rs.COLUMNS,
    )
    long = rs.as_metrics(values, "abs-p99.5", "mask")
    got = {(r.method, r.metric): r.value for r in long.itertuples()}
    assert got == {
        ("noise_mask", "png_bytes"): 10,
        ("noise_mask", "ssim"): 0.5,
        ("deeplift", "png_bytes"): 30,
        ("deeplift", "ssim"): 0.2,
    }


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("renderings") / "run"
    profile = apply_overrides(load_profile("smoke"), None, methods=list(thesis.METHOD_ORDER))
    run_benchmark(profile, out, log=lambda s: None)
    write_report(out)  # the report is the report's job, as in bench run
    return out


def test_rendered_values_are_cached_by_map_content(smoke_run, tmp_path, monkeypatch):
    shutil.copytree(smoke_run, tmp_path / "run")
    store = RunStore(tmp_path / "run")
    run = store.read_run()
    images = rs.load_run_images(run, run["image_ids"])
    assert images is not None and set(images) == set(run["image_ids"])
    methods = {"sensitivity": False, "noise_mask": True}
    first = rs.rendering_values(store, images, methods, 9)
    per_image = len(RENDERINGS) + len(RENDERINGS) - len(MASK_RENDERINGS)
    assert len(first) == per_image * len(images)
    calls = []
    real = rs.render_map
    monkeypatch.setattr(rs, "render_map", lambda *a: calls.append(a[2]) or real(*a))
    again = rs.rendering_values(store, images, methods, 9)
    assert calls == [] and again.equals(first)
    image_id = run["image_ids"][0]
    # a recomputed map (as a rerun writes it: the map, then its record with the map's sha256)
    changed = np.ones((32, 32), np.float32)
    np.save(store.map_path("sensitivity", image_id), changed)
    record = store.read_record(store.record_path("sensitivity", image_id))
    record[MAP_SHA256] = np.array(map_sha256(changed))
    with open(store.record_path("sensitivity", image_id), "wb") as fh:
        np.savez(fh, **record)
    rs.rendering_values(store, images, methods, 9)
    assert len(calls) == len(RENDERINGS) - len(MASK_RENDERINGS)


def test_report_shows_the_rendering_search_and_robust_verdicts(smoke_run):
    report = (smoke_run / "report.md").read_text()
    assert "## Which rendering of the maps did the thesis measure?" in report
    assert "### Closest pairings" in report and "holds in resamples" in report
    for rendering in RENDERINGS:
        assert f"| `{rendering}` |" in report
    table = pd.read_csv(smoke_run / rs.CACHE)
    assert set(table["rendering"]) == set(RENDERINGS)
    run = json.loads((smoke_run / "run.json").read_text())
    spec = table[(table["rendering"] == rs.SUITE_RENDERING)].set_index(["image_id", "method"])
    metrics = pd.read_csv(smoke_run / "metrics.csv").query("metric == 'png_bytes'").set_index(["image_id", "method"])
    for key, row in spec.iterrows():  # the spec's rendering is the run's own map
        assert row["png_bytes"] == metrics.loc[key, "value"], key
    assert len(spec) == len(run["image_ids"]) * len(run["methods"])
