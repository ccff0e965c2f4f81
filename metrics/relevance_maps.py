"""From a per-pixel relevance map to what the metrics consume (the suite's rule, written here once).

* :func:`grayscale_map`: the 8-bit map that PNG size and SSIM are computed on.
* :func:`pixel_ranking`: the order in which MoRF / LeRF / random replace pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

ORDERS = ("morf", "lerf", "random")
"""Pixel orders: most relevant first, least relevant first, and the random baseline."""

RandomSource = np.random.Generator | np.random.SeedSequence | int | Sequence[int] | None
"""What :func:`as_generator` accepts."""

GRAY_PERCENTILE = 99.5
"""abs(relevance) is divided by this percentile (numpy's default, linear interpolation)."""


def _check_map(relevance: object, what: str = "relevance") -> np.ndarray:
    relevance = np.asarray(relevance)
    if relevance.ndim != 2:
        raise ValueError(f"{what} must be one map of shape (H, W); got shape {relevance.shape}")
    if relevance.size == 0:
        raise ValueError(f"{what} is empty (shape {relevance.shape})")
    if not np.issubdtype(relevance.dtype, np.number) or np.issubdtype(relevance.dtype, np.complexfloating):
        raise TypeError(f"{what} must be real numbers; got dtype {relevance.dtype}")
    if not np.all(np.isfinite(relevance)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return relevance


def grayscale_map(relevance: np.ndarray, signed: bool = True) -> np.ndarray:
    """uint8 (H, W): ``round(clip(abs(r) / p99.5(abs(r)), 0, 1) * 255)``.

    The map shows magnitude: abs() for a ``signed`` method's relevance, the identity for
    an unsigned one, whose relevance must then be >= 0 (see :mod:`methods.base` for the
    suite's sign convention).

    Edge cases (the spec leaves them open): when the 99.5th percentile is 0 but some
    value is not (fewer than 0.5% non-zero pixels), the maximum is used instead, so the
    non-zero pixels come out white rather than as a division by zero; an all-zero map
    gives an all-zero image.
    """
    relevance = _check_map(relevance)
    if not signed and (relevance < 0).any():
        raise ValueError("relevance declared unsigned has negative values")
    a = np.abs(relevance.astype(np.float64))
    scale = np.percentile(a, GRAY_PERCENTILE)
    if scale <= 0:
        scale = a.max()
    if scale <= 0:
        return np.zeros(a.shape, np.uint8)
    gray: np.ndarray = np.rint(np.clip(a / scale, 0.0, 1.0) * 255.0).astype(np.uint8)
    return gray


def as_generator(rng: RandomSource) -> np.random.Generator:
    """Accept a Generator, a SeedSequence or anything ``np.random.default_rng`` takes."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def pixel_ranking(relevance: npt.ArrayLike | None, order: str, rng: RandomSource) -> np.ndarray:
    """Flat pixel indices (int64, H*W) in the order the pixels are to be replaced.

    ``morf``: descending (signed) relevance; ``lerf``: ascending; ``random``: a random permutation
    drawn from ``rng`` (``relevance`` only gives the shape and may be a shape tuple).
    Ties are broken by a random permutation drawn from ``rng``: pixels of equal
    relevance come in that permutation's order, in both MoRF and LeRF. Pass a fresh
    generator from the same seed to get the same tie order again.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown pixel order {order!r}; expected one of {ORDERS}")
    gen = as_generator(rng)
    if order == "random":
        shape = tuple(relevance) if isinstance(relevance, tuple) else _check_map(relevance).shape
        return gen.permutation(int(np.prod(shape))).astype(np.int64)
    values = _check_map(relevance).astype(np.float64).ravel()
    perm = gen.permutation(values.size)
    key = values[perm]
    if order == "morf":
        key = -key
    return perm[np.argsort(key, kind="stable")].astype(np.int64)
