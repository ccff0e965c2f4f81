"""Similarity of two saliency maps of the same image, as the model-parameter randomisation test
(Adebayo et al. 2018, "Sanity checks for saliency maps") measures it with Quantus 0.6.0's MPRT.

* :func:`spearman`: Spearman rank correlation of abs(relevance), flattened (Quantus's
  ``correlation_spearman``; MPRT's default similarity);
* :func:`ssim`: SSIM of the two (H, W) maps after MPRT's preprocessing (:func:`prepare`: divide
  by the maximum absolute value, then abs), with Quantus's ``ssim`` (skimage's
  ``structural_similarity``, data range = max - min over both maps).

(Quantus 0.6.0's MPRT normalises a whole batch by one maximum, so its values equal these with
``batch_size=1``; and it flattens maps before the similarity, so its SSIM is a 1-D SSIM of the
flattened map: :func:`ssim` with ``flat=True`` reproduces that.)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

__all__ = ["prepare", "similarities", "spearman", "ssim"]


def prepare(relevance: np.ndarray) -> np.ndarray:
    """Quantus MPRT's preprocessing of one map: divided by its maximum absolute value (unless
    all zero), then abs (``normalise_by_max`` then ``np.abs``)."""
    a = np.asarray(relevance)
    peak = np.max(np.abs(a))
    prepared: np.ndarray = np.abs(a if peak == 0 or not np.isfinite(peak) else np.divide(a, peak))
    return prepared


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of abs(a) and abs(b), flattened; 1.0 for identical maps, NaN
    when either is constant (e.g. all zero)."""
    a, b = prepare(a).ravel(), prepare(b).ravel()
    if np.array_equal(a, b):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's ConstantInputWarning: NaN says it
        return float(spearmanr(a, b)[0])


def ssim(a: np.ndarray, b: np.ndarray, flat: bool = False) -> float:
    """SSIM of the prepared maps (:func:`prepare`), as Quantus's ``similarity_func.ssim``
    computes it: skimage's ``structural_similarity`` with its default 7-pixel window and
    data range max - min over both maps. ``flat``: on the flattened maps, as Quantus's MPRT
    passes them. 1.0 for identical maps; NaN for two different constant maps."""
    a, b = prepare(a), prepare(b)
    if flat:
        a, b = a.ravel(), b.ravel()
    if np.array_equal(a, b):
        return 1.0
    both = np.concatenate([a, b])
    data_range = float(np.abs(np.max(both) - np.min(both)))
    if data_range == 0 or not np.isfinite(data_range):
        return float("nan")
    return float(structural_similarity(a, b, win_size=None, data_range=data_range))


def similarities(original: np.ndarray, randomised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image (Spearman, SSIM) of two stacks of maps (N, H, W)."""
    s = np.array([spearman(a, b) for a, b in zip(original, randomised)], np.float64)
    q = np.array([ssim(a, b) for a, b in zip(original, randomised)], np.float64)
    return s, q
