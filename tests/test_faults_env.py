"""The environment's faults (issue 34, rule 5): an unwritable HOME or results folder, an empty
XDG_CACHE_HOME, a bad BENCH_PROGRESS_INTERVAL, a bad Kaggle configuration. Each ends in exit
code 2 with a message naming the path or the variable, never a traceback, and the test checks
what is (not) on disk afterwards.

File permissions bind root only without the capabilities that override them: the commands that
need a read-only folder run in one child process started through ``setpriv`` (skipped where
neither that nor a non-root user is available)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.datasets import embedded_image_set_dir

REPO = Path(__file__).resolve().parents[1]
RUN = ["run", "--profile", "smoke", "--limit", "2", "--methods", "sensitivity"]

# Runs each (environment, argv) case of a JSON list through bench's main in this one process (one
# TensorFlow import for all) and writes [exit code, stderr] per case to the file named last.
CASES = r"""
import contextlib, io, json, os, sys
from bench.cli import main

cases, results = json.loads(sys.argv[1]), []
for env, argv in cases:
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if v is not None})
    for k in [k for k, v in env.items() if v is None]:
        os.environ.pop(k, None)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except BaseException as exc:
        import traceback
        code, err = 1, io.StringIO("Traceback\n" + "".join(traceback.format_exception(exc)))
    os.environ.clear()
    os.environ.update(saved)
    results.append([code, err.getvalue()])
with open(sys.argv[2], "w") as fh:
    json.dump(results, fh)
"""


def without_override() -> list[str]:
    """The prefix that makes file permissions bind this user (root: setpriv dropping the
    capabilities that override them); skips where that is impossible."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (the lock file aside: its holder's note)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def read_only(folder: Path) -> None:
    for d in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        d.chmod(0o555)


def writable(folder: Path) -> None:
    for d in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        d.chmod(0o755)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("env") / "run"
    assert main([*RUN, "--data-dir", str(embedded_image_set_dir()), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def unwritable(finished_run, tmp_path_factory):
    """Every read-only case run at once: name -> (exit code, stderr, the folders involved, their
    content before)."""
    prefix = without_override()
    base = tmp_path_factory.mktemp("unwritable")
    home, parent, run_ro = base / "home", base / "read-only", base / "run-ro"
    home.mkdir()
    parent.mkdir()
    shutil.copytree(finished_run, run_ro)
    data = str(embedded_image_set_dir())
    no_cache_vars = {"HOME": str(home), "BENCH_CACHE_DIR": None, "XDG_CACHE_HOME": None}
    cases = {
        # no --data-dir: the embedded set lives in the cache under HOME
        "home": (no_cache_vars, [*RUN, "--out", str(base / "home-run")], home / ".cache" / "noise-mask-bench"),
        "new run": ({}, [*RUN, "--data-dir", data, "--out", str(parent / "run")], parent / "run"),
        "resume": ({}, [*RUN, "--data-dir", data, "--out", str(run_ro)], run_ro),
        "report": ({}, ["report", str(run_ro)], run_ro),
        "site": ({}, ["site", str(finished_run), "--out", str(parent / "site")], parent),
        "meta": ({}, ["meta", str(finished_run), "--out", str(parent / "meta"), "--perturb-images", "0"], parent / "meta"),
        "meta in place": (
            {},
            ["meta", str(finished_run), "--out", str(run_ro / "meta"), "--perturb-images", "0"],
            run_ro / "meta",
        ),
    }
    before = {name: snapshot(base) for name in cases}
    for folder in (home, parent, run_ro):
        read_only(folder)
    results_file = base / "results.json"
    try:
        spec = json.dumps([[env, argv] for env, argv, _ in cases.values()])
        subprocess.run(
            [*prefix, sys.executable, "-c", CASES, spec, str(results_file)],
            cwd=base,  # no data/nips17 here: the embedded default is looked for in the cache
            env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"},
            timeout=600,
            check=True,
        )
    finally:
        for folder in (home, parent, run_ro):
            writable(folder)
    results = json.loads(results_file.read_text())
    return {name: (*results[i], case[2], before[name], base) for i, (name, case) in enumerate(cases.items())}


@pytest.mark.parametrize("case", ["home", "new run", "resume", "report", "site", "meta", "meta in place"])
def test_an_unwritable_folder_is_exit_2_naming_it_and_nothing_is_written(unwritable, case):
    code, err, named, before, base = unwritable[case]
    assert code == 2, err
    assert "Traceback" not in err
    assert f"error: {named}: " in err, err  # the path that could not be made or written
    assert "BENCH_CACHE_DIR" in err if case == "home" else "choose another folder" in err
    after = snapshot(base)
    after.pop("results.json", None)
    assert after == before  # nothing written, nothing changed (the read-only run's files included)


def test_an_oserror_that_names_no_path_or_is_no_environment_fault_keeps_its_traceback(monkeypatch):
    from bench.cli import run as run_commands

    def broken(args):
        raise OSError(5, "Input/output error", "/some/file")  # EIO: a failing disk, not a permission

    monkeypatch.setattr(run_commands, "_report", broken)
    with pytest.raises(OSError, match="Input/output"):
        main(["report", "x"])


@pytest.mark.parametrize("xdg", ["", "relative/cache"])
def test_an_empty_or_relative_xdg_cache_home_means_home_dot_cache(xdg, tmp_path, monkeypatch):
    from common.files import cache_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.delenv("BENCH_CACHE_DIR", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "noise-mask-bench"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing in the current directory
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # an absolute one is used
    assert cache_dir() == tmp_path / "xdg" / "noise-mask-bench"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "bench"))  # and BENCH_CACHE_DIR comes first
    assert cache_dir() == tmp_path / "bench"


def test_an_empty_xdg_cache_home_writes_nothing_into_the_current_directory(tmp_path):
    """The command line end to end: the embedded set is made under HOME/.cache, not ./noise-mask-bench."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": ""}
    env.pop("BENCH_CACHE_DIR", None)
    work = tmp_path / "cwd"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", "from bench.datasets import embedded_image_set_dir as e; print(e())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "home" / ".cache" / "noise-mask-bench" / "embedded-v1")
    assert list(work.iterdir()) == []


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True], ids=["log", "terminal"])
@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf"])
def test_a_bad_progress_interval_is_refused_before_the_run_folder_is_made(value, terminal, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_PROGRESS_INTERVAL", value)
    screen = Terminal()
    if terminal:
        monkeypatch.setattr("sys.stderr", screen)
    out = tmp_path / "run"
    assert main([*RUN, "--data-dir", str(embedded_image_set_dir()), "--out", str(out)]) == 2
    err = screen.getvalue() if terminal else capsys.readouterr().err
    assert "BENCH_PROGRESS_INTERVAL must be a finite number of seconds >= 0" in err and repr(value) in err, err
    assert "model:" not in capsys.readouterr().out  # nothing started: no model loaded
    assert not out.exists()


def test_a_progress_bar_on_a_terminal_refuses_a_bad_interval_too(monkeypatch):
    from common.errors import InputError
    from common.progress import progress

    monkeypatch.setattr("sys.stderr", Terminal())
    monkeypatch.setenv("BENCH_PROGRESS_INTERVAL", "-1")
    with pytest.raises(InputError, match="BENCH_PROGRESS_INTERVAL"):
        progress(total=1, desc="x")
    monkeypatch.setenv("BENCH_PROGRESS_INTERVAL", "2.5")
    with progress(total=1, desc="x") as bar:  # a valid one is accepted
        bar.update()


# ------------------------------------------------------------------ Kaggle: never the network


@pytest.fixture
def kaggle_home(monkeypatch, tmp_path) -> Path:
    """A HOME of its own and no Kaggle variables; the real client, which goes online, is never made."""
    from bench.datasets import fetch

    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def no_real_client():
        raise AssertionError("the real Kaggle client was made")

    monkeypatch.setattr(fetch, "default_kaggle_client", no_real_client)
    return tmp_path


@pytest.mark.parametrize("content", ["[1, 2]", '"u:k"', "null", "{not json"])
def test_a_kaggle_json_that_is_no_object_is_exit_2_naming_it(content, kaggle_home, capsys):
    config = kaggle_home / "home" / ".kaggle" / "kaggle.json"
    config.parent.mkdir(parents=True)
    config.write_text(content)
    dest = kaggle_home / "data" / "nips17"
    assert main(["fetch", "--data-dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: " in err and '{"username": "<user>", "key": "<key>"}' in err and "Traceback" not in err, err
    assert not (kaggle_home / "data").exists()  # refused before anything was made


class OfflineKaggleApi:
    """KaggleApi's authenticate as it ends without a network when KAGGLE_API_TOKEN is set
    (the token is checked online; requests raises its ConnectionError)."""

    def authenticate(self):
        import requests

        raise requests.exceptions.ConnectionError("Failed to resolve 'api.kaggle.com' ([Errno -2] Name or service not known)")


class BrokenKaggleApi:
    def authenticate(self):
        raise AttributeError("'list' object has no attribute 'get'")


@pytest.mark.parametrize(
    "api, said",
    [(OfflineKaggleApi, "Kaggle could not be reached to check the credentials"), (BrokenKaggleApi, "Kaggle's client failed")],
)
def test_a_kaggle_client_that_fails_to_authenticate_is_exit_2(api, said, kaggle_home, monkeypatch, capsys):
    from bench.datasets import fetch

    monkeypatch.setenv("KAGGLE_API_TOKEN", "a-token")
    monkeypatch.setattr(fetch, "default_kaggle_client", lambda: fetch.authenticated(api()))
    dest = kaggle_home / "data" / "nips17"
    assert main(["fetch", "--data-dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and f"Nothing was written to {dest}" in err, err
    assert list((kaggle_home / "data").iterdir()) == []  # nor the set, nor a lock or download folder
