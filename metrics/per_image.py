"""The per-image metrics of a run, each declaring its name, unit and direction.

Everything that reads a metric's direction (the report's verdicts, the thesis's claims,
regression checks, dashboard exports) reads it from :data:`PER_IMAGE_METRICS`.
:func:`map_metrics` and :func:`curve_metrics` compute the quality metrics of one image's
map and of its curves. The curve metrics exist once per pixel replacement
(:data:`metrics.perturbation.REPLACEMENTS`): under the thesis's random colours they keep
their plain names (``abpc_sum_logit``), under another replacement they carry its name
(``abpc_sum_logit_road``, :func:`curve_metric_name`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .abpc import abpc
from .perturbation import DEFAULT_REPLACEMENT, REPLACEMENT_TEXT, REPLACEMENTS
from .visual import png_size, ssim_to_image


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str
    higher_is_better: bool
    description: str

    def best(self, values: dict[str, float]) -> str:
        """The key whose value is best in this metric's direction."""
        return (max if self.higher_is_better else min)(values, key=values.__getitem__)


CURVE_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("abpc_sum_logit", "logit", True, "area between the LeRF and MoRF curves, sum over steps"),
    MetricInfo("abpc_mean_logit", "logit", True, "area between the LeRF and MoRF curves, mean over steps"),
    MetricInfo("abpc_sum_prob_pct", "%", True, "ABPC of the target probability (percent), sum over steps"),
    MetricInfo("abpc_mean_prob_pct", "%", True, "ABPC of the target probability (percent), mean over steps"),
)
"""The metrics computed from a map's MoRF and LeRF curves, under the default replacement."""


def curve_metric_name(name: str, replacement: str) -> str:
    """The name of curve metric ``name`` under ``replacement`` (``abpc_sum_logit_road``)."""
    return name if replacement == DEFAULT_REPLACEMENT else f"{name}_{replacement}"


def _curve_metric(info: MetricInfo, replacement: str) -> MetricInfo:
    if replacement == DEFAULT_REPLACEMENT:
        return info
    return MetricInfo(
        curve_metric_name(info.name, replacement),
        info.unit,
        info.higher_is_better,
        f"{info.description}; {REPLACEMENT_TEXT[replacement]}",
    )


PER_IMAGE_METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("png_bytes", "bytes", False, "size of the grayscale map as an 8-bit PNG (smaller: less high-frequency noise)"),
        MetricInfo("ssim", "1", True, "SSIM between the grayscale map and the grayscale image"),
        *(_curve_metric(info, r) for r in REPLACEMENTS for info in CURVE_METRICS),
        MetricInfo("method_seconds", "s", False, "the method's wall time per image"),
    ]
}
"""Quality metrics and the method's time per image. Methods' own diagnostics (e.g. Noise
Mask's preservation) are stored beside them and have no direction. A run has the curve
metrics of the replacements it computed (``metrics.replacement``)."""


def map_metrics(gray: np.ndarray, image: np.ndarray, png_level: int) -> dict[str, float]:
    """PNG size and SSIM of one image's uint8 grayscale map against its RGB image."""
    return {"png_bytes": png_size(gray, level=int(png_level)), "ssim": ssim_to_image(gray, image)}


def curve_metrics(
    morf_logits: np.ndarray, lerf_logits: np.ndarray, morf_probs: np.ndarray, lerf_probs: np.ndarray, replacement: str
) -> dict[str, float]:
    """ABPC of one image's MoRF and LeRF curves (step 0 first), named for ``replacement``."""
    logit_area = abpc(lerf_logits, morf_logits)
    prob_area = abpc(100 * lerf_probs, 100 * morf_probs)
    values = {
        "abpc_sum_logit": float(logit_area.sum),
        "abpc_mean_logit": float(logit_area.mean),
        "abpc_sum_prob_pct": float(prob_area.sum),
        "abpc_mean_prob_pct": float(prob_area.mean),
    }
    return {curve_metric_name(k, replacement): v for k, v in values.items()}


def image_metrics(
    gray: np.ndarray,
    image: np.ndarray,
    morf_logits: np.ndarray,
    lerf_logits: np.ndarray,
    morf_probs: np.ndarray,
    lerf_probs: np.ndarray,
    png_level: int,
) -> dict[str, float]:
    """The quality metrics of one image under the default replacement: its uint8 grayscale
    map, its RGB image and its MoRF/LeRF curves (step 0 first)."""
    return map_metrics(gray, image, png_level) | curve_metrics(
        morf_logits, lerf_logits, morf_probs, lerf_probs, DEFAULT_REPLACEMENT
    )
