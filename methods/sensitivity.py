"""Sensitivity (Simonyan et al. 2014): the gradient of the target logit w.r.t. the input.

Attributions: the signed gradient w.r.t. the model's (preprocessed) input, (N, H, W, C)
float32. Relevance (spec section 3): max over channels of its absolute value (DeepExplain's
``saliency`` is ``abs(gradient)``).
"""
from __future__ import annotations

import numpy as np

from .base import SaliencyMethod
from .modified_gradient import check_backend, check_batch_size, get_engine, to_input_space


class Sensitivity(SaliencyMethod):
    name = "sensitivity"
    defaults = {"batch_size": 16, "backend": "native"}

    def attribute(self, model, images, targets):
        batch_size = check_batch_size(self.params["batch_size"])
        backend = check_backend(self.params["backend"])
        x = to_input_space(model, images)
        info: dict = {"backend": backend, "space": "model input (preprocessed)"}
        if backend == "innvestigate":
            from .innvestigate_backend import analyze

            grads, info["innvestigate"] = analyze(model.keras_model, {"analyzer": "gradient"}, x, targets, batch_size)
        else:
            grads, logits = get_engine(model, "gradient").gradients(x, targets, batch_size=batch_size)
            info["target_logit"] = logits.astype(float).tolist()
        grads = grads.astype(np.float32)
        return grads, np.abs(grads).max(axis=-1), info
