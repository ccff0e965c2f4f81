"""DeepLIFT with the Rescale rule (Shrikumar et al. 2017), as DeepExplain computes it: the
gradient with every nonlinearity's gradient replaced by the multiplier
``(f(z) - f(z0)) / (z - z0)`` against the baseline's activations z0 (the ordinary
derivative at the midpoint where ``|z - z0| <= 1e-5``), times ``x - x0``.
See :mod:`methods.modified_gradient` (max pooling keeps its ordinary gradient).

Attributions: (N, H, W, C) float32 in the model's input space; relevance: their sum over
channels. Baseline: zeros in the model's input space (spec). ``info`` reports, per image,
the sum of the attributions against f(x) - f(x0) (they agree: completeness).
"""
from __future__ import annotations

from .base import SaliencyMethod
from .modified_gradient import (
    RESCALE_THRESHOLD, check_batch_size, completeness, get_engine, resolve_baseline, to_input_space,
)


class DeepLIFTRescale(SaliencyMethod):
    name = "deeplift"
    defaults = {"baseline": "zeros", "batch_size": 8, "rescale_threshold": RESCALE_THRESHOLD}

    def attribute(self, model, images, targets):
        batch_size = check_batch_size(self.params["batch_size"])
        threshold = float(self.params["rescale_threshold"])
        x = to_input_space(model, images)
        x0 = resolve_baseline(self.params["baseline"], x.shape[1:])
        engine = get_engine(model, "rescale", threshold=threshold)
        grads, f_x, f_x0 = engine.gradients(x, targets, x0[None], batch_size=batch_size)
        attributions = (grads * (x - x0)).astype("float32")
        info = {"space": "model input (preprocessed)", **completeness(attributions, f_x, f_x0)}
        return attributions, attributions.sum(axis=-1), info
