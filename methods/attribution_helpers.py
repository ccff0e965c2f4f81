"""Helpers the attribution methods share, apart from the gradient rules
(:mod:`methods.modified_gradient`): moving images into the model's input space, the
reference input, Integrated Gradients' path integral (used by the native method and by
the iNNvestigate worker alike), and the completeness check of DeepLIFT and IG.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from common.progress import progress
from models.interface import Classifier
from models.keras_api import TF_VERSION

IG_RULES = ("right", "left", "midpoint", "trapezoid")
"""Riemann rules for Integrated Gradients; DeepExplain (the thesis) used "right"."""

BACKENDS = ("native", "innvestigate")
INNVESTIGATE_EXTRA = (
    "the iNNvestigate backend needs iNNvestigate 2.1.2, which runs only with TensorFlow < 2.15, numpy < 2 and "
    "Python 3.11: install the suite with its extra, pip install 'noise-mask-bench[innvestigate]' (or tox -e "
    "py311-innvestigate); backend='native' (the default) needs nothing more"
)


def check_backend(backend: str) -> str:
    """A backend that can run here: 'native', or 'innvestigate' where it is installed."""
    if backend == "innvestigate":
        if importlib.util.find_spec("innvestigate") is None or TF_VERSION >= (2, 15):
            raise ValueError(INNVESTIGATE_EXTRA)
    return backend


def to_input_space(model: Classifier, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """uint8/float pixel images -> the model's input space (float32)."""
    out = [
        model.preprocess(tf.constant(images[i : i + batch_size], tf.float32)).numpy() for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, *images.shape[1:]), np.float32)


Baseline = str | float | npt.ArrayLike
"""A ``baseline`` parameter: ``"zeros"``, a number or an array in the model's input space."""


def check_baseline(baseline: Baseline) -> Baseline:
    """A valid ``baseline`` parameter: ``"zeros"``, a number, or an array."""
    if isinstance(baseline, str) and baseline != "zeros":
        raise ValueError(f"baseline must be 'zeros', a number or an array in the model's input space; got {baseline!r}")
    return baseline


def resolve_baseline(baseline: Baseline, shape: tuple[int, ...]) -> np.ndarray:
    """The reference input in the model's input space: ``"zeros"`` (the spec), a number
    (a constant image) or an array broadcastable to ``shape`` (H, W, C)."""
    if isinstance(check_baseline(baseline), str):
        return np.zeros(shape, np.float32)
    arr = np.asarray(baseline, np.float32)
    try:
        return np.broadcast_to(arr, shape).astype(np.float32)
    except ValueError:
        raise ValueError(f"baseline of shape {arr.shape} does not broadcast to the input shape {shape}") from None


def ig_alphas(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Points in [0, 1] and weights (summing to 1) of the Riemann rule for IG."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    k = np.arange(steps, dtype=np.float64)
    if rule == "right":
        return (k + 1) / steps, np.full(steps, 1.0 / steps)
    if rule == "left":
        return k / steps, np.full(steps, 1.0 / steps)
    if rule == "midpoint":
        return (k + 0.5) / steps, np.full(steps, 1.0 / steps)
    if rule == "trapezoid":
        alphas = np.arange(steps + 1, dtype=np.float64) / steps
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
        return alphas, weights
    raise ValueError(f"rule must be one of {IG_RULES}; got {rule!r}")


def integrate_path(
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    targets: np.ndarray,
    x0: np.ndarray,
    alphas: np.ndarray,
    weights: np.ndarray,
    batch_size: int = 16,
) -> np.ndarray:
    """Integrated Gradients ``(x - x0) * sum_k w_k gradient(x0 + a_k (x - x0))`` (float64 sum).

    ``gradient(points, targets)`` returns the target logits' gradients w.r.t. ``points``;
    the interpolated inputs of all images and points are batched together, ``batch_size``
    at a time. ``x`` and ``x0`` are in the model's input space; returns float32 like ``x``.
    """
    x = np.asarray(x, np.float32)
    x0 = np.broadcast_to(np.asarray(x0, np.float32), x.shape)
    targets = np.asarray(targets).reshape(-1)
    total = np.zeros(x.shape, np.float64)
    pairs = [(i, k) for i in range(len(x)) for k in range(len(alphas))]
    bar = progress(total=len(pairs), desc=f"integrated gradients ({len(x)} images)", unit="gradients")
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        idx = np.array([i for i, _ in chunk])
        a = np.array([alphas[k] for _, k in chunk], np.float32)[:, None, None, None]
        points = x0[idx] + a * (x[idx] - x0[idx])
        grads = np.asarray(gradient(points, targets[idx]))
        w = np.array([weights[k] for _, k in chunk])[:, None, None, None]
        np.add.at(total, idx, grads.astype(np.float64) * w)
        bar.update(len(chunk))
    bar.close()
    attributions: np.ndarray = (total * (x.astype(np.float64) - x0)).astype(np.float32)
    return attributions


def completeness(attributions: np.ndarray, f_x: np.ndarray, f_x0: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image sum of attributions against f(x) - f(x0) (the DeepLIFT/IG promise)."""
    sums = attributions.reshape(len(attributions), -1).astype(np.float64).sum(axis=1)
    delta = np.asarray(f_x, np.float64) - np.asarray(f_x0, np.float64)
    rel = np.abs(sums - delta) / np.maximum(np.abs(delta), 1e-12)
    return {
        "sum_attributions": sums,
        "target_logit": np.asarray(f_x, np.float64),
        "baseline_logit": np.asarray(f_x0, np.float64),
        "completeness_rel_error": rel,
    }


def target_logits(model: Any, x: np.ndarray, targets: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Target-class logits of input-space ``x`` under a Keras model (from preprocessed input)."""
    out: list[np.ndarray] = []
    for i in range(0, len(x), batch_size):
        logits = model(tf.constant(x[i : i + batch_size]), training=False).numpy()
        out.append(logits[np.arange(len(logits)), np.asarray(targets)[i : i + batch_size]])
    return np.concatenate(out)
