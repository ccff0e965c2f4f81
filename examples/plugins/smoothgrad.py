"""SmoothGrad (Smilkov et al. 2017) as a plug-in: the one-file method example of docs/tutorials/check-your-method.md.

Check it: python -m bench check examples.plugins.smoothgrad:SmoothGrad
"""

import numpy as np

from methods import Attribution, Param, SaliencyMethod
from methods.attribution_helpers import to_input_space
from methods.modified_gradient import get_engine


class SmoothGrad(SaliencyMethod):
    name = "smoothgrad"
    signed = False  # relevance >= 0
    attribution_space = "input"  # attributions are (N, H, W, C) in the model's input space
    parameters = {
        "samples": Param(16, int, "noisy copies per image", low=1),
        "sigma": Param(0.15, float, "noise std, as a fraction of the input range", positive=True),
        "seed": Param(0, int),
    }

    def estimate_seconds(self, costs):  # for the run's time estimate
        return self.params["samples"] * costs.backward

    def attribute(self, model, images, targets):
        p = self.params
        x = to_input_space(model, images)
        rng = np.random.default_rng(p["seed"])
        engine = get_engine(model, "gradient")
        noise = p["sigma"] * (x.max() - x.min())
        grads = np.mean(
            [engine.gradients(x + rng.normal(0, noise, x.shape).astype(np.float32), targets)[0] for _ in range(p["samples"])],
            axis=0,
        )
        relevance = np.abs(grads).max(axis=-1)
        return Attribution(grads, relevance, diagnostics={"grad_norm": np.linalg.norm(grads.reshape(len(x), -1), axis=1)})
