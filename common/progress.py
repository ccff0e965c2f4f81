"""Progress bars for long loops: shown on a terminal, silent when output is not a TTY."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(
    iterable: Iterable[Any] | None = None, desc: str = "", total: int | None = None, disable: bool = False, **kwargs: Any
) -> Any:
    """A tqdm bar over ``iterable`` (a tqdm object: iterate it, or call ``update`` on it)."""
    return tqdm(iterable, desc=desc, total=total, disable=disable or not sys.stderr.isatty(), leave=False, **kwargs)
