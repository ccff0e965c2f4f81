"""Run folders under faults (issue 11): one writer at a time, resumes that refuse what they
cannot trust, reports that never destroy results, bad settings refused before any work, and
fault injection: runs killed at several points, two writers at once, each kind of file
corrupted. Smoke profile, two embedded images, two methods; about a minute on 2 cores.

Each case checks the exit code (2 = the user's input, the message naming the file or
setting) and that nothing previously valid was lost or altered (sha256 of every file)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.datasets import embedded_image_set_dir
from bench.run.profile import apply_overrides, load_profile, validate_profile
from bench.run.store import RunStore
from common.errors import FolderBusyError, InputError, ParameterError
from common.files import atomic_path, replace_dir, write_json

REPO = Path(__file__).resolve().parents[1]
METHODS = "sensitivity,noise_mask"
# noise_mask in chunks of one image: several commits (map, record, run.json) to be killed between
RUN = ["--profile", "smoke", "--limit", "2", "--methods", METHODS, "--param", "noise_mask.batch_size=1"]
WALL_TIME = ["method_seconds", "seconds"]

# A `python -m bench` that, at the N-th call of one function, kills itself with SIGKILL (before
# or after the call) or pauses until a file appears: faults at exact points, with no timing races.
HARNESS = r"""
import importlib, os, signal, sys, time
from pathlib import Path
from bench.cli import main

where, count, action = sys.argv[1], int(sys.argv[2]), sys.argv[3]
module, _, attr = where.partition(":")
owner_name, _, name = attr.rpartition(".")
owner = importlib.import_module(module)
for part in filter(None, owner_name.split(".")):
    owner = getattr(owner, part)
original, calls = getattr(owner, name), [0]

def hooked(*args, **kwargs):
    calls[0] += 1
    hit = calls[0] == count
    if hit and action == "kill-before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if hit and action == "kill-after":
        os.kill(os.getpid(), signal.SIGKILL)
    if hit and action.startswith("pause:"):
        release = Path(action[len("pause:"):])
        release.with_suffix(".paused").touch()
        while not release.exists():
            time.sleep(0.02)
    return result

setattr(owner, name, hooked)
sys.exit(main(sys.argv[4:]))
"""


def run_args(out: Path, *extra: str) -> list[str]:
    return ["run", *RUN, "--data-dir", str(embedded_image_set_dir()), "--out", str(out), *extra]


def bench(capsys, *argv: str) -> tuple[int, str]:
    """``python -m bench ARGV`` in this process: (exit code, stderr)."""
    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().err


def subprocess_env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}


def harness(where: str, count: int, action: str, argv: list[str], log: Path) -> subprocess.Popen:
    """The fault-injecting ``python -m bench ARGV`` (HARNESS) as a child process; its stderr goes to ``log``."""
    with open(log, "w") as err:
        return subprocess.Popen(
            [sys.executable, "-c", HARNESS, where, str(count), action, *argv],
            cwd=REPO,
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (except paths starting with ``skip``)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not str(p.relative_to(folder)).startswith(skip)
    }


def comparable(path: Path) -> pd.DataFrame:
    """metrics.csv without wall-time rows, which differ run to run."""
    frame = pd.read_csv(path)
    return frame[~frame["metric"].isin(WALL_TIME)].sort_values(["method", "image_id", "metric"]).reset_index(drop=True)


def assert_same_results(out: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(comparable(out / "metrics.csv"), comparable(reference / "metrics.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "curves.csv"), pd.read_csv(reference / "curves.csv"))
    assert sorted(p.relative_to(out) for p in out.rglob("*.np[yz]")) == sorted(
        p.relative_to(reference) for p in reference.rglob("*.np[yz]")
    )
    assert not list(out.rglob(".*.tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run: what every interrupted or refused case must end up equal to."""
    out = tmp_path_factory.mktemp("faults") / "reference"
    assert main(run_args(out)) == 0
    return out


@pytest.fixture
def copy(reference, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    return out


# ------------------------------------------------------------------ fault injection: kills
KILL_POINTS = {
    # name: (function, its N-th call, action, a file that must be there after the kill (glob), one that must not)
    "after the first method record": (
        "bench.run.store:RunStore.save_record",
        3,
        "kill-after",
        "records/sensitivity/*",
        "records/noise_mask",
    ),
    "map written, its record not": (
        "bench.run.store:RunStore.save_map",
        3,
        "kill-after",
        "maps/noise_mask/*.npy",
        "records/noise_mask",
    ),
    "inside an atomic write": ("os:replace", 13, "kill-before", "**/.*.tmp", "metrics.csv"),
    "consolidating the tables": (
        "bench.run.store:RunStore.write_tables",
        1,
        "kill-before",
        "records/noise_mask/chelsea.npz",
        "metrics.csv",
    ),
    "drawing the figures": ("bench.report.figures:save_figure", 2, "kill-before", "metrics.csv", "report.md"),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_run_killed_at_a_point_resumes_to_the_uninterrupted_result(point, reference, tmp_path, capsys):
    where, count, action, there, absent = KILL_POINTS[point]
    out = tmp_path / "killed"
    log = tmp_path / "stderr.txt"
    proc = harness(where, count, action, run_args(out), log)
    assert proc.wait(timeout=120) == -signal.SIGKILL, log.read_text()
    assert list(out.glob(there)) and not (out / absent).exists() and not (out / "report.md").exists()
    rc, err = bench(capsys, *run_args(out))  # the killed holder's lock went with it
    assert rc == 0, err
    assert_same_results(out, reference)


def test_run_killed_from_outside_resumes(reference, tmp_path, capsys):
    """SIGKILL from another process as soon as the first method record appears."""
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *run_args(out)], cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("records/*/*.npz")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "report.md").exists()
    rc, err = bench(capsys, *run_args(out))
    assert rc == 0, err
    assert_same_results(out, reference)


# ------------------------------------------------------------------ one writer at a time
def test_second_writer_is_refused_while_the_first_completes(reference, tmp_path, capsys):
    out, release = tmp_path / "shared", tmp_path / "release"
    log = tmp_path / "stderr.txt"
    first = harness("bench.run.store:RunStore.save_record", 5, f"pause:{release}", run_args(out), log)
    deadline = time.monotonic() + 120
    while not release.with_suffix(".paused").exists():
        assert first.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    before = snapshot(out)
    rc, err = bench(capsys, *run_args(out, "--param", "noise_mask.max_iterations=61"))  # other settings
    assert rc == 2 and "in use by another process" in err and f"pid {first.pid} on host" in err
    assert "command: " in err and "started 20" in err and "noise_mask.batch_size=1" in err
    rc, err = bench(capsys, *run_args(out))  # the same settings: refused all the same
    assert rc == 2 and f"pid {first.pid} on host" in err
    rc, err = bench(capsys, "report", str(out))  # the report rewrites files: it takes the same lock
    assert rc == 2 and f"pid {first.pid}" in err
    assert snapshot(out) == before
    release.touch()
    assert first.wait(timeout=120) == 0, log.read_text()
    assert json.loads((out / "run.json").read_text())["method_params"]["noise_mask"]["max_iterations"] == 60
    assert_same_results(out, reference)


def test_lock_names_its_holder_and_dies_with_it(copy, capsys):
    with RunStore(copy).lock():
        holder = json.loads((copy / ".lock").read_text())
        assert holder["pid"] == os.getpid() and {"host", "command", "started"} <= set(holder)
        with pytest.raises(FolderBusyError, match=f"pid {os.getpid()} on host"):
            with RunStore(copy).lock():
                pass
    assert (copy / ".lock").read_text() == ""  # released: the next writer gets it
    with RunStore(copy).lock():
        pass


# ------------------------------------------------------------------ the report never destroys results
@pytest.mark.parametrize(
    "remove, named",
    [
        ("records", "records/ holds no records at all"),
        ("records/noise_mask", "records/noise_mask: 2 of 2 images missing"),
        ("records/noise_mask/chelsea.npz", "records/noise_mask: 1 of 2 images missing"),
        ("baselines", "baselines/random-order: 2 of 2 images missing"),
    ],
)
def test_report_refuses_missing_records_and_changes_nothing(copy, remove, named, capsys):
    path = copy / remove
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    before = snapshot(copy)
    rc, err = bench(capsys, "report", str(copy))
    assert rc == 2 and named in err and str(copy) in err, err
    assert snapshot(copy) == before  # metrics.csv, curves.csv, report.md, figures/: byte-identical


def test_report_of_a_partial_run_shows_what_is_done(copy, capsys):
    run = json.loads((copy / "run.json").read_text())
    write_json(copy / "run.json", {**run, "status": "running"})
    shutil.rmtree(copy / "records" / "noise_mask")
    rc, err = bench(capsys, "report", str(copy))
    assert rc == 0, err
    assert "sensitivity 2, noise_mask 0" in (copy / "report.md").read_text()


# ------------------------------------------------------------------ resume: seed, pixels, older folders
def test_resume_refuses_another_seed(copy, tmp_path, capsys):
    profile = tmp_path / "smoke_seed1.toml"
    profile.write_text((REPO / "bench/run/profiles/smoke.toml").read_text().replace("seed = 0", "seed = 1"))
    before = snapshot(copy)
    rc, err = bench(capsys, *run_args(copy, "--profile", str(profile)))
    assert rc == 2 and "different settings: seed 0 (this run: 1)" in err, err
    assert snapshot(copy) == before


def test_resume_refuses_other_pixels_under_the_same_ids(copy, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(embedded_image_set_dir(), data)
    image = data / "images" / "chelsea.png"
    from PIL import Image

    pixels = np.asarray(Image.open(image)).copy()
    pixels[:10] = 255 - pixels[:10]
    image.chmod(0o644)
    Image.fromarray(pixels).save(image)
    before = snapshot(copy)
    rc, err = bench(capsys, *run_args(copy, "--data-dir", str(data)))
    assert rc == 2 and "the pixels of image ids chelsea" in err and "astronaut" not in err, err
    assert snapshot(copy) == before


def test_resume_refuses_a_folder_from_an_older_version(copy, capsys):
    run = json.loads((copy / "run.json").read_text())
    del run["image_sha256"]
    write_json(copy / "run.json", run)
    before = snapshot(copy)
    rc, err = bench(capsys, *run_args(copy))
    assert rc == 2 and "made by an older version" in err, err
    assert snapshot(copy) == before


def test_records_without_run_json_are_not_resumed(copy, capsys):
    (copy / "run.json").unlink()
    before = snapshot(copy)
    rc, err = bench(capsys, *run_args(copy))
    assert rc == 2 and "holds records but no run.json" in err, err
    assert snapshot(copy) == before


def test_resume_names_every_other_setting(copy, capsys):
    rc, err = bench(capsys, *run_args(copy, "--param", "noise_mask.max_iterations=61", "--param", "metrics.steps=21"))
    assert rc == 2 and "method_params.noise_mask.max_iterations 60 (this run: 61)" in err, err
    assert "metrics_settings.steps 20 (this run: 21)" in err


# ------------------------------------------------------------------ bad settings: refused before any work
BAD_SETTINGS = [
    (["--param", "metrics.steps=-5"], "metrics.steps must be a positive int at most 100,000; got -5"),
    (["--param", "metrics.steps=2.5"], "metrics.steps must be a positive int at most 100,000; got 2.5"),
    (["--param", "metrics.steps=100000000"], "metrics.steps must be a positive int at most 100,000; got 100000000"),
    (["--param", "metrics.bootstrap_samples=1000000000"], "metrics.bootstrap_samples must be a positive int at most 1,000,000"),
    (["--param", "noise_mask.max_iterations=1000000000"], "noise_mask.max_iterations"),
    (["--param", "intgrad.steps=1000000000"], "intgrad.steps"),
    (["--param", "metrics.pixels_per_step=abc"], "metrics.pixels_per_step must be \"auto\" or a positive int; got 'abc'"),
    (["--param", "metrics.pixels_per_step=0"], "metrics.pixels_per_step"),
    (["--param", "metrics.png_compress_level=12"], "metrics.png_compress_level must be an int in 0..9; got 12"),
    (["--param", "metrics.bootstrap_samples=0"], "metrics.bootstrap_samples must be a positive int"),
    (["--param", "metrics.batch_size=0"], "metrics.batch_size must be a positive int"),
    (["--param", "metrics.grid_images=-1"], "metrics.grid_images must be a positive int"),
    (["--param", "metrics.stpes=10"], "metrics.stpes is not a setting (did you mean steps?)"),
]


@pytest.mark.parametrize("extra, named", BAD_SETTINGS, ids=[e[-1] for e, _ in BAD_SETTINGS])
def test_bad_setting_is_named_and_nothing_is_written(extra, named, copy, tmp_path, capsys):
    rc, err = bench(capsys, *run_args(tmp_path / "new", *extra))
    assert rc == 2 and named in err, err
    assert not (tmp_path / "new").exists()
    before = snapshot(copy)
    assert bench(capsys, *run_args(copy, *extra))[0] == 2
    assert snapshot(copy) == before


@pytest.mark.parametrize(
    "run_settings, named",
    [
        ({"images": 0}, "run.images (--limit) must be a positive int at most 1,000,000; got 0"),
        ({"images": -1}, "run.images (--limit) must be a positive int at most 1,000,000; got -1"),
        ({"selection": "middle"}, 'run.selection must be "first" or "random"; got \'middle\''),
        ({"seed": -1}, "run.seed must be a non-negative int"),
        ({"seeed": 1}, "run.seeed is not a setting (did you mean seed?)"),
    ],
)
def test_bad_run_settings_are_named(run_settings, named, tmp_path):
    from bench.run.runner import run_benchmark

    profile = apply_overrides(load_profile("smoke"), None, **run_settings)
    with pytest.raises(ParameterError, match=re.escape(named)):
        run_benchmark(profile, tmp_path / "new", log=lambda s: None)
    assert not (tmp_path / "new").exists()


def test_every_problem_is_named_at_once():
    profile = apply_overrides(load_profile("smoke"), ["metrics.steps=0", "metrics.batch_size=x"], images=0)
    del profile["metrics"]["png_compress_level"]
    with pytest.raises(InputError) as err:
        validate_profile(profile)
    for name in ("metrics.steps", "metrics.batch_size", "metrics.png_compress_level is not set", "run.images"):
        assert name in str(err.value)
    for name in ("smoke", "quick", "paper"):
        validate_profile(load_profile(name))


# ------------------------------------------------------------------ fault injection: corrupt files
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _no_keys(path: Path) -> None:
    path.write_text("{}\n")


CORRUPT = {
    "record, truncated": ("records/noise_mask/astronaut.npz", _truncate),
    "record, garbage": ("records/sensitivity/chelsea.npz", _garbage),
    "record, a flipped byte (CRC)": ("records/noise_mask/chelsea.npz", _flip),
    "baseline record, truncated": ("baselines/random-order/astronaut.npz", _truncate),
    "run.json, truncated": ("run.json", _truncate),
    "run.json, garbage": ("run.json", _garbage),
    "run.json, no keys": ("run.json", _no_keys),
    "map, truncated": ("maps/noise_mask/chelsea.npy", _truncate),
    "map, garbage": ("maps/sensitivity/astronaut.npy", _garbage),
}


@pytest.mark.parametrize("command", ["report", "run"])
@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_file_is_named_and_nothing_else_changes(case, command, copy, capsys):
    name, corrupt = CORRUPT[case]
    corrupt(copy / name)
    before = snapshot(copy)
    rc, err = bench(capsys, *(["report", str(copy)] if command == "report" else run_args(copy)))
    assert rc == 2 and str(copy / name) in err and "unreadable" in err, err
    if name.startswith("maps/"):  # its record marks the work done: both must go
        assert str(copy / name.replace("maps/", "records/").replace(".npy", ".npz")) in err
    assert snapshot(copy) == before


def test_deleting_a_named_corrupt_record_recomputes_it(copy, reference, capsys):
    _truncate(copy / "records/noise_mask/chelsea.npz")
    rc, err = bench(capsys, *run_args(copy))
    assert rc == 2 and "delete it and run again to recompute it" in err
    (copy / "records/noise_mask/chelsea.npz").unlink()
    assert bench(capsys, *run_args(copy))[0] == 0
    assert_same_results(copy, reference)


@pytest.mark.parametrize("command", ["report", "run"])
def test_corrupt_metrics_csv_is_rebuilt_from_the_records(command, copy, reference, capsys):
    """metrics.csv is derived: rebuilt, byte for byte; the records, maps and run.json are untouched
    (a resumed run adds to run.json's timings); the figures are redrawn the same."""
    _garbage(copy / "metrics.csv")
    skip = ("metrics.csv",) + (("run.json",) if command == "run" else ())
    before = snapshot(copy, skip)
    rc, err = bench(capsys, *(["report", str(copy)] if command == "report" else run_args(copy)))
    assert rc == 0, err
    assert (copy / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    assert snapshot(copy, skip) == before


# ------------------------------------------------------------------ files: leftovers, modes, replace_dir
def test_resume_removes_temporary_files_left_by_a_killed_writer(copy, capsys):
    leftovers = [copy / "records/noise_mask/.astronaut.npz.k1l2m3.tmp", copy / ".metrics.csv.x9y8.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    capsys.readouterr()
    assert main(run_args(copy)) == 0
    assert "removed 2 half-written temporary files" in capsys.readouterr().out
    assert not list(copy.rglob("*.tmp"))


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_writes_get_the_mode_open_would_give(umask, tmp_path):
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"x")
        with open(tmp_path / "plain.bin", "w"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == (tmp_path / "plain.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def test_run_files_are_not_private(reference):
    mode = 0o666 & ~_umask()
    for name in ("run.json", "metrics.csv", "records/noise_mask/astronaut.npz", "maps/sensitivity/chelsea.npy"):
        assert (reference / name).stat().st_mode & 0o777 == mode, name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_replace_dir_warns_naming_an_old_copy_it_cannot_remove(tmp_path, monkeypatch):
    target, staged = tmp_path / "data", tmp_path / "staged"
    for folder, text in ((target, "old"), (staged, "new")):
        folder.mkdir()
        (folder / "a.txt").write_text(text)

    def read_only(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("common.files.shutil.rmtree", read_only)
    backup = tmp_path / f".data.old-{os.getpid()}"
    with pytest.warns(UserWarning, match=f"delete {backup}"):
        replace_dir(staged, target)
    assert (target / "a.txt").read_text() == "new" and backup.is_dir()
