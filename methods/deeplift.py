"""DeepLIFT with the Rescale rule (Shrikumar et al. 2017), as DeepExplain computes it: the
gradient with every nonlinearity's gradient replaced by the multiplier
``(f(z) - f(z0)) / (z - z0)`` against the baseline's activations z0 (the ordinary
derivative at the midpoint where ``|z - z0| <= 1e-5``), times ``x - x0``.
See :mod:`methods.modified_gradient` (max pooling keeps its ordinary gradient).

Attributions: (N, H, W, C) float32 in the model's input space; relevance: their sum over
channels. Baseline: zeros in the model's input space (docs/reference/methods.md). ``info``
reports, per image, the sum of the attributions against f(x) - f(x0) (they agree: completeness).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from models.interface import Classifier

from .attribution_helpers import check_baseline, completeness, resolve_baseline, to_input_space
from .base import Attribution, Param, SaliencyMethod, batch_size_param
from .modified_gradient import RESCALE_THRESHOLD, get_engine


class DeepLIFTRescale(SaliencyMethod):
    name = "deeplift"
    signed = True
    attribution_space = "input"
    parameters: ClassVar[dict[str, Param]] = {
        "baseline": Param(
            "zeros", None, "reference input: 'zeros' (model input space), a number or an array", check=check_baseline
        ),
        "batch_size": batch_size_param(8),
        "rescale_threshold": Param(RESCALE_THRESHOLD, float, "|z - z0| below which the ordinary gradient is used", positive=True),
    }

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        p = self.params
        x = to_input_space(model, images)
        x0 = resolve_baseline(p["baseline"], x.shape[1:])
        engine = get_engine(model, "rescale", threshold=p["rescale_threshold"])
        grads, f_x, f_x0 = engine.paired_gradients(x, x0[None], targets, batch_size=p["batch_size"])
        attributions = (grads * (x - x0)).astype("float32")
        return Attribution(attributions, attributions.sum(axis=-1), completeness(attributions, f_x, f_x0))
