"""epsilon-LRP (Bach et al. 2015) as DeepExplain computes it: the gradient with every
nonlinearity's gradient replaced by ``f(z) / (z + eps * s(z))`` (s = +1 for z >= 0, -1
otherwise), times the input (see :mod:`methods.modified_gradient`).

Attributions: (N, H, W, C) float32 in the model's input space; relevance: their sum over
channels. ``backend="innvestigate"`` runs iNNvestigate's ``lrp.epsilon`` in a worker
process instead (see :mod:`methods.innvestigate_backend` for how its rule differs).
"""
from __future__ import annotations

import warnings

import tensorflow as tf

from .base import SaliencyMethod
from .modified_gradient import check_backend, check_batch_size, get_engine, to_input_space


class EpsilonLRP(SaliencyMethod):
    name = "elrp"
    defaults = {"epsilon": 1e-4, "batch_size": 16, "backend": "native"}

    def attribute(self, model, images, targets):
        batch_size = check_batch_size(self.params["batch_size"])
        backend = check_backend(self.params["backend"])
        epsilon = float(self.params["epsilon"])
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0; got {epsilon}")
        x = to_input_space(model, images)
        info: dict = {"backend": backend, "space": "model input (preprocessed)"}
        if backend == "innvestigate":
            from .innvestigate_backend import analyze

            if any(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in model.keras_model.submodules):
                warnings.warn(
                    "iNNvestigate's lrp.epsilon applies the epsilon rule at every BatchNormalization and "
                    "convolution too (the native rule only at nonlinearities); on deep BN networks its "
                    "relevances can explode (EfficientNet-Lite0: ~1e33)", stacklevel=2,
                )

            attributions, info["innvestigate"] = analyze(
                model.keras_model, {"analyzer": "lrp.epsilon", "epsilon": epsilon}, x, targets, batch_size
            )
        else:
            grads, logits = get_engine(model, "elrp", epsilon=epsilon).gradients(x, targets, batch_size=batch_size)
            attributions = grads * x
            info["target_logit"] = logits.astype(float).tolist()
        attributions = attributions.astype("float32")
        return attributions, attributions.sum(axis=-1), info
