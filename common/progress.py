"""Progress of long loops, one mechanism for the whole suite: a tqdm bar when stderr is a
terminal, plain lines when it is not (a log file, CI, ``nohup``, a notebook).

A plain line says what, done/total, the rate and the time left::

    noise_mask (5 images): 447/3200 iterations (14%), 2.98 iterations/s, 2.5 min elapsed, about 15.4 min left

Lines are rate-limited by one clock shared by every open bar: a bar writes a line on an
update when no progress line has been written for the interval (:data:`INTERVAL_ENV`, default
:data:`DEFAULT_INTERVAL` seconds; 0 writes one on every update). The outermost open bar also
writes a line when it starts and when it ends; an inner one (a method's iterations inside a
run's units) writes only when its step is long enough to reach the interval, and then its end
too. So a run's log gets a line at least every interval while a loop reports updates, and
short inner steps add nothing. While bars are open, a background thread writes the innermost
one's line when none was written for an interval (a step with no updates of its own: a
compilation, a long pass), so the log is never silent for longer. The interval is read when a bar opens, on a terminal
too (where it is not used), and by the command line before any command starts
(:func:`check_environment`); an invalid value is an :class:`common.errors.InputError` naming the
variable and what it must be.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

from common.errors import InputError

INTERVAL_ENV = "BENCH_PROGRESS_INTERVAL"
"""Environment variable: seconds between plain progress lines (a number >= 0)."""

DEFAULT_INTERVAL = 30.0

clock = time.monotonic
"""The seconds the lines are timed by (a test may replace it)."""

heartbeat = True
"""Whether a background thread writes the innermost bar's line when a loop has not updated for
an interval (a test that drives :data:`clock` by hand turns it off)."""

_lock = threading.Lock()

_open: weakref.WeakSet[Progress] = weakref.WeakSet()
"""The open line-writing bars (one left open by an exception goes with its frame)."""
_last_line = [-math.inf]
"""clock() of the last progress line written (by any bar)."""


def line_interval() -> float:
    """Seconds between plain progress lines, from :data:`INTERVAL_ENV` (default 30)."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or math.isinf(value):
        raise InputError(
            f"environment variable {INTERVAL_ENV} must be a finite number of seconds >= 0 (e.g. 30; 0: a line on every "
            f"update), or unset for the default {DEFAULT_INTERVAL:g}; got {text!r}"
        )
    return value


def check_environment() -> None:
    """Refuse an invalid :data:`INTERVAL_ENV` (:class:`InputError`) before anything starts:
    the command line calls it before every command, whether stderr is a terminal or not."""
    line_interval()


def duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``2.3 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of one loop: iterate it (over ``iterable``) or call :meth:`update`; close it
    (or use it as a context manager) when the loop ends.

    ``unit``: what is counted, plural (``iterations``, ``patches``). ``disable``: neither bar
    nor lines. ``update(n, left=seconds)`` lets a caller that knows better (a run rescaling its
    estimate by the units done) give the time left instead of the rate's."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        desc: str = "",
        total: int | None = None,
        unit: str = "it",
        disable: bool = False,
    ):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.done, self.wrote, self.closed = 0, False, False
        self.left: float | None = None
        self.left_at = 0.0
        self.started = clock()
        self.bar: Any = None
        if not disable:
            self.interval = line_interval()  # checked on a terminal too, where only the bar shows
        self.lines = not disable and not sys.stderr.isatty()
        if not disable and not self.lines:
            self.bar = tqdm(total=total, desc=desc, unit=" " + unit, leave=False)
        if self.lines:
            with _lock:
                self.outermost = not _open
                _open.add(self)
                if self.outermost:
                    self._write(f"{desc}: started" + (f", {total} {unit}" if total is not None else ""))
                if heartbeat and self.interval > 0:
                    threading.Thread(target=_beat, name="progress heartbeat", daemon=True).start()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress has no iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, left: float | None = None) -> None:
        """``n`` more done; ``left``: the caller's own estimate of the seconds left."""
        self.done += n
        if left is not None:
            self.left, self.left_at = left, clock()
        if self.bar is not None:
            if left is not None:
                self.bar.set_postfix_str(f"about {duration(left)} left", refresh=False)
            self.bar.update(n)
        elif self.lines:
            self._write_due()

    def status(self) -> str:
        """The plain line: what, done/total, rate, elapsed and time left."""
        elapsed = clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.done}/{self.total} {self.unit}" if self.total else f"{self.done} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        if rate >= 1:
            parts.append(f"{rate:.3g} {self.unit}/s")
        elif rate > 0:
            parts.append(f"{60 * rate:.3g} {self.unit}/min")
        parts.append(f"{duration(elapsed)} elapsed")
        left = None if self.left is None else max(0.0, self.left - (clock() - self.left_at))
        if left is None and self.total and rate > 0:
            left = (self.total - self.done) / rate
        parts.append(f"about {duration(left)} left" if left is not None else "time left unknown")
        return f"{self.desc}: {', '.join(parts)}"

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        if self.lines:
            with _lock:
                _open.discard(self)
                if self.outermost or self.wrote:
                    of = f"/{self.total}" if self.total and self.done != self.total else ""
                    self._write(f"{self.desc}: {self.done}{of} {self.unit} done in {duration(clock() - self.started)}")

    def _write_due(self) -> None:
        """This bar's line, if none was written for the interval."""
        with _lock:
            if clock() - _last_line[0] >= self.interval and not self.closed:
                self._write(self.status())

    def _write(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        self.wrote = True
        _last_line[0] = clock()


def _beat() -> None:
    """While bars are open: wake once a second, and write the innermost one's line when due."""
    while True:
        with _lock:
            bars = sorted(_open, key=lambda bar: bar.started)
        if not bars:
            return
        bars[-1]._write_due()
        del bars  # hold no bar while asleep: one left open by an exception goes with its frame
        time.sleep(1.0)


def progress(
    iterable: Iterable[Any] | None = None, desc: str = "", total: int | None = None, unit: str = "it", disable: bool = False
) -> Progress:
    """A :class:`Progress` over ``iterable`` (iterate it), or one to :meth:`~Progress.update`."""
    return Progress(iterable, desc=desc, total=total, unit=unit, disable=disable)
