"""Shared helpers for locating and fingerprinting model weights."""
from __future__ import annotations

import hashlib
import os

from bench.paths import cache_dir  # noqa: F401  (re-exported for model builders)


class WeightsUnavailable(RuntimeError):
    """The model's weights are neither on this machine nor downloadable."""


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
