"""Progress when stderr is not a terminal (issue 27): plain lines with what, done/total, rate and
time left, at the interval, from the suite's real loops; and a run's estimate updated by the
units that finished."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest

import common.progress as progress_module
from bench.run.planning import FIRST_UNIT_COMPILES, RunEstimate, StartupCosts, unit_estimates
from bench.run.profile import apply_overrides, load_profile
from bench.run.runner import run_benchmark
from bench.run.units import Unit
from common.errors import InputError
from common.progress import INTERVAL_ENV, progress
from methods import ModelCosts, build_method
from metrics.perturbation import CurveEvaluator
from models import get_model

LINE = re.compile(
    r"^(?P<what>.+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>\w+) \(\d+%\), [\d.e+]+ \w+/(s|min), "
    r"[\d.]+ (s|min|h) elapsed, about [\d.]+ (s|min|h) left$"
)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stderr(capsys, monkeypatch):
    """stderr captured (not a terminal), every update due for a line unless a test says otherwise."""
    monkeypatch.setenv(INTERVAL_ENV, "0")
    monkeypatch.setattr(progress_module, "_last_line", [-float("inf")])
    return capsys


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_module, "clock", fake)
    monkeypatch.setattr(progress_module, "heartbeat", False)  # only the updates write lines
    return fake


def lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_plain_lines_say_what_done_total_rate_and_time_left(stderr, clock):
    bar = progress(total=4, desc="work", unit="items")
    for _ in range(4):
        clock.now += 2.0
        bar.update(1)
    bar.close()
    out = lines(stderr)
    assert out[0] == "work: started, 4 items"
    assert out[-1] == "work: 4 items done in 8 s"
    steps = [LINE.match(line) for line in out[1:-1]]
    assert all(steps) and len(steps) == 4, out
    assert [int(m["done"]) for m in steps] == [1, 2, 3, 4] and {m["total"] for m in steps} == {"4"}
    assert "30 items/min" in out[1] and "about 6 s left" in out[1], out[1]  # 1 of 4 after 2 s


def test_slow_rates_are_per_minute_and_callers_may_give_the_time_left(stderr, clock):
    bar = progress(total=10, desc="run", unit="units")
    clock.now += 120.0
    bar.update(1, left=600.0)
    assert "run: 1/10 units (10%), 0.5 units/min, 2.0 min elapsed, about 10.0 min left" in lines(stderr)
    bar.close()


def test_lines_come_at_the_interval(stderr, clock, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "30")
    bar = progress(total=100, desc="loop", unit="steps")
    for _ in range(100):
        clock.now += 4.0  # 400 s in all: a line at most every 30 s, i.e. every 8th step
        bar.update(1)
    bar.close()
    steps = [LINE.match(line) for line in lines(stderr)[1:-1]]
    assert all(steps) and [int(m["done"]) for m in steps] == list(range(8, 100, 8)), lines(stderr)


def test_an_inner_loop_writes_only_when_its_step_is_long(stderr, clock, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "30")
    with progress(total=2, desc="run", unit="units") as outer:
        with progress(total=10, desc="short", unit="iterations") as inner:
            for _ in range(10):
                clock.now += 1.0
                inner.update(1)
        outer.update(1)
        with progress(total=10, desc="long", unit="iterations") as inner:
            for _ in range(10):
                clock.now += 10.0
                inner.update(1)
        outer.update(1)
    out = lines(stderr)
    assert not [line for line in out if line.startswith("short")], out
    long = [line for line in out if line.startswith("long")]
    assert [LINE.match(line)["done"] for line in long[:-1]] == ["2", "5", "8"], long  # 30 s apart after the last line
    assert long[-1] == "long: 10 iterations done in 1.7 min"
    assert out[0] == "run: started, 2 units" and out[-1].startswith("run: 2 units done in")


def test_a_loop_without_updates_still_gets_a_line_each_interval(stderr, monkeypatch):
    """The heartbeat: a step that reports nothing (a compilation, one long pass) is not silent."""
    monkeypatch.setenv(INTERVAL_ENV, "0.2")
    with progress(total=5, desc="run", unit="units"), progress(total=3, desc="compiling", unit="steps"):
        seen = ""
        for _ in range(200):  # up to 20 s on a loaded machine; a line is due after 0.2 s
            seen += stderr.readouterr().err
            if "compiling: 0/3 steps (0%)" in seen:
                break
            time.sleep(0.1)
    assert re.search(r"^compiling: 0/3 steps \(0%\), \d+ s elapsed, time left unknown$", seen, re.M), seen


def test_a_terminal_gets_a_bar_and_no_plain_lines(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    for _ in progress(range(3), desc="bar"):
        pass
    drawn = screen.getvalue()
    assert "\rbar:   0%|" in drawn and "/3 [" in drawn and "\n" not in drawn and "started" not in drawn, drawn


def test_disabled_progress_writes_nothing(stderr):
    assert list(progress(range(3), desc="quiet", disable=True)) == [0, 1, 2]
    assert lines(stderr) == []


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_a_bad_interval_names_the_variable(stderr, monkeypatch, value):
    monkeypatch.setenv(INTERVAL_ENV, value)
    with pytest.raises(InputError, match=INTERVAL_ENV):
        progress(total=1, desc="x")


def test_noise_mask_iterations_and_curves_report_to_a_log_file(tmp_path, monkeypatch):
    """The real loops, with stderr a file: Noise Mask's iterations, then a MoRF curve's steps."""
    monkeypatch.setenv(INTERVAL_ENV, "0")
    monkeypatch.setattr(progress_module, "_last_line", [-float("inf")])
    model = get_model("tiny")
    images = np.random.default_rng(0).integers(0, 256, (2, *model.input_size, 3)).astype(np.uint8)
    with (tmp_path / "log.txt").open("w") as log:
        monkeypatch.setattr("sys.stderr", log)
        explanation = build_method("noise_mask", {"max_iterations": 6, "window": 100, "eval_draws": 1}).explain(model, images)
        evaluator = CurveEvaluator(model, images, pixels_per_step=10, steps=5, batch_size=4)
        evaluator.curves(explanation.relevance, "morf")
    out = (tmp_path / "log.txt").read_text().splitlines()
    mask = [m for m in map(LINE.match, out) if m and m["what"] == "noise_mask (2 images)"]
    # a heartbeat thread left by an earlier test can repeat the current line on a loaded machine
    assert distinct_in_order([int(m["done"]) for m in mask]) == list(range(1, 7)), out
    assert {m["total"] for m in mask} == {"6"}, out
    curve = [m for m in map(LINE.match, out) if m and m["what"] == "morf curves (2 images, random-colour)"]
    assert distinct_in_order([int(m["done"]) for m in curve]) == [4, 8, 10] and {m["unit"] for m in curve} == {"steps"}, out


def distinct_in_order(values: list[int]) -> list[int]:
    """``values`` without repeats of the value before."""
    return [v for k, v in enumerate(values) if k == 0 or v != values[k - 1]]


def unit(method: str, images: int) -> Unit:
    pixels = np.zeros((images, 8, 8, 3), np.uint8)
    return Unit(method, [f"i{k}" for k in range(images)], pixels, np.zeros(images, int), [0] * images, pixels, ("random-colour",))


def test_unit_estimates_come_from_the_measured_passes_and_one_start_up_per_method():
    methods = {"noise_mask": build_method("noise_mask", {"max_iterations": 10}), "sensitivity": build_method("sensitivity")}
    costs = StartupCosts(ModelCosts(forward=0.01, backward=0.1, input_size=(8, 8)), 2.0, {"random-colour": 0.01})
    units = [unit("noise_mask", 4), unit("noise_mask", 2), unit("sensitivity", 4)]
    curves = 2 * 20 * 0.01  # MoRF and LeRF, 20 steps, a forward pass each
    estimates = unit_estimates(units, methods, {"steps": 20, "pixels_per_step": 3}, costs)
    start_up = FIRST_UNIT_COMPILES * 2.0
    assert estimates == pytest.approx(
        [4 * (10 * 0.1 + curves) + start_up, 2 * (10 * 0.1 + curves), 4 * (0.2 + curves) + start_up]
    )


def test_the_time_left_follows_the_units_that_finished():
    units = [unit("a", 1), unit("a", 1), unit("b", 1), unit("b", 1)]
    estimate = RunEstimate(units, [10.0, 10.0, 30.0, 30.0])
    assert estimate.total == 80.0 and estimate.left(0.0) == 80.0
    estimate.finished(units[0], 20.0)  # a takes twice its estimate; b has no unit done: weighed with the start-up estimate
    overall = (20.0 + 8.0) / (10.0 + 8.0)
    assert estimate.left(20.0) == pytest.approx(10.0 * 2 + 60.0 * overall)
    estimate.finished(units[1], 20.0)
    estimate.finished(units[2], 15.0)  # b takes half: its last unit too
    assert estimate.left(55.0) == pytest.approx(15.0)
    assert estimate.left(55.0 / 4) == pytest.approx(15.0 / 4)  # four workers at once: a quarter of the wall time


def test_a_run_logs_the_units_left_and_its_estimate(tmp_path):
    logs: list[str] = []
    run_benchmark(apply_overrides(load_profile("smoke"), None, methods=["sensitivity"]), tmp_path / "run", log=logs.append)
    assert any(re.fullmatch(r"estimated time: \d+ s for 2 units on this machine, .*updated as units finish", s) for s in logs), (
        logs
    )
    assert any(s.startswith("  [1 of 2 units, about ") and " left] " in s for s in logs), logs
    assert any(s.startswith("  [2 of 2 units, ") and " in all] sensitivity" in s for s in logs), logs
    assert re.fullmatch(r"computed in \d+ s \(estimated at the start: \d+ s\)", logs[-1]), logs
