"""Integrated Gradients (Sundararajan et al. 2017).

``(x - x0) * sum_k w_k * grad f(x0 + a_k (x - x0))`` in the model's input space, with the
``rule``'s points and weights: ``right`` (default; a_k = k/steps, k = 1..steps, as
DeepExplain, the thesis's toolkit), ``left`` (k = 0..steps-1, as iNNvestigate),
``midpoint`` or ``trapezoid``. All images' interpolated inputs are processed together in
batches of ``batch_size``. Baseline: zeros in the model's input space
(docs/reference/methods.md).

Attributions: (N, H, W, C) float32; relevance: their sum over channels. ``info`` reports,
per image, the sum of the attributions against f(x) - f(x0) (equal up to the integration
error). ``backend="innvestigate"`` runs iNNvestigate in a worker process: its
``integrated_gradients`` analyzer for ``rule="left"``, its ``gradient`` analyzer summed
over the rule's points otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from models.interface import Classifier

from .attribution_helpers import (
    BACKENDS,
    IG_RULES,
    check_backend,
    check_baseline,
    completeness,
    ig_alphas,
    integrate_path,
    resolve_baseline,
    target_logits,
    to_input_space,
)
from .base import Attribution, ModelCosts, Param, SaliencyMethod, batch_size_param
from .innvestigate_backend import analyze
from .modified_gradient import get_engine

MAX_STEPS = 100_000
"""Path points at most: 1,000x the default 100 (docs/reference/methods.md); beyond, the integration error
is far below float32 rounding and only the cost grows."""


class IntegratedGradients(SaliencyMethod):
    name = "intgrad"
    signed = True
    attribution_space = "input"
    parameters: ClassVar[dict[str, Param]] = {
        "steps": Param(100, int, "points on the path from the baseline to the image", low=1, high=MAX_STEPS),
        "baseline": Param(
            "zeros", None, "reference input: 'zeros' (model input space), a number or an array", check=check_baseline
        ),
        "rule": Param("right", str, "Riemann rule", choices=IG_RULES),
        "batch_size": batch_size_param(16),
        "backend": Param("native", str, "'native' or 'innvestigate' (a worker process)", choices=BACKENDS, check=check_backend),
    }

    def estimate_seconds(self, costs: ModelCosts) -> float:
        return float(self.params["steps"] * costs.backward)

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        p = self.params
        steps, rule, batch_size = p["steps"], p["rule"], p["batch_size"]
        alphas, weights = ig_alphas(steps, rule)
        x = to_input_space(model, images)
        x0 = resolve_baseline(p["baseline"], x.shape[1:])
        info: dict[str, Any] = {"backend": p["backend"]}
        if p["backend"] == "innvestigate":
            if rule == "left":
                job = {"analyzer": "integrated_gradients", "steps": steps, "reference": x0}
            else:
                job = {"analyzer": "gradient_path", "alphas": alphas.tolist(), "weights": weights.tolist(), "reference": x0}
            attributions, info["innvestigate"] = analyze(model.keras_model, job, x, targets, batch_size)
        else:
            engine = get_engine(model, "gradient")
            attributions = integrate_path(
                lambda points, t: engine.gradients(points, t, batch_size=len(points))[0],
                x,
                targets,
                x0,
                alphas,
                weights,
                batch_size,
            )
        attributions = attributions.astype("float32")
        f_x = target_logits(model.keras_model, x, targets)
        f_x0 = model.keras_model(x0[None], training=False).numpy()[0][targets]
        return Attribution(attributions, attributions.sum(axis=-1), completeness(attributions, f_x, f_x0), info=info)
