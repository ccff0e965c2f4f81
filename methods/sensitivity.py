"""Sensitivity (Simonyan et al. 2014): the gradient of the target logit w.r.t. the input.

Attributions: the signed gradient w.r.t. the model's (preprocessed) input, (N, H, W, C)
float32. Relevance (methods/base.py's convention): max over channels of its absolute value (DeepExplain's
``saliency`` is ``abs(gradient)``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from models.interface import Classifier

from .attribution_helpers import BACKENDS, check_backend, to_input_space
from .base import Attribution, Param, SaliencyMethod, batch_size_param
from .innvestigate_backend import analyze
from .modified_gradient import get_engine


class Sensitivity(SaliencyMethod):
    name = "sensitivity"
    signed = False
    attribution_space = "input"
    parameters: ClassVar[dict[str, Param]] = {
        "batch_size": batch_size_param(16),
        "backend": Param("native", str, "'native' or 'innvestigate' (a worker process)", choices=BACKENDS, check=check_backend),
    }

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        p = self.params
        x = to_input_space(model, images)
        info: dict[str, Any] = {"backend": p["backend"]}
        diagnostics: dict[str, np.ndarray] = {}
        if p["backend"] == "innvestigate":
            grads, info["innvestigate"] = analyze(model.keras_model, {"analyzer": "gradient"}, x, targets, p["batch_size"])
        else:
            grads, logits = get_engine(model, "gradient").gradients(x, targets, batch_size=p["batch_size"])
            diagnostics["target_logit"] = logits.astype(np.float64)
        grads = grads.astype(np.float32)
        return Attribution(grads, np.abs(grads).max(axis=-1), diagnostics, info=info)
