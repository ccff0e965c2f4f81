"""The per-image metrics of a run, each declaring its name, unit and direction.

Everything that reads a metric's direction (the report's verdicts, the thesis's claims,
regression checks, dashboard exports) reads it from :data:`PER_IMAGE_METRICS`.
:func:`image_metrics` computes the quality metrics of one image's map and curves, in the
order of the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .abpc import abpc
from .visual import png_size, ssim_to_image


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str
    higher_is_better: bool
    description: str

    def best(self, values: dict[str, float]) -> str:
        """The key whose value is best in this metric's direction."""
        return (max if self.higher_is_better else min)(values, key=values.get)


PER_IMAGE_METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("png_bytes", "bytes", False, "size of the grayscale map as an 8-bit PNG (smaller: less high-frequency noise)"),
        MetricInfo("ssim", "1", True, "SSIM between the grayscale map and the grayscale image"),
        MetricInfo("abpc_sum_logit", "logit", True, "area between the LeRF and MoRF curves, sum over steps"),
        MetricInfo("abpc_mean_logit", "logit", True, "area between the LeRF and MoRF curves, mean over steps"),
        MetricInfo("abpc_sum_prob_pct", "%", True, "ABPC of the target probability (percent), sum over steps"),
        MetricInfo("abpc_mean_prob_pct", "%", True, "ABPC of the target probability (percent), mean over steps"),
        MetricInfo("method_seconds", "s", False, "the method's wall time per image"),
    ]
}
"""Quality metrics and the method's time per image. Methods' own diagnostics (e.g. Noise
Mask's preservation) are stored beside them and have no direction."""


def image_metrics(
    gray: np.ndarray,
    image: np.ndarray,
    morf_logits: np.ndarray,
    lerf_logits: np.ndarray,
    morf_probs: np.ndarray,
    lerf_probs: np.ndarray,
    png_level: int,
) -> dict[str, float]:
    """The quality metrics of one image: its uint8 grayscale map, its RGB image and its
    MoRF/LeRF curves (step 0 first)."""
    logit_area = abpc(lerf_logits, morf_logits)
    prob_area = abpc(100 * lerf_probs, 100 * morf_probs)
    return {
        "png_bytes": png_size(gray, level=int(png_level)),
        "ssim": ssim_to_image(gray, image),
        "abpc_sum_logit": float(logit_area.sum),
        "abpc_mean_logit": float(logit_area.mean),
        "abpc_sum_prob_pct": float(prob_area.sum),
        "abpc_mean_prob_pct": float(prob_area.mean),
    }
