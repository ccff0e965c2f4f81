"""The Ray executor (issue 17): a run sharded over a simulated two-node Ray cluster
(``ray.cluster_utils.Cluster``, two nodes of 1 CPU on this machine) gives the local run's
results exactly, survives a worker killed mid-unit and a killed driver, and reports a
method's exception with the unit and the worker's traceback.

Smoke profile, tiny model, two embedded images. Skipped when Ray is not installed
(``pip install 'noise-mask-bench[ray]'``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from bench.cli import main  # noqa: E402
from bench.datasets import embedded_image_set_dir, load_image_set  # noqa: E402
from bench.execution.ray_cluster import RayExecutor, RayExecutorError, UnitFailed, WorkerLost  # noqa: E402
from bench.run.profile import apply_overrides, load_profile  # noqa: E402
from bench.run.runner import run_benchmark  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
KILL_ONCE = "ray_methods:KillOnce"
FAILS_ON = "ray_methods:FailsOn"
WALL_TIME = ["method_seconds", "seconds"]


def helpers_on_path(environment: bool = False) -> None:
    """ray_methods importable in this process and, with ``environment``, in the processes it starts
    from now on (Ray's nodes, whose workers inherit their environment)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if environment and str(TESTS) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), *filter(None, paths)])


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of 1 CPU each on this machine, shared by the module's tests."""
    old = os.environ.get("PYTHONPATH")
    helpers_on_path(environment=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture
def connected(cluster):
    """This process connected to the cluster for one test (the executor uses the connection)."""
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ray") / "killed-once"


def params(marker: Path) -> list[str]:
    """sensitivity, Noise Mask one image per unit, and the killing method (harmless while ``marker`` exists)."""
    return ["noise_mask.batch_size=1", f"{KILL_ONCE}.marker={marker}", f"{KILL_ONCE}.batch_size=1"]


def smoke_profile(marker: Path) -> dict:
    return apply_overrides(load_profile("smoke"), params(marker), images=2, methods=["sensitivity", "noise_mask", KILL_ONCE])


def cli_args(out: Path, marker: Path, *extra: str) -> list[str]:
    methods = f"sensitivity,noise_mask,{KILL_ONCE}"
    args = [
        "run",
        "--profile",
        "smoke",
        "--limit",
        "2",
        "--methods",
        methods,
        "--data-dir",
        str(embedded_image_set_dir()),
        "--out",
        str(out),
    ]
    for item in params(marker):
        args += ["--param", item]
    return [*args, *extra]


@pytest.fixture(scope="module")
def local(tmp_path_factory, marker) -> Path:
    """The same run on the local executor: what every Ray run must equal."""
    helpers_on_path()
    out = tmp_path_factory.mktemp("ray") / "local"
    run_benchmark(smoke_profile(marker), out, data_dir=embedded_image_set_dir(), log=lambda s: None)
    return out


def records(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted([*folder.glob("records/*/*.npz"), *folder.glob("baselines/*/*.npz")]):
        with np.load(path) as rec:
            arrays = {k: rec[k] for k in rec.files}
        names = list(arrays["metric_names"])
        keep = [i for i, n in enumerate(names) if n not in WALL_TIME]
        arrays["metric_names"], arrays["metric_values"] = arrays["metric_names"][keep], arrays["metric_values"][keep]
        out[str(path.relative_to(folder))] = arrays
    return out


def assert_same_results(out: Path, reference: Path) -> None:
    """Bit for bit: every record's arrays, every map, metrics.csv (but for wall times) and curves.csv."""
    mine, theirs = records(out), records(reference)
    assert sorted(mine) == sorted(theirs)
    for name, arrays in theirs.items():
        assert sorted(mine[name]) == sorted(arrays), name
        for key, value in arrays.items():
            assert np.array_equal(mine[name][key], value), f"{name}: {key}"
    for path in reference.glob("maps/*/*.npy"):
        assert np.array_equal(np.load(out / path.relative_to(reference)), np.load(path)), path

    def table(folder: Path) -> pd.DataFrame:
        frame = pd.read_csv(folder / "metrics.csv", dtype=str, keep_default_na=False)
        return frame[~frame["metric"].isin(WALL_TIME)].reset_index(drop=True)

    pd.testing.assert_frame_equal(table(out), table(reference))
    assert (out / "curves.csv").read_bytes() == (reference / "curves.csv").read_bytes()
    assert not list(out.rglob(".*.tmp"))


def subprocess_env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}


# ------------------------------------------------------------------ same results
def test_two_node_cluster_uses_both_nodes_and_equals_the_local_run(connected, local, marker, tmp_path):
    marker.touch()  # KillOnce harmless
    logs: list[str] = []
    out = run_benchmark(
        smoke_profile(marker), tmp_path / "ray", data_dir=embedded_image_set_dir(), log=logs.append, executor="ray"
    )
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2
    ready = [line for line in logs if line.startswith("ray: worker ready")]
    assert len(ready) == 2, logs
    assert {node[:12] for node in nodes} == {line.split("(node ")[1][:12] for line in ready}  # an actor on each node
    # the first units wait for both workers, so both nodes compute some however slowly one loads its model
    (per_node,) = [line.split("units per node: ")[1] for line in logs if "units per node" in line]
    assert per_node.count("node ") == 2, per_node
    assert any("on the ray executor" in line for line in logs)
    assert not any("not ready after" in line for line in logs)
    assert ray.is_initialized()  # the test's connection: the executor leaves it open
    assert_same_results(out, local)


def test_without_a_start_wait_the_first_ready_worker_starts_alone(connected, local, marker, tmp_path):
    """start_wait=0: the units go out as soon as one worker is ready (a model loads in seconds, so the
    other is still loading then); the late worker joins and the results are the same."""
    marker.touch()
    logs: list[str] = []
    out = run_benchmark(
        smoke_profile(marker),
        tmp_path / "ray",
        data_dir=embedded_image_set_dir(),
        log=logs.append,
        executor="ray",
        executor_options={"start_wait": 0},
    )
    assert any("2 of 2 workers not ready after 0s; starting on the others" in line for line in logs), logs
    assert_same_results(out, local)


def test_discover_on_two_nodes_equals_the_local_discovery(connected, tmp_path):
    """bench discover's (model, layer) records spread over both nodes: every mask, target and
    diagnostic and discovery.csv equal the local discovery's."""
    from bench.studies.discovery import run_discovery

    def discover(out: Path, logs: list[str], **executor) -> Path:
        return run_discovery(
            ["tiny"],
            out,
            data_dir=embedded_image_set_dir(),
            image_ids=["chelsea", "coffee"],
            layers={"tiny": "conv1,bn1,relu1,pool1,relu2,logits".split(",")},
            params={"max_iterations": 30, "window": 10},
            log=logs.append,
            **executor,
        )

    def without_times(record: dict) -> dict:
        return {**record, "seconds": 0, "values": {k: v for k, v in record["values"].items() if k != "seconds"}}

    local_logs, ray_logs = [], []
    local_out = discover(tmp_path / "local", local_logs)
    ray_out = discover(tmp_path / "ray", ray_logs, executor="ray")
    assert "6 (model, layer) records to compute on the ray executor" in ray_logs
    (per_node,) = [line.split("units per node: ")[1] for line in ray_logs if "units per node" in line]
    assert per_node.count("node ") == 2, per_node
    records = sorted(p.relative_to(local_out) for p in local_out.glob("records/tiny/*/*"))
    assert len(records) == 12 and records == sorted(p.relative_to(ray_out) for p in ray_out.glob("records/tiny/*/*"))
    for name in records:
        if name.suffix == ".npy":
            assert np.array_equal(np.load(ray_out / name), np.load(local_out / name)), name
        else:
            mine, theirs = (without_times(json.loads((root / name).read_text())) for root in (ray_out, local_out))
            assert mine == theirs, name
    assert (ray_out / "discovery.csv").read_bytes() == (local_out / "discovery.csv").read_bytes()


# ------------------------------------------------------------------ faults
def test_worker_killed_mid_unit_is_restarted_and_its_unit_resent(connected, local, marker, tmp_path):
    marker.unlink(missing_ok=True)  # the first KillOnce call in an actor kills that actor's process
    logs: list[str] = []
    out = run_benchmark(
        smoke_profile(marker), tmp_path / "ray", data_dir=embedded_image_set_dir(), log=logs.append, executor="ray"
    )
    assert marker.exists()  # a worker did kill itself
    killed_pid = int(marker.read_text())
    retries = [line for line in logs if "died; sending the unit again" in line]
    assert len(retries) == 1 and "kill_once [" in retries[0] and f"pid {killed_pid}" in retries[0], logs
    assert not any("could not be (re)started" in line for line in logs), logs  # restarted, not dropped
    done = [line for line in logs if line.startswith("  [")]
    assert len({line.split("] ", 1)[1].split(":")[0] for line in done}) == len(done)  # every unit written once
    assert_same_results(out, local)  # every record once, the same values


def test_a_unit_whose_worker_keeps_dying_stops_the_run_naming_it(connected, marker, tmp_path):
    marker.unlink(missing_ok=True)
    profile = apply_overrides(load_profile("smoke"), [f"{KILL_ONCE}.marker={marker}"], images=2, methods=[KILL_ONCE])
    with pytest.raises(WorkerLost, match=r"the unit kill_once \[.*\] \(2 images\) died 1 time \(retries allowed: 0\)"):
        run_benchmark(
            profile,
            tmp_path / "ray",
            data_dir=embedded_image_set_dir(),
            log=lambda s: None,
            executor="ray",
            executor_options={"max_retries": 0, "workers": 1},
        )
    assert marker.exists() and not list((tmp_path / "ray").glob("records/*/*.npz"))


def test_method_error_names_the_unit_and_keeps_the_other_records(connected, tmp_path):
    image_set = load_image_set(embedded_image_set_dir(), size=(32, 32), limit=2)
    bad = int(image_set.pixels[1].astype(np.int64).sum())
    profile = apply_overrides(
        load_profile("smoke"),
        [f"{FAILS_ON}.pixel_sum={bad}", f"{FAILS_ON}.batch_size=1"],
        images=2,
        methods=["sensitivity", FAILS_ON],
    )
    out, logs = tmp_path / "ray", []
    with pytest.raises(UnitFailed) as failed:
        run_benchmark(profile, out, data_dir=embedded_image_set_dir(), log=logs.append, executor="ray")
    message = str(failed.value)
    bad_id, good_id = image_set.ids[1], image_set.ids[0]
    assert f"the unit fails_on [{bad_id}] (1 image) failed on the Ray worker" in message
    assert 'raise ValueError(f"planted failure: an image sums to' in message  # the worker's raising line
    assert f"ValueError: planted failure: an image sums to {bad}" in message and "ray_methods.py" in message
    assert sum("failed; finishing the" in line for line in logs) == 1
    assert not any("sending the unit again" in line for line in logs)  # not retried
    assert not (out / "records" / "fails_on" / f"{bad_id}.npz").exists()
    # the units sent before the failure (the longest first: sensitivity, fails_on of each image) were done
    # or in flight, and were written; nothing was sent after it
    kept = {str(p.relative_to(out)) for p in out.glob("*/*/*.npz")}
    assert {f"records/sensitivity/{i}.npz" for i in image_set.ids} | {f"records/fails_on/{good_id}.npz"} <= kept


@pytest.mark.slow
def test_cli_method_error_exits_1_with_the_unit_and_traceback_on_stderr(cluster, tmp_path):
    image_set = load_image_set(embedded_image_set_dir(), size=(32, 32), limit=2)
    bad = int(image_set.pixels[1].astype(np.int64).sum())
    out = tmp_path / "ray"
    argv = ["run", "--profile", "smoke", "--limit", "2", "--methods", f"sensitivity,{FAILS_ON}"]
    argv += ["--param", f"{FAILS_ON}.pixel_sum={bad}", "--param", f"{FAILS_ON}.batch_size=1"]
    argv += [
        "--data-dir",
        str(embedded_image_set_dir()),
        "--out",
        str(out),
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
    ]
    proc = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=REPO, env=subprocess_env(), capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"UnitFailed: the unit fails_on [{image_set.ids[1]}] (1 image) failed on the Ray worker" in proc.stderr
    assert 'raise ValueError(f"planted failure: an image sums to' in proc.stderr
    assert f"ValueError: planted failure: an image sums to {bad}" in proc.stderr
    assert (out / "records" / "sensitivity" / f"{image_set.ids[1]}.npz").exists()


@pytest.mark.slow
def test_driver_killed_mid_run_resumes_by_rerunning_the_command(cluster, local, marker, tmp_path, monkeypatch, capsys):
    """The driver (the CLI) SIGKILLed once a record exists; the same command again completes the run.
    The rerun finds the cluster through RAY_ADDRESS and disconnects at the end."""
    marker.touch()
    out = tmp_path / "ray"
    argv = cli_args(out, marker, "--executor", "ray")
    driver = subprocess.Popen(
        [sys.executable, "-m", "bench", *argv, "--ray-address", cluster.address],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while not list(out.glob("records/*/*.npz")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    driver.send_signal(signal.SIGKILL)
    assert driver.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    assert len(list(out.glob("records/*/*.npz"))) < len(list(local.glob("records/*/*.npz")))
    assert not (out / "metrics.csv").exists()
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    capsys.readouterr()
    assert main(argv) == 0
    log = capsys.readouterr().out
    assert "resuming the run" in log and "ray: 2 workers (1 CPU each) on a cluster of 2 nodes" in log
    assert not ray.is_initialized()
    assert_same_results(out, local)


def test_a_worker_with_other_weights_stops_the_run(connected):
    """Each worker loads the model itself: one that found other weights on its node is refused (exit code 2)."""
    from bench.run.units import Unit, WorkSpec

    spec = WorkSpec("tiny", None, {"sensitivity": ("sensitivity", {})}, {"steps": 2, "pixels_per_step": 8, "batch_size": 2})
    unit = Unit(
        "sensitivity",
        ["a"],
        np.zeros((1, 32, 32, 3), np.uint8),
        np.array([0]),
        [1],
        np.zeros((1, 10), np.float32),
        ("random-colour",),
    )
    executor = RayExecutor(spec, workers=1, weights={"tiny": ("0" * 64, "the driver's weights")}, log=lambda s: None)
    try:
        with pytest.raises(RayExecutorError, match="loaded other weights for tiny than this process: random init, seed 0"):
            executor.run([unit], lambda unit, result: pytest.fail("no unit may be computed"))
    finally:
        executor.close()


# ------------------------------------------------------------------ usage errors
@pytest.mark.parametrize("command", [["run", "--profile", "smoke"], ["discover", "--model", "tiny"]])
def test_ray_options_need_the_ray_executor(capsys, tmp_path, command):
    assert main([*command, "--ray-address", "auto", "--out", str(tmp_path / "a")]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_missing_ray_is_an_input_error_naming_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert main(["run", "--profile", "smoke", "--executor", "ray", "--out", str(tmp_path / "a")]) == 2
    assert "pip install 'noise-mask-bench[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
