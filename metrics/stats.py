"""Summaries over images: mean, standard deviation and a 95% bootstrap CI (SPEC section 4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float
    """Sample standard deviation (ddof=1); NaN for a single value."""
    ci_low: float
    ci_high: float
    """Percentile bootstrap confidence interval of the mean."""
    n: int
    confidence: float
    n_boot: int
    seed: int


def summarise(values, n_boot: int = 10_000, seed: int = 0, confidence: float = 0.95, chunk: int = 1000) -> Summary:
    """Mean, std (ddof=1) and percentile bootstrap CI of the mean of per-image ``values``.

    Deterministic for a given ``seed``: resamples are drawn with ``np.random.default_rng(seed)``
    in chunks of ``chunk`` resamples (the chunk size does not change the result).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("cannot summarise an empty set of values")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values contain {int(np.sum(~np.isfinite(v)))} NaN or infinite entries")
    if n_boot < 1 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < confidence < 1; got {n_boot}, {confidence}")
    rng = np.random.default_rng(seed)
    n = v.size
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = v[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    return Summary(float(v.mean()), std, float(lo), float(hi), n, confidence, int(n_boot), int(seed))
