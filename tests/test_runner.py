"""Runs, resumption, the results store and the report, on the smoke profile (tiny model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.report.run_report import write_report
from bench.run.profile import apply_overrides, load_profile
from bench.run.runner import RunError, run_benchmark
from methods.noise_mask import NoiseMask

FAST = ["perturbation", "noise_mask", "sensitivity"]


@pytest.fixture(scope="module")
def smoke():
    return apply_overrides(load_profile("smoke"), None, methods=FAST)


@pytest.fixture(scope="module")
def complete_run(smoke, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    run_benchmark(smoke, out, log=lambda s: None)
    write_report(out)  # the report is the report's job, as in bench run
    return out


def test_run_folder_contents(complete_run, smoke):
    run = json.loads((complete_run / "run.json").read_text())
    assert run["status"] == "complete" and run["model"] == "tiny"
    assert run["method_params"]["noise_mask"]["max_iterations"] == 60
    assert run["metrics_settings"]["pixels_per_step"] == 46  # 89.5% of 32x32 in 20 steps
    assert {"random_curves", "noise_mask/explain", "noise_mask/metrics"} <= set(run["timings_s"])
    assert run["versions"]["tensorflow"] == __import__("tensorflow").__version__
    metrics = pd.read_csv(complete_run / "metrics.csv")
    assert list(metrics.columns) == ["image_id", "method", "metric", "value"]
    n = len(run["image_ids"])
    for method in FAST:
        part = metrics[metrics["method"] == method]
        assert part["image_id"].nunique() == n
        assert {"png_bytes", "ssim", "abpc_sum_logit", "abpc_mean_logit"} <= set(part["metric"])
    nm = metrics[metrics["method"] == "noise_mask"]
    assert {"preservation", "loss_term_pct", "iterations"} <= set(nm["metric"])
    curves = pd.read_csv(complete_run / "curves.csv")
    assert set(curves["order"]) == {"morf", "lerf", "random"}
    one = curves[(curves["method"] == "noise_mask") & (curves["order"] == "morf")]
    assert len(one) == n * 21 and one["fraction_replaced"].max() == pytest.approx(20 * 46 / 1024)
    # every curve of an image starts at the same unperturbed logit
    assert curves[curves["step"] == 0].groupby("image_id")["logit"].nunique().max() == 1
    for method in FAST:
        rel = np.load(complete_run / "maps" / method / f"{run['image_ids'][0]}.npy")
        assert rel.shape == (32, 32) and rel.dtype == np.float32
    report = (complete_run / "report.md").read_text()
    for needle in ["Table 1", "Table 2", "Table 3", "32.3", "0.599", "5243.72", "Departures", "model is tiny", "claims"]:
        assert needle in report
    from bench.run.store import RunStore

    traces = RunStore(complete_run).load_series("noise_mask", "trace")
    assert set(traces) == set(run["image_ids"]) and all(len(t) == 60 for t in traces.values())
    for fig in ["morf.png", "lerf.png", "maps.png", "distributions.png", "noise_mask_trace.png"]:
        assert (complete_run / "figures" / fig).stat().st_size > 5000


def test_killed_run_resumes_to_the_same_metrics(complete_run, smoke, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    original = NoiseMask.attribute
    calls = {"n": 0}

    def crash_on_second(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(NoiseMask, "attribute", crash_on_second)
    profile = apply_overrides(smoke, ["noise_mask.batch_size=1"])
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(profile, out, log=lambda s: None)
    assert not (out / "metrics.csv").exists()
    assert not list(out.rglob("*.tmp"))  # nothing half-written
    assert len(list((out / "records" / "noise_mask").glob("*.npz"))) == 1
    monkeypatch.setattr(NoiseMask, "attribute", original)
    logs = []
    run_benchmark(profile, out, log=logs.append)
    assert any("resuming" in line for line in logs)
    reference = tmp_path / "uninterrupted"
    run_benchmark(profile, reference, log=lambda s: None)
    pd.testing.assert_frame_equal(
        _comparable(pd.read_csv(out / "metrics.csv")), _comparable(pd.read_csv(reference / "metrics.csv"))
    )


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """metrics.csv without wall-time measurements, which differ run to run."""
    return frame[~frame["metric"].isin(["method_seconds", "seconds"])].reset_index(drop=True)


def test_resume_refuses_other_settings(complete_run, smoke):
    other = apply_overrides(smoke, ["noise_mask.max_iterations=61"])
    with pytest.raises(RunError, match="different settings"):
        run_benchmark(other, complete_run, log=lambda s: None)


def test_report_rebuilds_from_records_alone(complete_run, tmp_path, capsys):
    for name in ("report.md", "metrics.csv", "curves.csv"):
        (complete_run / name).unlink()
    assert main(["report", str(complete_run)]) == 0
    assert (complete_run / "report.md").is_file() and (complete_run / "metrics.csv").is_file()
    assert main(["report", str(tmp_path)]) == 2


def test_paper_profile_refuses_without_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--profile", "paper", "--out", str(tmp_path / "p")]) == 2
    assert "python -m bench fetch" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_bad_profile_and_param_are_named(capsys, tmp_path):
    assert main(["run", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["run", "--profile", "smoke", "--param", "noise_mask.bogus=1", "--out", str(tmp_path / "a")]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["run", "--profile", "smoke", "--param", "noise_mask.preset=fastest", "--out", str(tmp_path / "b")]) == 2
    assert "unknown preset 'fastest'" in capsys.readouterr().err
    assert not (tmp_path / "b" / "run.json").exists()


def test_report_places_the_noise_mask_setting_on_the_measured_convergence(complete_run, tmp_path):
    import pandas as pd

    from bench.report.convergence import section as convergence_section
    from methods.noise_mask import FAST

    report = (complete_run / "report.md").read_text()
    assert "distance from the faithful optimum" in report and "was not measured" in report  # tiny model
    assert (complete_run / "figures" / "noise_mask_convergence.png").is_file()

    run = {"model": "efficientnet_lite0", "method_params": {"noise_mask": {**NoiseMask.defaults, **FAST, "preset": "fast"}}}
    metrics = pd.DataFrame({"image_id": ["a", "b"], "method": "noise_mask", "metric": "iterations", "value": [3200.0, 3200.0]})
    lines = "\n".join(convergence_section(run, metrics, tmp_path / "c.png"))
    assert "preset `fast` (Adam lr 0.06), 3,200 steps per image" in lines
    assert "objective +22." in lines and "blurred-mask r 0.86" in lines and (tmp_path / "c.png").is_file()
    metrics["value"] = [500.0, 800.0]  # stopped by the rule at different steps: no single measured point
    assert "was not measured" in "\n".join(convergence_section(run, metrics, tmp_path / "d.png"))


def test_a_run_on_fewer_images_than_asked_says_so_in_its_log_and_report(smoke, tmp_path):
    from bench.datasets.embedded import embedded_image_set_dir
    from bench.report.sections import departures

    profile = apply_overrides(smoke, None, methods=["sensitivity"], images=16)
    logs: list[str] = []
    out = run_benchmark(profile, tmp_path / "short", data_dir=embedded_image_set_dir(), log=logs.append)
    (data_line,) = [line for line in logs if line.startswith("data:")]
    assert data_line.endswith("5 images (the profile asks for 16; only 5 are available)")
    run = json.loads((out / "run.json").read_text())
    assert "5 images, not 200: the profile asks for 16, and only 5 are available in the data" in departures(run)
    assert "5 images, not 200" in departures({**run, "images_requested": 5})  # as asked: no reason to give
    assert not any("asks for" in line for line in departures({**run, "images_requested": 5}))


def test_a_rerun_without_out_resumes_the_newest_unfinished_run_of_the_profile(tmp_path, monkeypatch, capsys):
    """Issue 36, item 1: the log names the run folder first; the same command again resumes it
    until it is complete, then starts a new one."""
    monkeypatch.chdir(tmp_path)
    command = ["run", "--profile", "smoke", "--methods", "noise_mask", "--param", "noise_mask.batch_size=1"]
    original = NoiseMask.attribute
    calls = {"n": 0}

    def crash_on_second(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("a unit failed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(NoiseMask, "attribute", crash_on_second)
    with pytest.raises(RuntimeError, match="a unit failed"):
        main(command)
    (folder,) = (tmp_path / "results").iterdir()
    first = capsys.readouterr().out.splitlines()
    assert first[0] == f"run folder: results/{folder.name} (the same command resumes it if it stops)", first
    assert json.loads((folder / "run.json").read_text())["status"] == "running"
    monkeypatch.setattr(NoiseMask, "attribute", original)

    assert main(command) == 0
    again = capsys.readouterr().out.splitlines()
    assert again[0].startswith(f"resuming results/{folder.name}, the newest unfinished run of profile smoke")
    assert again[0].endswith("; pass --out NEW to start afresh")
    assert [p.name for p in (tmp_path / "results").iterdir()] == [folder.name]
    assert json.loads((folder / "run.json").read_text())["status"] == "complete"
    assert (folder / "report.md").is_file()

    assert main(command) == 0  # a complete run is not resumed
    third = capsys.readouterr().out.splitlines()
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(folders) == 2 and third[0].startswith("run folder: results/smoke-") and folder.name not in third[0]
    # other settings: not resumed either, though unfinished
    run = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**run, "status": "running"}))
    assert main([*command, "--param", "noise_mask.max_iterations=7"]) == 0
    assert len(list((tmp_path / "results").iterdir())) == 3
