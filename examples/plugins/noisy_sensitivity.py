"""Sensitivity with noise added to its map: a deliberately degraded method, to see what
``bench check`` says about one (and that regression mode catches it).

Check it: python -m bench check examples.plugins.noisy_sensitivity:NoisySensitivity
"""

import numpy as np

from methods import Attribution, Param
from methods.sensitivity import Sensitivity


class NoisySensitivity(Sensitivity):
    name = "noisy_sensitivity"
    parameters = {
        **Sensitivity.parameters,
        "noise": Param(0.2, float, "std of the added noise, as a share of each map's largest value", low=0.0),
        "seed": Param(0, int),
    }

    def attribute(self, model, images, targets):
        clean = super().attribute(model, images, targets)
        rng = np.random.default_rng(self.params["seed"])
        scale = self.params["noise"] * clean.relevance.max(axis=(1, 2), keepdims=True)
        noisy = clean.relevance + np.abs(rng.normal(size=clean.relevance.shape)) * scale
        return Attribution(clean.attributions, noisy.astype(np.float32), clean.diagnostics, info=clean.info)
