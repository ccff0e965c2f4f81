"""Issue 23's cases that are not about the data folder: limits on what a setting may start,
methods that cannot change each other's input, a report that needs no current folder, and
stored or returned values that are refused instead of trusted (NaN, ids that leave the folder).

Each test makes its inputs (plug-in methods written to tmp_path, edited copies of a run)."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.datasets import embedded_image_set_dir
from common.errors import MethodOutputError
from methods import Attribution, SaliencyMethod
from methods.base import ConstantMapWarning
from models import get_model

RUN = ["run", "--profile", "smoke", "--limit", "2", "--methods", "sensitivity", "--data-dir", str(embedded_image_set_dir())]

PLUGINS = textwrap.dedent(
    '''
    import numpy as np
    from methods import Attribution, SaliencyMethod


    class Scribbler(SaliencyMethod):
        """Writes into its input, as a careless plug-in might."""

        name = "scribbler"

        def attribute(self, model, images, targets):
            images[:] = 0
            ones = np.ones(images.shape[:3], np.float32)
            return Attribution(ones, ones)


    class NanMaps(SaliencyMethod):
        name = "nan_maps"

        def attribute(self, model, images, targets):
            relevance = np.random.default_rng(0).random(images.shape[:3]).astype(np.float32)
            relevance[0, 0, 0] = np.nan
            return Attribution(relevance, relevance)
    '''
)


@pytest.fixture
def plugins(tmp_path, monkeypatch) -> str:
    """The module name of two faulty plug-in methods, importable as ``module:Class``."""
    (tmp_path / "faulty_plugins.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "faulty_plugins"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


def error(capsys) -> str:
    return capsys.readouterr().err


# ------------------------------------------------------------------ 3: limits on what a setting may start


def test_a_run_estimated_over_max_hours_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main([*RUN, "--param", "sensitivity.batch_size=1", "--max-hours", "0.000001", "--out", str(out)])
    err = error(capsys)
    assert rc == 2 and "over the limit of 1e-06 hours" in err and "--max-hours" in err, err
    assert not (out / "run.json").exists() and not list(out.glob("records/*/*.npz"))


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "many"])
def test_max_hours_must_be_a_finite_positive_number(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*RUN, "--max-hours", value, "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2 and "--max-hours" in error(capsys)


def test_noise_mask_trace_memory_follows_the_iterations_run():
    """A cap of a million iterations that stops after 40 allocates a trace of 40 columns at most
    a chunk, not a million (6 GB for a batch of 8 before)."""
    from methods.noise_mask import TRACE_CHUNK, NoiseMask

    model = get_model("tiny")
    pixels = np.random.default_rng(0).integers(0, 256, (1, *model.input_size, 3)).astype(np.uint8)
    method = NoiseMask(max_iterations=1_000_000, window=20, tolerance=1e9)  # converged at the first check
    explanation = method.explain(model, pixels)
    assert explanation.series["trace"].shape[1] <= TRACE_CHUNK
    assert int(explanation.diagnostics["iterations"][0]) == 40


# ------------------------------------------------------------------ 4: read-only inputs for methods


def test_a_method_that_writes_into_its_input_fails_naming_it_and_changes_nothing(plugins, tmp_path):
    model = get_model("tiny")
    pixels = np.random.default_rng(1).integers(0, 256, (2, *model.input_size, 3)).astype(np.uint8)
    before = pixels.copy()
    from methods import build_method

    with pytest.raises(ValueError, match="method 'scribbler' wrote into its input images"):
        build_method(f"{plugins}:Scribbler").explain(model, pixels)
    np.testing.assert_array_equal(pixels, before)


def test_explain_gives_every_method_the_same_pixels(plugins, tmp_path):
    """bench explain runs the methods one after another on one array: the scribbler fails and the
    pixels the method before it saw are the ones the next would see."""
    out = tmp_path / "explain"
    args = ["explain", "--model", "tiny", "--limit", "2", "--methods", f"sensitivity,{plugins}:Scribbler", "--out", str(out)]
    with pytest.raises(ValueError, match="scribbler"):
        main(args)


# ------------------------------------------------------------------ 11: NaN and constant maps


def test_nan_maps_are_a_named_error_in_explain_and_in_a_run(plugins, tmp_path, capsys):
    rc = main(["explain", "--model", "tiny", "--limit", "2", "--methods", f"{plugins}:NanMaps", "--out", str(tmp_path / "e")])
    err = error(capsys)
    assert rc == 2 and "method 'nan_maps' returned NaN or infinite relevance for 1 of 2 images" in err, err
    assert not list((tmp_path / "e").glob("maps/*/*.npy"))
    rc = main([*RUN[:5], "--methods", f"{plugins}:NanMaps", *RUN[7:], "--out", str(tmp_path / "r")])
    assert rc == 2 and "nan_maps" in error(capsys)
    assert not list((tmp_path / "r").glob("maps/*/*.npy"))


def test_a_constant_map_is_warned_about():
    class Flat(SaliencyMethod):
        name = "flat"

        def attribute(self, model, images, targets):
            flat = np.full(images.shape[:3], 0.5, np.float32)
            return Attribution(flat, flat)

    model = get_model("tiny")
    pixels = np.zeros((1, *model.input_size, 3), np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Flat().explain(model, pixels)
    assert any(issubclass(w.category, ConstantMapWarning) and "'flat' returned a constant map" in str(w.message) for w in caught)


def test_method_output_error_is_an_input_error():
    from common.errors import InputError

    assert issubclass(MethodOutputError, InputError)


# ------------------------------------------------------------------ 5: the report from anywhere


def test_report_is_rebuilt_from_another_folder_and_after_the_data_moved(run_dir, tmp_path, capsys, monkeypatch):
    run = json.loads((run_dir / "run.json").read_text())
    assert Path(run["data_dir"]).is_absolute()
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(copy)]) == 0
    assert "not drawn" not in (copy / "report.md").read_text()
    # the images moved away: the report is still rebuilt, and says what it left out and how to point at them
    moved = copy / "run.json"
    run["data_dir"] = str(tmp_path / "gone")
    moved.write_text(json.dumps(run))
    assert main(["report", str(copy)]) == 0
    report = (copy / "report.md").read_text()
    assert f"not in {tmp_path / 'gone'}" in report and "--data-dir" in report
    # --data-dir points at the moved copy; its pixels are checked against run.json
    assert main(["report", str(copy), "--data-dir", str(embedded_image_set_dir())]) == 0
    assert "not drawn" not in (copy / "report.md").read_text()


@pytest.mark.parametrize("bad", ["../../outside", "a/b", "x" * 200])
def test_report_refuses_ids_that_would_leave_the_run_folder(run_dir, tmp_path, capsys, bad):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    run = json.loads((copy / "run.json").read_text())
    run["image_ids"][0] = bad
    (copy / "run.json").write_text(json.dumps(run))
    before = (copy / "report.md").read_text()
    assert main(["report", str(copy)]) == 2
    assert "no plain file name" in error(capsys)
    assert (copy / "report.md").read_text() == before


# ------------------------------------------------------------------ 7: export of NaN


def test_export_of_a_nan_value_names_the_folder_method_and_metric(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    # a NaN that reached the records (e.g. from a plug-in's diagnostic): the report writes it as is
    from bench.run.store import RunStore

    store = RunStore(copy)
    for path in store.record_dir("sensitivity").glob("*.npz"):
        record = store.read_record(path)
        record["metric_values"][[str(n) for n in record["metric_names"]].index("ssim")] = np.nan
        with open(path, "wb") as fh:
            np.savez(fh, **record)
    assert main(["report", str(copy)]) == 0
    out = tmp_path / "export"
    rc = main(["export", str(copy), "--out", str(out)])
    err = error(capsys)
    assert rc == 2 and "2 of 2 values of ssim for sensitivity are not numbers" in err and str(copy) in err, err
    assert not out.exists() or not os.listdir(out)


# ------------------------------------------------------------------ 6: stored results are verified before they are trusted


def test_an_edited_reference_file_is_refused_naming_it(run_dir, tmp_path, capsys):
    ref = tmp_path / "ref"
    assert main(["reference", str(run_dir), "--out", str(ref)]) == 0
    from bench.regression.references import load_reference

    assert set(json.loads((ref / "reference.json").read_text())["files"]) == {"metrics.csv", "curves.npz"}
    load_reference(ref)  # intact: loads
    text = (ref / "metrics.csv").read_text().splitlines()
    head, first = text[0], text[1].rsplit(",", 1)[0]
    (ref / "metrics.csv").write_text("\n".join([head, f"{first},99999999", *text[2:]]) + "\n")
    rc = main(["check", "sensitivity", "--reference", str(ref), "--out", str(tmp_path / "check")])
    err = error(capsys)
    assert rc == 2 and f"{ref / 'metrics.csv'} differs from the sha256" in err, err
    assert not (tmp_path / "check" / "check.json").exists()


@pytest.mark.parametrize("name", ["nips17-ci", "embedded-ci"])
def test_the_shipped_references_carry_and_pass_their_hashes(name):
    from bench.regression.references import load_reference

    ref = load_reference(name)
    assert set(ref.info["files"]) >= {"metrics.csv", "curves.npz"}


def test_an_edited_map_is_refused_by_the_report(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    path = sorted((copy / "maps" / "sensitivity").glob("*.npy"))[0]
    edited = np.load(path)
    edited[0, 0] += 1
    np.save(path, edited)
    before = (copy / "report.md").read_text()
    assert main(["report", str(copy)]) == 2
    err = error(capsys)
    assert f"{path} is not the map this run wrote" in err, err
    assert (copy / "report.md").read_text() == before


def test_an_edited_metrics_table_is_refused_by_export(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert set(json.loads((copy / "run.json").read_text())["tables_sha256"]) == {"metrics.csv", "curves.csv"}
    table = pd.read_csv(copy / "metrics.csv", dtype={"image_id": str})
    table.loc[table["metric"] == "png_bytes", "value"] = 99999999
    table.to_csv(copy / "metrics.csv", index=False)
    rc = main(["export", str(copy), "--out", str(tmp_path / "export")])
    err = error(capsys)
    assert rc == 2 and "is not the table this run wrote" in err, err
    # the report rebuilds the table from the records, and export trusts it again
    assert main(["report", str(copy)]) == 0
    assert main(["export", str(copy), "--out", str(tmp_path / "export")]) == 0


# ------------------------------------------------------------------ 11: check.md escapes names; --against the same method only


def test_check_md_escapes_names_and_against_needs_the_same_method(run_dir, tmp_path, capsys):
    ref = tmp_path / "ref"
    assert main(["reference", str(run_dir), "--out", str(ref), "--name", "evil` | **x**"]) == 0
    first = tmp_path / "first"
    assert main(["check", "sensitivity", "--reference", str(ref), "--out", str(first)]) == 0
    text = (first / "check.md").read_text()
    assert "``evil` | **x**``" in text.splitlines()[0], text.splitlines()[0]
    from bench.core.markdown import table

    assert table(["a"], [["x | y"]])[-1] == "| x \\| y |"  # a bar in a cell cannot add a column
    rc = main(["check", "sensitivity", "--reference", str(ref), "--out", str(tmp_path / "second"), "--against", str(first)])
    assert rc == 0
    assert "against its previous check: no regression" in (tmp_path / "second" / "check.md").read_text()
    # against a check of another method, the headline names that method instead of saying "its previous check"
    main(["check", "deeplift", "--reference", str(ref), "--out", str(tmp_path / "third"), "--against", str(first)])
    headline = (tmp_path / "third" / "check.md").read_text().splitlines()[0]
    assert "against the previous check of another method, **sensitivity**" in headline, headline
    assert "its previous check" not in headline
