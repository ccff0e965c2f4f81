"""The meta table: every measure of every per-image metric with its 95 % bootstrap interval
over images (``meta.csv``: metric, measure, value, ci_low, ci_high, n).

Measures (:mod:`bench.studies.meta.measures`), for each per-image quality metric a run holds
(:data:`metrics.PER_IMAGE_METRICS`, the method's seconds excluded), on the first source's
images, the random-order baseline excluded:

* ``inter_rater_alpha``, ``inter_method_spearman``: Tomsett et al.'s reliabilities.
* ``internal_consistency_morf`` (curve metrics): the mean over methods of Spearman's rho between
  the per-image early MoRF drop and the metric, under the same replacement.
* ``internal_consistency_replacement`` and ``internal_consistency_replacement_tau`` (curve
  metrics held under both replacements; the row is written under both names): Spearman of the
  per-image scores per method (mean), and Kendall's tau of the method ranking by mean.
* ``inter_model_tau`` (with a second source, same images, another model): Kendall's tau of the
  method rankings by mean over the common images, over the methods both have;
  ``inter_model_tau_images``: the mean over images of the per-image rankings' tau.
* ``noise_resilience`` / ``adversary_reactivity`` (with recomputed tables,
  :mod:`bench.studies.meta.perturb`): the mean over images of Kendall's tau between the per-image
  method rankings of the original model and of the minor perturbation (1 = unmoved), and 1 minus
  that tau for the fully randomised model (0 = unmoved, 1 = unrelated); ``_scores``: the same with
  Spearman's rho of each method's per-image scores (mean over methods).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from bench.studies.meta import measures
from bench.studies.meta.bootstrap import Estimate, bootstrap, bootstrap_mean
from bench.studies.meta.sources import MetaSource, pivot
from metrics import PER_IMAGE_METRICS
from metrics.per_image import CURVE_METRICS, curve_metric_name
from metrics.perturbation import DEFAULT_REPLACEMENT, REPLACEMENTS

COLUMNS = ["metric", "measure", "value", "ci_low", "ci_high", "n"]
QUALITY_METRICS = [name for name in PER_IMAGE_METRICS if name != "method_seconds"]
"""The metrics with a direction that judge a map (a method's seconds depend on the machine)."""


def _row(metric: str, measure: str, e: Estimate) -> dict:
    return {"metric": metric, "measure": measure, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n}


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two images x methods tables on their common images and methods, rows aligned."""
    rows = a.index.intersection(b.index)
    cols = [m for m in a.columns if m in b.columns]
    return a.loc[rows, cols].to_numpy(np.float64), b.loc[rows, cols].to_numpy(np.float64)


def _two(a: np.ndarray, b: np.ndarray, statistic, n_boot: int, seed: int) -> Estimate:
    return bootstrap(lambda k: statistic(a[k], b[k]), len(a), n_boot, seed)


def _on(values: np.ndarray, statistic: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """``statistic`` of the rows (images) of ``values`` that an index picks."""
    return lambda index: statistic(values[index])


def reliability_rows(source: MetaSource, n_boot: int, seed: int) -> list[dict]:
    """Inter-rater alpha, inter-method rho and the internal consistencies of every metric."""
    rows = []
    for metric in [m for m in QUALITY_METRICS if m in set(source.metrics["metric"])]:
        higher = PER_IMAGE_METRICS[metric].higher_is_better
        values = source.table(metric).to_numpy(np.float64)
        if values.shape[1] < 2:
            continue
        alpha = bootstrap(_on(values, partial(measures.inter_rater_alpha, higher_is_better=higher)), len(values), n_boot, seed)
        rho = bootstrap(_on(values, measures.inter_method_spearman), len(values), n_boot, seed)
        rows += [_row(metric, "inter_rater_alpha", alpha), _row(metric, "inter_method_spearman", rho)]
    for replacement in REPLACEMENTS:
        early = source.early_table(replacement)
        for info in CURVE_METRICS:
            metric = curve_metric_name(info.name, replacement)
            a, b = _paired(early, source.table(metric))
            if a.size:
                rows.append(_row(metric, "internal_consistency_morf", _two(a, b, measures.paired_spearman, n_boot, seed)))
    for info in CURVE_METRICS:
        for other in [r for r in REPLACEMENTS if r != DEFAULT_REPLACEMENT]:
            pair = (info.name, curve_metric_name(info.name, other))
            a, b = _paired(source.table(pair[0]), source.table(pair[1]))
            if not a.size:
                continue
            scores = _two(a, b, measures.paired_spearman, n_boot, seed)
            tau = _two(a, b, measures.ranking_tau, n_boot, seed)
            for metric in pair:
                rows += [
                    _row(metric, "internal_consistency_replacement", scores),
                    _row(metric, "internal_consistency_replacement_tau", tau),
                ]
    return rows


def inter_model_rows(source: MetaSource, other: MetaSource, n_boot: int, seed: int) -> list[dict]:
    """Kendall's tau between the two sources' method rankings, per metric both hold."""
    rows = []
    methods = [m for m in source.methods if m in other.methods]
    common = set(source.metrics["metric"]) & set(other.metrics["metric"])
    for metric in [m for m in QUALITY_METRICS if m in common]:
        a, b = _paired(source.table(metric, methods), other.table(metric, methods))
        if a.shape[1] < 2 or not a.size:
            continue
        rows.append(_row(metric, "inter_model_tau", _two(a, b, measures.ranking_tau, n_boot, seed)))
        rows.append(_row(metric, "inter_model_tau_images", bootstrap_mean(measures.per_image_tau(a, b), n_boot, seed)))
    return rows


def perturbation_rows(tables: dict[str, pd.DataFrame], n_boot: int, seed: int) -> list[dict]:
    """Noise resilience and adversary reactivity from the recomputed tables ("original",
    "noise", "randomised": image_id, method, metric, value)."""
    rows = []
    original = tables["original"]
    methods = list(dict.fromkeys(original["method"]))
    for metric in [m for m in QUALITY_METRICS if m in set(original["metric"])]:
        base = pivot(original, metric, methods)
        for condition, name, flip in (("noise", "noise_resilience", False), ("randomised", "adversary_reactivity", True)):
            a, b = _paired(base, pivot(tables[condition], metric, methods))
            if a.shape[1] < 2 or not a.size:
                continue
            tau = bootstrap_mean(measures.per_image_tau(a, b), n_boot, seed)
            rho = _two(a, b, measures.paired_spearman, n_boot, seed)
            rows += [
                _row(metric, name, _flipped(tau) if flip else tau),
                _row(metric, f"{name}_scores", _flipped(rho) if flip else rho),
            ]
    return rows


def _flipped(e: Estimate) -> Estimate:
    """1 - the estimate (its interval turned round): agreement made into change."""
    return Estimate(1 - e.value, 1 - e.ci_high, 1 - e.ci_low, e.n, e.undefined)


def meta_table(
    source: MetaSource,
    other: MetaSource | None = None,
    perturbed: dict[str, pd.DataFrame] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """meta.csv's rows: ``source``'s reliabilities, then the inter-model and perturbation measures
    when ``other`` and ``perturbed`` are given."""
    rows = reliability_rows(source, n_boot, seed)
    if other is not None:
        rows += inter_model_rows(source, other, n_boot, seed)
    if perturbed is not None:
        rows += perturbation_rows(perturbed, n_boot, seed)
    return pd.DataFrame(rows, columns=COLUMNS)
