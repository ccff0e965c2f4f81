"""Noise Mask (the thesis's method; its faithful settings: :data:`common.thesis.NOISE_MASK`).

A mask M = sigmoid(V) at the input's resolution blends the image with fresh uniform
[0, 255] noise in pixel space at every iteration, X_hat = X*M + U_t*(1-M); Adam minimises
mean(M) + beta * mean((F_l(X) - F_l(X_hat))^2) over V, with F_l a pre-softmax layer
(default: the logits) and beta = beta0 = 1 / mean_U mean((F_l(U) - F_l(X))^2).

Stopping rule (documented in docs/reference/methods.md): every ``window`` iterations, compare the mean
stochastic objective of the last window with that of the window before; an image has
converged when it fell by less than ``tolerance`` (relative), after at least two windows.
A converged image's mask is frozen at that point (the rest of its batch keeps going);
every image stops at ``max_iterations`` at the latest. The default window and tolerance
(500, 0.1%) are the issue's convergence criterion for the reference runs.

Named settings (``PRESETS``; choose one with the ``preset`` parameter, e.g.
``methods.explain("noise_mask", model, images, preset="fast")``; explicit parameters
override the preset's): ``faithful`` = the defaults (the paper profile); ``fast`` = the
same optimisation with 4x the learning rate for a fixed 3,200 steps (the quick profile);
``balanced`` = 2x for 6,400 steps. How close each comes to faithful runs continued to
convergence was measured once (EfficientNet-Lite0, 16 shared images): the figures are in
``bench/report/noise_mask_convergence.json`` (provenance:
tools/noise_mask_reference/README.md), and every run report prints those for its setting.
Learning-rate decay and coarse (multi-resolution) parameterisations reached lower
objectives sooner but different, blobbier masks, so they are not used.

Images are optimised as a batch (each has its own V; Adam is elementwise, so batching
does not couple them). Each image's noise comes from a stateless RNG keyed by (the
image's content hash, seed, iteration), so an image gets the same noise sequence whatever
batch it is in, and a run is deterministic for a fixed seed.
"""

from __future__ import annotations

import time
import weakref
import zlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from common.errors import ParameterError
from common.progress import progress
from models.interface import Classifier
from models.keras_api import keras

from .base import Attribution, ModelCosts, Param, SaliencyMethod
from .noise_mask_settings import FAST, PARAMETERS, PRESETS

__all__ = ["FAST", "PRESETS", "NoiseMask", "evaluate_mask"]


TRACE_CHUNK = 4096
"""Iterations of objective trace allocated at first (doubled as needed), so a large
``max_iterations`` cap costs memory only for the iterations actually run."""

Feature = Callable[[tf.Tensor], tf.Tensor]
"""F_l: pixels (a tensor) -> the compared layer's output."""


class NoiseMask(SaliencyMethod):
    name = "noise_mask"
    signed = False
    attribution_space = "mask"
    parameters: ClassVar[dict[str, Param]] = PARAMETERS

    def __init__(self, **params: Any):
        preset = params.get("preset", "faithful")
        if preset not in PRESETS:
            raise ParameterError(f"noise_mask.preset: unknown preset {preset!r}; available: {', '.join(PRESETS)}")
        super().__init__(**{**PRESETS[preset], **params})

    def estimate_seconds(self, costs: ModelCosts) -> float:
        return float(self.params["max_iterations"] * costs.backward)

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        p = self.params
        masks: list[np.ndarray] = []
        infos: list[dict[str, np.ndarray]] = []
        for start in range(0, len(images), p["batch_size"]):
            batch = images[start : start + p["batch_size"]]
            mask, info = self._optimise(model, batch)
            masks.append(mask)
            infos.append(info)
        mask = np.concatenate(masks)
        diagnostics = {key: np.concatenate([i[key] for i in infos]) for key in infos[0] if key != "trace"}
        diagnostics["loss_term_pct"] = 100 * diagnostics.pop("loss_term").astype(np.float64)
        width = max(i["trace"].shape[1] for i in infos)
        trace = np.concatenate(
            [np.pad(i["trace"], ((0, 0), (0, width - i["trace"].shape[1])), constant_values=np.nan) for i in infos]
        )
        return Attribution(mask, mask, diagnostics, {"trace": trace})

    # ------------------------------------------------------------------ core

    def _optimise(self, model: Classifier, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.params
        n, h, w, _ = images.shape
        layer = p["layer"]
        started = time.perf_counter()
        noise = NoiseSource(images, int(p["seed"]))
        x_t = tf.constant(images.astype(np.float32))
        feature = _feature_fn(model, layer)
        f_x = feature(x_t)

        beta = self._beta(feature, x_t, f_x, noise) if p["beta"] is None else np.full(n, float(p["beta"]), np.float32)
        beta_t = tf.constant(beta, tf.float32)

        v0 = float(np.log(p["init"] / (1.0 - p["init"])))
        v = tf.Variable(tf.fill((n, h, w, 1), v0), name="noise_mask_logits")
        optimizer = keras.optimizers.Adam(learning_rate=p["learning_rate"], epsilon=p["adam_epsilon"])
        reduce_axes = list(range(1, len(f_x.shape)))

        def one_step(iteration: tf.Tensor) -> tf.Tensor:
            u = noise.draw(_STEP, iteration)
            with tf.GradientTape() as tape:
                m = tf.sigmoid(v)
                # X*M + U*(1-M) written so that M has two consumers: with three, TF adds
                # their gradients in a thread-dependent order and runs stop being repeatable
                f_hat = feature(u + (x_t - u) * m)
                mse = tf.reduce_mean(tf.square(f_x - f_hat), axis=reduce_axes)
                objective = tf.reduce_mean(m, axis=[1, 2, 3]) + beta_t * mse
                total = tf.reduce_sum(objective)
            optimizer.apply_gradients([(tape.gradient(total, v), v)])
            return objective

        step = tf.function(one_step)

        window, max_iter = int(p["window"]), int(p["max_iterations"])
        trace = np.full((n, min(max_iter, TRACE_CHUNK)), np.nan, np.float32)  # grown as iterations run
        final_v = np.zeros((n, h, w, 1), np.float32)
        iterations = np.full(n, max_iter, np.int64)
        active = np.ones(n, bool)
        bar = progress(total=max_iter, desc=f"noise_mask ({n} images)", unit="iterations")
        for it in range(max_iter):
            if it == trace.shape[1]:  # memory follows the iterations run, not the cap
                more = min(trace.shape[1], max_iter - trace.shape[1])
                trace = np.concatenate([trace, np.full((n, more), np.nan, np.float32)], axis=1)
            trace[active, it] = step(tf.constant(it, tf.int64)).numpy()[active]
            done = it + 1
            bar.update(1)
            if done % window == 0 and done >= 2 * window:
                prev = trace[:, done - 2 * window : done - window].mean(axis=1)
                cur = trace[:, done - window : done].mean(axis=1)
                newly = active & ((prev - cur) < p["tolerance"] * np.abs(prev))
                if newly.any():
                    final_v[newly] = v.numpy()[newly]
                    iterations[newly] = done
                    active &= ~newly
                if not active.any():
                    break
        bar.close()
        final_v[active] = v.numpy()[active]
        mask = 1.0 / (1.0 + np.exp(-final_v[..., 0]))

        preservation, loss_term = _fixed_draw_terms(feature, x_t, f_x, mask, beta, noise, int(p["eval_draws"]))
        seconds = time.perf_counter() - started
        info = {
            "preservation": preservation,
            "loss_term": loss_term,
            "beta": beta,
            "iterations": iterations,
            "converged": iterations < max_iter,
            "seconds": np.full(n, seconds / n),
            "trace": trace[:, : int(iterations.max())],
        }
        return mask.astype(np.float32), info

    def _beta(self, feature: Feature, x_t: tf.Tensor, f_x: tf.Tensor, noise: NoiseSource) -> np.ndarray:
        """beta0 = 1 / (mean over draws of the MSE between F(noise) and F(X)), per image."""
        draws: list[np.ndarray] = []
        for d in range(int(self.params["beta_draws"])):
            f_u = feature(noise.draw(_BETA, d))
            draws.append(tf.reduce_mean(tf.square(f_u - f_x), axis=list(range(1, len(f_x.shape)))).numpy())
        beta: np.ndarray = (1.0 / np.mean(draws, axis=0)).astype(np.float32)
        return beta


def _fixed_draw_terms(
    feature: Feature, x_t: tf.Tensor, f_x: tf.Tensor, mask: np.ndarray, beta: np.ndarray, noise: NoiseSource, draws: int
) -> tuple[np.ndarray, np.ndarray]:
    """Preservation mean(M) and loss term beta*MSE averaged over the fixed evaluation draws."""
    m = tf.constant(mask[..., None], tf.float32)
    losses: list[np.ndarray] = []
    for d in range(draws):
        u = noise.draw(_EVAL, d)
        f_hat = feature(u + (x_t - u) * m)
        losses.append(tf.reduce_mean(tf.square(f_x - f_hat), axis=list(range(1, len(f_x.shape)))).numpy())
    preservation: np.ndarray = mask.mean(axis=(1, 2)).astype(np.float32)
    loss_term: np.ndarray = (beta * np.mean(losses, axis=0)).astype(np.float32)
    return preservation, loss_term


def evaluate_mask(
    model: Classifier,
    images: np.ndarray,
    mask: np.ndarray,
    beta: np.ndarray,
    seed: int = 0,
    draws: int = 32,
    layer: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(preservation, loss term) of any masks (N, H, W) on the fixed noise draws that
    ``NoiseMask(seed=seed)`` reports its final objective on, so that masks from elsewhere
    (e.g. converged reference runs) are scored on exactly the same objective."""
    feature: Feature = lambda pix: model.forward(pix, layer)
    x_t = tf.constant(images.astype(np.float32))
    return _fixed_draw_terms(
        feature, x_t, feature(x_t), np.asarray(mask, np.float32), np.asarray(beta, np.float32), NoiseSource(images, seed), draws
    )


_STEP, _BETA, _EVAL = 0, 1, 2  # independent noise streams

_FEATURE_FNS: weakref.WeakKeyDictionary[Classifier, dict[str | None, Feature]] = weakref.WeakKeyDictionary()


def _feature_fn(model: Classifier, layer: str | None) -> Feature:
    """The compiled F_l of ``model``, built once per (model, layer)."""
    per_model = _FEATURE_FNS.setdefault(model, {})
    if layer not in per_model:
        owner = weakref.ref(model)  # a strong reference would keep the cache entry alive forever

        def forward(pix: tf.Tensor) -> tf.Tensor:
            live = owner()
            if live is None:  # the entry goes with the model, so this is never called then
                raise ReferenceError("the model of this compiled feature function no longer exists")
            return live.forward(pix, layer)

        per_model[layer] = tf.function(forward)
    return per_model[layer]


class NoiseSource:
    """Uniform [0, 255] noise images, one stateless stream per image keyed by its content."""

    def __init__(self, images: np.ndarray, seed: int):
        self.shape = images.shape[1:]
        self.keys = [zlib.crc32(img.tobytes()) for img in images]
        self.seed = seed

    def draw(self, stream: int, index: int | tf.Tensor) -> tf.Tensor:
        index = tf.cast(index, tf.int64)
        return tf.stack(
            [
                tf.random.stateless_uniform(
                    self.shape,
                    seed=tf.stack([tf.constant(key, tf.int64), (self.seed * 4 + stream) * (1 << 32) + index]),
                    minval=0.0,
                    maxval=255.0,
                )
                for key in self.keys
            ]
        )
