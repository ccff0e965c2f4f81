"""Dashboard exports of a run folder: every declared metric in the file of its direction,
values equal to the means of metrics.csv, CIs around them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.cli import main
from bench.regression.export import BENCHER, BIGGER, SMALLER
from metrics import PER_IMAGE_METRICS

PLAIN_METRICS = {k: v for k, v in PER_IMAGE_METRICS.items() if not k.endswith("_road")}
"""The metrics of a run without ROAD curves (those here)."""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run = root / "run"
    assert main(["run", "--profile", "smoke", "--methods", "sensitivity,perturbation", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(root / "out")]) == 0
    return run, root / "out"


def test_each_metric_goes_to_the_file_of_its_direction(exported):
    run, out = exported
    bigger = json.loads((out / BIGGER).read_text())
    smaller = json.loads((out / SMALLER).read_text())
    expected_bigger = {
        f"{m} {k}" for m in ("sensitivity", "perturbation") for k, v in PLAIN_METRICS.items() if v.higher_is_better
    }
    expected_smaller = {
        f"{m} {k}" for m in ("sensitivity", "perturbation") for k, v in PLAIN_METRICS.items() if not v.higher_is_better
    }
    assert {e["name"] for e in bigger} == expected_bigger
    assert {e["name"] for e in smaller} == expected_smaller
    assert "sensitivity method_seconds" in expected_smaller and "sensitivity ssim" in expected_bigger
    assert all(set(e) == {"name", "unit", "value", "range", "extra"} for e in bigger + smaller)
    table = pd.read_csv(run / "metrics.csv")
    for entry in bigger + smaller:
        method, metric = entry["name"].split(" ")
        values = table[(table["method"] == method) & (table["metric"] == metric)]["value"]
        assert entry["value"] == pytest.approx(values.mean())
        assert entry["unit"] == PER_IMAGE_METRICS[metric].unit


def test_bencher_file_brackets_each_mean_with_its_ci(exported):
    _, out = exported
    bencher = json.loads((out / BENCHER).read_text())
    assert set(bencher) == {"sensitivity", "perturbation"}
    for measures in bencher.values():
        assert set(measures) == set(PLAIN_METRICS)
        for m in measures.values():
            assert m["lower_value"] <= m["value"] <= m["upper_value"]


def test_export_of_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "is not a run, reference or check folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


GITHUB_ACTION_BENCHMARK_CUSTOM = {
    # github-action-benchmark's customBiggerIsBetter / customSmallerIsBetter input, as its README documents it
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "unit", "value"],
        "properties": {
            "name": {"type": "string"},
            "unit": {"type": "string"},
            "value": {"type": "number"},
            "range": {"type": "string"},
            "extra": {"type": "string"},
        },
        "additionalProperties": False,
    },
}
BENCHER_METRIC_FORMAT = {
    # Bencher Metric Format: {benchmark: {measure: {value, lower_value?, upper_value?}}}
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["value"],
            "properties": {"value": {"type": "number"}, "lower_value": {"type": "number"}, "upper_value": {"type": "number"}},
            "additionalProperties": False,
        },
    },
}


def test_exported_files_validate_against_the_documented_formats(exported):
    import jsonschema

    _, out = exported
    for name in (BIGGER, SMALLER):
        entries = json.loads((out / name).read_text())
        jsonschema.validate(entries, GITHUB_ACTION_BENCHMARK_CUSTOM)
        assert entries
    jsonschema.validate(json.loads((out / BENCHER).read_text()), BENCHER_METRIC_FORMAT)
    with pytest.raises(jsonschema.ValidationError):  # the schemas can fail
        jsonschema.validate([{"name": "x", "unit": "s"}], GITHUB_ACTION_BENCHMARK_CUSTOM)
