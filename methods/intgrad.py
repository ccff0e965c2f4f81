"""Integrated Gradients (Sundararajan et al. 2017).

``(x - x0) * sum_k w_k * grad f(x0 + a_k (x - x0))`` in the model's input space, with the
``rule``'s points and weights: ``right`` (default; a_k = k/steps, k = 1..steps, as
DeepExplain, the thesis's toolkit), ``left`` (k = 0..steps-1, as iNNvestigate),
``midpoint`` or ``trapezoid``. All images' interpolated inputs are processed together in
batches of ``batch_size``. Baseline: zeros in the model's input space (spec).

Attributions: (N, H, W, C) float32; relevance: their sum over channels. ``info`` reports,
per image, the sum of the attributions against f(x) - f(x0) (equal up to the integration
error). ``backend="innvestigate"`` runs iNNvestigate in a worker process: its
``integrated_gradients`` analyzer for ``rule="left"``, its ``gradient`` analyzer summed
over the rule's points otherwise.
"""
from __future__ import annotations

from .base import SaliencyMethod
from .modified_gradient import (
    check_backend, check_batch_size, completeness, ig_alphas, integrated_gradients, resolve_baseline, target_logits, to_input_space,
)


class IntegratedGradients(SaliencyMethod):
    name = "intgrad"
    defaults = {"steps": 100, "baseline": "zeros", "rule": "right", "batch_size": 16, "backend": "native"}

    def attribute(self, model, images, targets):
        batch_size = check_batch_size(self.params["batch_size"])
        backend = check_backend(self.params["backend"])
        steps, rule = self.params["steps"], self.params["rule"]
        alphas, weights = ig_alphas(steps, rule)  # validates steps and rule
        x = to_input_space(model, images)
        x0 = resolve_baseline(self.params["baseline"], x.shape[1:])
        info: dict = {"backend": backend, "space": "model input (preprocessed)"}
        if backend == "innvestigate":
            from .innvestigate_backend import analyze

            if rule == "left":
                job = {"analyzer": "integrated_gradients", "steps": int(steps), "reference": x0}
            else:
                job = {"analyzer": "gradient_path", "alphas": alphas.tolist(), "weights": weights.tolist(), "reference": x0}
            attributions, info["innvestigate"] = analyze(model.keras_model, job, x, targets, batch_size)
        else:
            attributions = integrated_gradients(model, x, targets, x0, steps, rule, batch_size)
        attributions = attributions.astype("float32")
        f_x = target_logits(model.keras_model, x, targets)
        f_x0 = model.keras_model(x0[None], training=False).numpy()[0][targets]
        info.update(completeness(attributions, f_x, f_x0))
        return attributions, attributions.sum(axis=-1), info
