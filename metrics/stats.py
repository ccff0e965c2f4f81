"""Summaries over images: mean, standard deviation and a 95% bootstrap CI (the thesis reports means and standard deviations, Tables 1-3; the CI is the suite's)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


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


def summarise(values: npt.ArrayLike, n_boot: int = 10_000, seed: int = 0, confidence: float = 0.95, chunk: int = 1000) -> Summary:
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


def image_resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) image positions drawn with replacement, ``default_rng(seed).integers(0, n,
    (n_boot, n))``: the one draw behind the report's claims and the meta-evaluation's intervals,
    so the same seed gives them the same resamples."""
    return np.random.default_rng(seed).integers(0, n, (n_boot, n))


VERDICTS = ("better", "worse", "indistinguishable")


@dataclass(frozen=True)
class PairedComparison:
    """A method against another on the same images: differences ``new - old`` per image."""

    mean_diff: float
    ci_low: float
    ci_high: float
    """95 % percentile bootstrap CI of the mean difference."""
    p_raw: float
    """Two-sided Wilcoxon signed-rank p-value (1.0 when every difference is 0)."""
    p_value: float
    """``p_raw`` after Holm's correction for every comparison of the family."""
    verdict: str
    """``better`` / ``worse`` in the metric's direction when ``p_value < alpha`` and the CI
    excludes 0 on the same side; else ``indistinguishable``."""


def wilcoxon_p(diffs: npt.ArrayLike) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (zeros dropped); 1.0 when
    every difference is 0."""
    from scipy.stats import wilcoxon  # noqa: PLC0415 - scipy.stats takes 0.4-1.2 s to import; only comparisons need it

    d = np.asarray(diffs, dtype=np.float64)
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def holm(p_values: npt.ArrayLike) -> np.ndarray:
    """Holm's step-down correction (family-wise error), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    out = np.empty_like(p)
    out[order] = adjusted
    return out


def compare_paired(
    pairs: list[tuple[np.ndarray, np.ndarray, bool]], alpha: float = 0.05, n_boot: int = 2000, seed: int = 0
) -> list[PairedComparison]:
    """Each ``(new, old, higher_is_better)`` of per-image values (same images, same order)
    compared, the p-values corrected together (Holm) as one family."""
    diffs = []
    for new, old, _ in pairs:
        new, old = np.asarray(new, np.float64), np.asarray(old, np.float64)
        if new.shape != old.shape or new.ndim != 1:
            raise ValueError(f"paired values must be two 1-D arrays of one length; got {new.shape} and {old.shape}")
        diffs.append(new - old)
    raw = [wilcoxon_p(d) for d in diffs]
    adjusted = holm(raw) if raw else np.array([])
    out = []
    for d, (_, _, higher_is_better), p, q in zip(diffs, pairs, raw, adjusted):
        s = summarise(d, n_boot=n_boot, seed=seed)
        verdict = "indistinguishable"
        if q < alpha and (s.ci_low > 0 or s.ci_high < 0):
            verdict = "better" if (s.mean > 0) == higher_is_better else "worse"
        out.append(PairedComparison(s.mean, s.ci_low, s.ci_high, p, float(q), verdict))
    return out
