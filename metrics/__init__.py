"""Metrics of saliency maps (the thesis's Section 4.2: PNG size, SSIM, MoRF/LeRF curves and ABPC).

* relevance maps -> grayscale map and pixel rankings: :mod:`metrics.relevance_maps`
* MoRF / LeRF / random perturbation curves: :mod:`metrics.perturbation`
* area between the curves: :mod:`metrics.abpc`
* PNG size and SSIM of the grayscale map: :mod:`metrics.visual`
* named renderings of a map (DeepExplain, iNNvestigate, mask composites) for PNG size and SSIM: :mod:`metrics.renderings`
* mean, std and bootstrap CI over images; paired comparisons (Wilcoxon, Holm): :mod:`metrics.stats`
* agreement of two maps (blurred Pearson r): :mod:`metrics.agreement`
* what each per-image metric is (name, unit, direction): :mod:`metrics.per_image`

Importing this package does not import TensorFlow: the curves reach the model only
through :class:`models.Classifier`.
"""

from .abpc import ABPC, abpc
from .agreement import blurred_r
from .per_image import PER_IMAGE_METRICS, MetricInfo, image_metrics
from .perturbation import (
    THESIS_COVERAGE,
    THESIS_PIXELS_PER_STEP,
    THESIS_STEPS,
    CurveEvaluator,
    Curves,
    perturbation_curves,
    pixels_per_step_for,
)
from .relevance_maps import ORDERS, grayscale_map, pixel_ranking
from .renderings import MASK_RENDERINGS, RENDERINGS, bits_per_pixel, render_map
from .stats import VERDICTS, PairedComparison, Summary, compare_paired, holm, summarise, wilcoxon_p
from .visual import PNG_COMPRESS_LEVEL, image_to_gray, png_size, ssim_to_image

__all__ = [
    "ABPC",
    "MASK_RENDERINGS",
    "ORDERS",
    "PER_IMAGE_METRICS",
    "PNG_COMPRESS_LEVEL",
    "RENDERINGS",
    "THESIS_COVERAGE",
    "THESIS_PIXELS_PER_STEP",
    "THESIS_STEPS",
    "VERDICTS",
    "CurveEvaluator",
    "Curves",
    "MetricInfo",
    "PairedComparison",
    "Summary",
    "abpc",
    "bits_per_pixel",
    "blurred_r",
    "compare_paired",
    "grayscale_map",
    "holm",
    "image_metrics",
    "image_to_gray",
    "perturbation_curves",
    "pixel_ranking",
    "pixels_per_step_for",
    "png_size",
    "render_map",
    "ssim_to_image",
    "summarise",
    "wilcoxon_p",
]
