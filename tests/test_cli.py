"""The command line's own behaviour: its help texts, and what it prints besides the commands' output."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import _tensorflow_logs, build_parser

ROOT = Path(__file__).resolve().parents[1]
TF_NOISE = ("cuInit", "oneDNN", "Could not find cuda drivers", "absl::InitializeLog")


def _commands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_help_shows_percent_signs_once():
    # argparse %-formats an argument's help but prints a description as written: a `%%` in a
    # description reaches the user as `%%`
    for name, parser in _commands().items():
        assert "%%" not in parser.format_help(), f"bench {name} --help prints '%%'"


def test_verbose_is_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "site", "x", "--out", "o"]).verbose
    assert parser.parse_args(["site", "x", "--out", "o", "--verbose"]).verbose
    assert not parser.parse_args(["site", "x", "--out", "o"]).verbose


def test_the_filter_drops_tensorflows_start_up_lines_only(capfd):
    with _tensorflow_logs.filtered_stderr():
        os.write(2, b"E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
        os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\n")
        print("warning: a real message of the suite", file=sys.stderr)
    assert capfd.readouterr().err == "warning: a real message of the suite\n"


def _smoke_run(tmp_path: Path, *extra: str, env: dict | None = None) -> str:
    """stderr of a one-image, one-method smoke run (it imports TensorFlow), without TF_CPP_MIN_LOG_LEVEL."""
    base = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", _tensorflow_logs.ENV)}
    argv = ["run", "--profile", "smoke", "--limit", "1", "--methods", "sensitivity", "--out", str(tmp_path / "run")]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *argv, *extra],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def test_tensorflows_start_up_noise_is_hidden_by_default(tmp_path):
    err = _smoke_run(tmp_path)
    assert not [line for line in err.splitlines() if any(n in line for n in TF_NOISE)], err
    assert "run: started" in err  # the suite's own stderr lines still come through


@pytest.mark.parametrize("asked", [("--verbose",), ()], ids=["--verbose", "BENCH_TF_LOGS=1"])
def test_tensorflows_messages_come_back_when_asked_for(tmp_path, asked):
    err = _smoke_run(tmp_path, *asked, env=None if asked else {_tensorflow_logs.ENV: "1"})
    assert any(n in err for n in TF_NOISE), err


def test_site_without_plotly_exits_2_with_the_install_command(monkeypatch, tmp_path, capsys):
    from bench.cli import main

    monkeypatch.setitem(sys.modules, "plotly", None)  # as if the `site` extra were not installed
    assert main(["site", "embedded-ci", "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'noise-mask-bench[site]'" in err and "pip install -e '.[site]'" in err
    assert "Traceback" not in err and not (tmp_path / "site").exists()
