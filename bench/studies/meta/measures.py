"""The meta-evaluation's measures of one per-image metric, each a statistic of images x methods
tables (rows: the same images in every table; columns: methods; values in the metric's unit).

Sources: Tomsett et al., "Sanity Checks for Saliency Metrics" (AAAI 2020) for the psychometric
reliabilities (inter-rater, inter-method, internal consistency); Hedstrom et al., "The
Meta-Evaluation Problem in Explainable AI" (MetaQuantus, TMLR 2023) for noise resilience and
adversary reactivity. Every function takes ``higher_is_better`` from the metric's declared
direction (:data:`metrics.PER_IMAGE_METRICS`) where the direction matters.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, rankdata


def method_ranks(table: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Per image (row), each method's rank by the metric: 1 = best in its direction, ties averaged."""
    return rankdata(-table if higher_is_better else table, axis=1)


def inter_rater_alpha(table: np.ndarray, higher_is_better: bool) -> float:
    """Krippendorff's alpha (ordinal) of the reliability matrix whose raters are the images and
    whose units are the methods, each image ranking the methods (Tomsett et al.'s inter-rater
    reliability). 1: every image ranks the methods alike; 0: no more agreement than chance."""
    import krippendorff  # noqa: PLC0415 - only the meta-evaluation needs it

    ranks = method_ranks(table, higher_is_better)
    if ranks.shape[0] < 2 or np.ptp(ranks) == 0:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=ranks, level_of_measurement="ordinal"))


def _spearman_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho between column j of ``a`` and column j of ``b``, per j (NaN for a constant column)."""
    ra, rb = rankdata(a, axis=0), rankdata(b, axis=0)
    ra, rb = ra - ra.mean(axis=0), rb - rb.mean(axis=0)
    denominator = np.sqrt((ra**2).sum(axis=0) * (rb**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(axis=0) / denominator


def inter_method_spearman(table: np.ndarray) -> float:
    """The mean over method pairs of Spearman's rho between the two methods' per-image scores
    (Tomsett et al.'s inter-method reliability): high when the image, not the method, sets the score."""
    ranks = rankdata(table, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(ranks.T)
    upper = rho[np.triu_indices(table.shape[1], k=1)]
    return float(np.nanmean(upper)) if np.isfinite(upper).any() else float("nan")


def paired_spearman(a: np.ndarray, b: np.ndarray) -> float:
    """The mean over methods of Spearman's rho between the per-image scores in ``a`` and in ``b``
    (two variants of a metric, or one metric before and after a perturbation of the model)."""
    rho = _spearman_columns(a, b)
    return float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")


def ranking_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between the method rankings by the mean over the images of ``a`` and of ``b``."""
    return float(kendalltau(a.mean(axis=0), b.mean(axis=0)).statistic)


def per_image_tau(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image: Kendall's tau-b between its method ranking in ``a`` and in ``b`` (NaN where a
    row is constant). The direction cancels: both rows rank the same way."""
    return np.array([kendalltau(x, y).statistic for x, y in zip(a, b)], dtype=np.float64)
