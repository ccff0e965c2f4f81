"""Shared helpers for locating and fingerprinting model weights."""
from __future__ import annotations

from bench.paths import cache_dir, file_sha256  # noqa: F401  (re-exported for model builders)


class WeightsUnavailable(RuntimeError):
    """The model's weights are neither on this machine nor downloadable."""
