"""Progress bars for long loops: shown on a terminal, silent when output is not a TTY."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(iterable=None, desc: str = "", total: int | None = None, disable: bool = False, **kwargs):
    return tqdm(iterable, desc=desc, total=total, disable=disable or not sys.stderr.isatty(), leave=False, **kwargs)
