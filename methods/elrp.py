"""epsilon-LRP (Bach et al. 2015) as DeepExplain computes it: the gradient with every
nonlinearity's gradient replaced by ``f(z) / (z + eps * s(z))`` (s = +1 for z >= 0, -1
otherwise), times the input (see :mod:`methods.modified_gradient`).

Attributions: (N, H, W, C) float32 in the model's input space; relevance: their sum over
channels. ``backend="innvestigate"`` runs iNNvestigate's ``lrp.epsilon`` in a worker
process instead (see :mod:`methods.innvestigate_backend` for how its rule differs).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from models.interface import Classifier
from models.keras_api import keras

from .attribution_helpers import BACKENDS, check_backend, to_input_space
from .base import Attribution, Param, SaliencyMethod, batch_size_param
from .innvestigate_backend import analyze
from .modified_gradient import get_engine


class EpsilonLRP(SaliencyMethod):
    name = "elrp"
    signed = True
    attribution_space = "input"
    parameters: ClassVar[dict[str, Param]] = {
        "epsilon": Param(1e-4, float, "stabiliser of the epsilon rule", positive=True),
        "batch_size": batch_size_param(16),
        "backend": Param("native", str, "'native' or 'innvestigate' (a worker process)", choices=BACKENDS, check=check_backend),
    }

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        p = self.params
        epsilon, batch_size = p["epsilon"], p["batch_size"]
        x = to_input_space(model, images)
        info: dict[str, Any] = {"backend": p["backend"]}
        diagnostics: dict[str, np.ndarray] = {}
        if p["backend"] == "innvestigate":
            if any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.keras_model.submodules):
                warnings.warn(
                    "iNNvestigate's lrp.epsilon applies the epsilon rule at every BatchNormalization and "
                    "convolution too (the native rule only at nonlinearities); on deep BN networks its "
                    "relevances can explode (EfficientNet-Lite0: ~1e33)",
                    stacklevel=2,
                )

            attributions, info["innvestigate"] = analyze(
                model.keras_model, {"analyzer": "lrp.epsilon", "epsilon": epsilon}, x, targets, batch_size
            )
        else:
            grads, logits = get_engine(model, "elrp", epsilon=epsilon).gradients(x, targets, batch_size=batch_size)
            attributions = grads * x
            diagnostics["target_logit"] = logits.astype(np.float64)
        attributions = attributions.astype("float32")
        return Attribution(attributions, attributions.sum(axis=-1), diagnostics, info=info)
