"""95 % percentile bootstrap intervals over images for any statistic of a set of images.

The images are resampled with replacement, ``n_boot`` times, by
:func:`metrics.stats.image_resamples`: the same draws for every measure
and metric of a meta-evaluation, so their intervals come from the same resamples (as the
report's claims do, :mod:`bench.report.claims`). A resample on which the statistic is undefined
(NaN: e.g. every drawn image ranks the methods alike, so alpha has no variance to explain) is
left out of the interval, and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from metrics.stats import image_resamples


@dataclass(frozen=True)
class Estimate:
    value: float
    """The statistic on all the images."""
    ci_low: float
    ci_high: float
    n: int
    """Images."""
    undefined: int = 0
    """Resamples on which the statistic was NaN (left out of the interval)."""


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, n_boot: int, seed: int) -> Estimate:
    """``statistic(index)`` (``index``: image positions) on all ``n`` images, with the 2.5 and 97.5
    percentiles of its values on ``n_boot`` resamples of the images."""
    if n < 2:
        return Estimate(float("nan"), float("nan"), float("nan"), n)
    value = float(statistic(np.arange(n)))
    values = np.array([statistic(draw) for draw in image_resamples(n, n_boot, seed)], dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
    return Estimate(value, float(low), float(high), n, int(values.size - finite.size))


def bootstrap_mean(per_image: np.ndarray, n_boot: int, seed: int) -> Estimate:
    """The mean of a per-image quantity (its NaN images left out) with its bootstrap interval."""
    values = np.asarray(per_image, dtype=np.float64)
    values = values[np.isfinite(values)]
    return bootstrap(lambda index: float(values[index].mean()), len(values), n_boot, seed)
