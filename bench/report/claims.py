"""Verdicts on the thesis's claims (on its Tables 1-3 and Figures 7-8, Section 4.2) that say how robust they are.

Each claim is a statement about the mean over images of one per-image statistic per
method (a metric of metrics.csv, or the mean logit of a curve over a window of steps).
On the full set of images the statement is true or false; that alone says nothing about
whether it would still be true on other images. So each claim is also evaluated on
bootstrap resamples of the images:

* The images are resampled with replacement, ``n_boot`` times, with
  :func:`metrics.stats.image_resamples` over the ``n`` images that
  any claim has (in the order of their ids as strings). The resamples are *paired*: the
  same draw of images is used for every method and for every claim, so the methods are
  compared on the same images each time.
* A claim uses the images that every method it compares has (an inner join on
  ``image_id``); where that is fewer than all ``n`` images, its resample means are taken
  over the drawn images it has (the same draws, restricted).
* ``fraction`` is the share of resamples in whose means the statement holds. It
  estimates how likely the same statement is on another sample of as many images like
  these: with ``fraction >= SUPPORTED_AT`` the claim is "supported" (the same verdict is
  what a reader should expect on another sample of images like these), with
  ``fraction < NOT_SUPPORTED_BELOW`` it is "not supported", and in between "undecided"
  (another sample of images could well give the other verdict).
* ``win_rate`` is the share of single images on which the statement holds for that image
  alone (e.g. Noise Mask's PNG is the smallest of that image's maps). It is about single
  images, not means: a claim can hold in every resample of the means with a win rate well
  under one half, when the method wins by little often and loses by a lot rarely.

Metric directions (smaller PNG is better, larger SSIM and ABPC are better) are read from
:data:`metrics.PER_IMAGE_METRICS`. Comparisons are strict: a tie does not make a method
the best.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics import PER_IMAGE_METRICS
from metrics.per_image import curve_metric_name
from metrics.perturbation import DEFAULT_REPLACEMENT
from metrics.stats import image_resamples

SUPPORTED_AT = 0.95
"""A claim holding in at least this share of the resamples is "supported"."""
NOT_SUPPORTED_BELOW = 0.05
"""A claim holding in less than this share of the resamples is "not supported"."""

NOISE_MASK = "noise_mask"
STEEPEST = ("deeplift", "intgrad")
"""The two methods claim 3 says have the steepest early MoRF curves."""

PNG_CLAIM = "Noise Mask gives the smallest PNG maps"
SSIM_CLAIM = "Noise Mask has by far the highest SSIM"
MORF_CLAIM = "DeepLIFT and IG give the steepest early MoRF curves"
LERF_CLAIM = "Noise Mask's LeRF curve stays high until late"
ABPC_CLAIM = "Noise Mask has the largest ABPC"


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    verdict: str
    """"supported", "not supported" or "undecided" (see :func:`verdict_of`)."""
    fraction: float
    """Share of the bootstrap resamples of the images in which the claim holds."""
    win_rate: float
    """Share of the single images on which the claim holds for that image alone."""
    evidence: str
    images: int | None = None
    """How many images the claim was evaluated on (None: not recorded)."""


def early_morf_window(steps: int) -> tuple[int, int]:
    """First and last MoRF step (inclusive) of claim 3's "early" part of a curve of
    ``steps`` steps after step 0: its first tenth, at least step 1."""
    return 1, max(1, steps // 10)


def lerf_window(steps: int) -> tuple[int, int]:
    """First and last LeRF step (inclusive) over which claim 4 asks the curve to stay
    high: its first three quarters, at least step 1."""
    return 1, max(1, 3 * steps // 4)


def verdict_of(fraction: float) -> str:
    if fraction >= SUPPORTED_AT:
        return "supported"
    if fraction < NOT_SUPPORTED_BELOW:
        return "not supported"
    return "undecided"


@dataclass(frozen=True)
class _Claim:
    text: str
    table: pd.DataFrame
    """Images (index: image_id) x compared methods: the per-image statistic."""
    holds: Callable[[np.ndarray], np.ndarray]
    """(rows x methods, in ``table``'s column order) -> whether the statement holds per row."""
    describe: Callable[[dict[str, float]], str]
    """The full-set means (method -> mean) -> what decides the claim, in words."""


def _best_is(method: str, columns: list[str], higher_is_better: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Rows in which ``method`` is strictly best of ``columns`` in the given direction."""
    j = columns.index(method)
    rest = [k for k in range(len(columns)) if k != j]
    sign = 1.0 if higher_is_better else -1.0

    def holds(values: np.ndarray) -> np.ndarray:
        v = sign * values
        return v[:, j] > v[:, rest].max(axis=1)

    return holds


def _lowest_two_are(pair: tuple[str, str], columns: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Rows in which the two lowest values of ``columns`` are exactly those of ``pair``."""
    inside = [columns.index(m) for m in pair]
    rest = [k for k in range(len(columns)) if k not in inside]

    def holds(values: np.ndarray) -> np.ndarray:
        return values[:, inside].max(axis=1) < values[:, rest].min(axis=1)

    return holds


def _metric_table(metrics: pd.DataFrame, metric: str, methods: list[str]) -> pd.DataFrame:
    if metrics is None or not {"image_id", "method", "metric", "value"} <= set(metrics.columns):
        return pd.DataFrame()
    part = metrics[(metrics["metric"] == metric) & metrics["method"].isin(methods)]
    table = part.pivot_table(index="image_id", columns="method", values="value", aggfunc="mean")
    return table[[m for m in methods if m in table.columns]].dropna()


def _window_table(
    curves: pd.DataFrame, order: str, window: Callable[[int], tuple[int, int]], methods: list[str], replacement: str
):
    """(per-image mean logit over the window of ``order``'s curves under ``replacement``, steps, window), or None."""
    if curves is None or not {"image_id", "method", "order", "step", "logit"} <= set(curves.columns):
        return None
    part = curves[(curves["order"] == order) & curves["method"].isin(methods)]
    if "replacement" in curves.columns:  # curves.csv from before ROAD holds the default replacement only
        part = part[part["replacement"] == replacement]
    elif replacement != DEFAULT_REPLACEMENT:
        return None
    if part.empty:
        return None
    steps = int(part["step"].max())
    first, last = window(steps)
    part = part[(part["step"] >= first) & (part["step"] <= last)]
    table = part.pivot_table(index="image_id", columns="method", values="logit", aggfunc="mean")
    return table[[m for m in methods if m in table.columns]].dropna(), steps, (first, last)


def _images(table: pd.DataFrame) -> str:
    return f"{len(table)} image{'s' if len(table) != 1 else ''}"


def _best_and_runner_up(metric: str, mean: dict[str, float], fmt: Callable[[float], str]) -> str:
    """ "<best> (<value>); noise_mask <value>", or the runner-up where noise_mask is best."""
    info = PER_IMAGE_METRICS[metric]
    best = info.best(mean)
    if best == NOISE_MASK:
        other = info.best({m: v for m, v in mean.items() if m != NOISE_MASK})
        return f"{best} ({fmt(mean[best])}); next {other} ({fmt(mean[other])})"
    return f"{best} ({fmt(mean[best])}); noise_mask {fmt(mean[NOISE_MASK])}"


def _describe_png(mean: dict[str, float]) -> str:
    return "smallest mean: " + _best_and_runner_up("png_bytes", mean, lambda v: f"{v / 1024:.1f} KiB")


def _describe_ssim(mean: dict[str, float]) -> str:
    other = PER_IMAGE_METRICS["ssim"].best({m: v for m, v in mean.items() if m != NOISE_MASK})
    ratio = f", {mean[NOISE_MASK] / mean[other]:.2g}x" if min(mean[other], mean[NOISE_MASK]) > 0 else ""
    return f"noise_mask {mean[NOISE_MASK]:.3f} vs best other {other} {mean[other]:.3f}{ratio}"


def _describe_abpc(metric: str):
    return lambda mean: "largest mean ABPC: " + _best_and_runner_up(metric, mean, lambda v: f"{v:.1f}")


def _noise_mask_best(metrics: pd.DataFrame, metric: str, text: str, methods: list[str], describe) -> _Claim | None:
    """ "noise_mask has the best mean ``metric``", in the metric's direction."""
    table = _metric_table(metrics, metric, methods)
    if NOISE_MASK not in table.columns or table.shape[1] < 2:
        return None
    holds = _best_is(NOISE_MASK, list(table.columns), PER_IMAGE_METRICS[metric].higher_is_better)
    return _Claim(text, table, holds, describe)


def _claims(metrics: pd.DataFrame, curves: pd.DataFrame, methods: list[str], replacement: str) -> list[_Claim]:
    out = []
    if replacement == DEFAULT_REPLACEMENT:  # claims 1-2 are about the maps, not the curves
        out += [
            _noise_mask_best(metrics, "png_bytes", PNG_CLAIM, methods, _describe_png),
            _noise_mask_best(metrics, "ssim", SSIM_CLAIM, methods, _describe_ssim),
        ]

    morf = _window_table(curves, "morf", early_morf_window, methods, replacement)
    if morf is not None:
        table, steps, (first, last) = morf
        cols = list(table.columns)
        if all(m in cols for m in STEEPEST) and len(cols) > len(STEEPEST):

            def describe(mean, first=first, last=last, steps=steps):
                ranked = sorted(mean, key=mean.get)
                return f"lowest mean logit over MoRF steps {first}-{last} of {steps}: " + ", ".join(
                    f"{m} {mean[m]:.2f}" for m in ranked
                )

            out.append(_Claim(MORF_CLAIM, table, _lowest_two_are(STEEPEST, cols), describe))

    lerf = _window_table(curves, "lerf", lerf_window, methods, replacement)
    if lerf is not None:
        table, steps, (first, last) = lerf
        cols = list(table.columns)
        if NOISE_MASK in cols and len(cols) >= 2:

            def describe(mean, first=first, last=last, steps=steps):
                ranked = sorted(mean, key=mean.get, reverse=True)
                return f"highest mean logit over LeRF steps {first}-{last} of {steps}: " + ", ".join(
                    f"{m} {mean[m]:.2f}" for m in ranked
                )

            out.append(_Claim(LERF_CLAIM, table, _best_is(NOISE_MASK, cols, higher_is_better=True), describe))

    abpc = curve_metric_name("abpc_sum_logit", replacement)
    out.append(_noise_mask_best(metrics, abpc, ABPC_CLAIM, methods, _describe_abpc(abpc)))
    return [c for c in out if c is not None]


def evaluate_claims(
    metrics: pd.DataFrame,
    curves: pd.DataFrame,
    methods: list[str],
    n_boot: int = 2000,
    seed: int = 0,
    replacement: str = DEFAULT_REPLACEMENT,
) -> list[ClaimVerdict]:
    """A :class:`ClaimVerdict` for each of the thesis's claims that ``methods`` and the
    tables allow (see the module's docstring for what the verdicts mean).

    ``metrics``: metrics.csv (image_id, method, metric, value); ``curves``: curves.csv
    (image_id, method, order, step, ..., logit, ...). A claim is left out when a method it
    names (noise_mask; deeplift and intgrad for claim 3) or its data is missing; nothing
    is returned without noise_mask or with fewer than two methods. ``replacement``: whose
    curves and curve metrics claims 3-5 read (:data:`metrics.perturbation.REPLACEMENTS`);
    claims 1-2 (the maps) are evaluated under the default only.
    """
    if NOISE_MASK not in methods or len(methods) < 2:
        return []
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot}")
    claims = _claims(metrics, curves, methods, replacement)
    if not claims:
        return []

    universe = sorted({i for c in claims for i in c.table.index}, key=str)
    n = len(universe)
    position = {image: k for k, image in enumerate(universe)}
    counts = np.zeros((n_boot, 0))  # no images: every claim's table is empty
    if n:
        draws = image_resamples(n, n_boot, seed)
        offsets = (np.arange(n_boot) * n)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)

    out = []
    for c in claims:
        cols = list(c.table.columns)
        if c.table.empty:
            out.append(
                ClaimVerdict(
                    c.text, "undecided", float("nan"), float("nan"), f"no image has values of all of {', '.join(cols)}", 0
                )
            )
            continue
        values = c.table.to_numpy(dtype=float)
        weights = counts[:, [position[i] for i in c.table.index]]
        drawn = weights.sum(axis=1)
        valid = drawn > 0  # a resample that drew none of this claim's images says nothing about it
        resampled = weights[valid] @ values / drawn[valid, None]
        fraction = float(c.holds(resampled).mean())
        win_rate = float(c.holds(values).mean())
        means = dict(zip(cols, values.mean(axis=0).tolist()))
        evidence = f"{c.describe(means)}; {_images(c.table)}, {int(valid.sum())} resamples"
        out.append(ClaimVerdict(c.text, verdict_of(fraction), fraction, win_rate, evidence, len(c.table)))
    return out


@dataclass(frozen=True)
class Survival:
    """Which claims hold under every replacement of a run (the report's headline)."""

    both: list[str]
    """Curve claims supported under every replacement."""
    some: dict[str, list[str]]
    """Curve claims supported under some replacements only: claim -> those replacements."""
    none: list[str]
    """Curve claims supported under no replacement."""
    maps: dict[str, str]
    """Claims about the maps (PNG size, SSIM; no curves, so the replacement does not touch them) -> verdict."""


MAP_CLAIMS = (PNG_CLAIM, SSIM_CLAIM)


def survival(
    metrics: pd.DataFrame, curves: pd.DataFrame, methods: list[str], replacements: list[str], n_boot: int = 2000, seed: int = 0
) -> Survival:
    """The claims' verdicts under each of ``replacements`` (:func:`evaluate_claims`), summed up:
    a curve claim survives when it is supported under every one."""
    verdicts = {r: {v.claim: v.verdict for v in evaluate_claims(metrics, curves, methods, n_boot, seed, r)} for r in replacements}
    claims = list(dict.fromkeys(c for found in verdicts.values() for c in found if c not in MAP_CLAIMS))
    supported = {c: [r for r in replacements if verdicts[r].get(c) == "supported"] for c in claims}
    first = verdicts[replacements[0]] if replacements else {}
    return Survival(
        both=[c for c in claims if len(supported[c]) == len(replacements)],
        some={c: supported[c] for c in claims if 0 < len(supported[c]) < len(replacements)},
        none=[c for c in claims if not supported[c]],
        maps={c: first[c] for c in MAP_CLAIMS if c in first},
    )
