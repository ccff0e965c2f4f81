"""Occlusion (the thesis's "perturbation" baseline): slide a square patch over the image,
record the drop of the target logit, and average the drops over the patches covering each
pixel. The patch value is 0 in the model's input space (mid-grey for [-1, 1] models).

Default window: 15x15 pixels every 4 pixels, the setting of DeepExplain's Inception V3
example (``examples/inception_tensorflow.ipynb``: ``window_shape=(15,15,3), step=4``); the
thesis took its baselines from DeepExplain and calls its occlusion maps "blurred", which
overlapping windows averaged per pixel give (a stride equal to the patch gives block maps
of a few hundred bytes instead). Measured costs of other settings:
``benchmarks/bench_occlusion.py``.

Relevance is signed: a patch whose removal raises the target logit has a negative drop."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import tensorflow as tf

from common.progress import progress
from models.interface import Classifier

from .base import Attribution, ModelCosts, Param, SaliencyMethod, batch_size_param


def patch_starts(length: int, patch: int, stride: int) -> list[int]:
    """Start offsets covering every pixel: every ``stride``, plus a last patch flush with the edge."""
    if not 0 < patch <= length or stride <= 0:
        raise ValueError(f"patch_size must be in 1..{length} and stride >= 1; got {patch}, {stride}")
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


MAX_SIDE = 4096
"""Patch side and stride at most, in pixels: larger than any input the zoo takes."""


class Occlusion(SaliencyMethod):
    name = "occlusion"
    signed = True
    attribution_space = "pixel"
    parameters: ClassVar[dict[str, Param]] = {
        "patch_size": Param(15, int, "side of the square patch, pixels", low=1, high=MAX_SIDE),
        "stride": Param(4, int, "step between patches, pixels", low=1, high=MAX_SIDE),
        "patch_value": Param(0.0, float, "patch value in the model's input space"),
        "batch_size": batch_size_param(64),
    }

    def positions(self, h: int, w: int) -> list[tuple[int, int]]:
        size, stride = self.params["patch_size"], self.params["stride"]
        return [(r, c) for r in patch_starts(h, size, stride) for c in patch_starts(w, size, stride)]

    def estimate_seconds(self, costs: ModelCosts) -> float:
        return len(self.positions(*costs.input_size)) * costs.forward

    def attribute(self, model: Classifier, images: np.ndarray, targets: np.ndarray) -> Attribution:
        p = self.params
        size, batch_size = p["patch_size"], p["batch_size"]
        n, h, w, _ = images.shape
        positions = self.positions(h, w)
        offsets = np.array(positions)
        target_logit = _target_logit_fn(model)
        relevance = np.zeros((n, h, w), np.float32)
        rows = np.arange(h)[None, :, None]
        cols = np.arange(w)[None, None, :]
        bar = progress(total=n * len(positions), desc=f"occlusion ({n} images)", unit="patches")
        for i in range(n):
            x = model.preprocess(tf.constant(images[i : i + 1], tf.float32))  # (1, h, w, 3) input space
            t = tf.constant([targets[i]], tf.int64)
            base = float(target_logit(x, t)[0])
            batches: list[np.ndarray] = []
            for start in range(0, len(offsets), batch_size):
                r0 = offsets[start : start + batch_size, 0][:, None, None]
                c0 = offsets[start : start + batch_size, 1][:, None, None]
                inside = (rows >= r0) & (rows < r0 + size) & (cols >= c0) & (cols < c0 + size)  # (b, h, w)
                occluded = tf.where(tf.constant(inside[..., None]), tf.cast(p["patch_value"], tf.float32), x)
                tb = tf.fill([len(inside)], t[0])
                batches.append(base - target_logit(occluded, tb).numpy())
                bar.update(len(inside))
            drops = np.concatenate(batches)
            total = np.zeros((h, w), np.float64)
            count = np.zeros((h, w), np.float64)
            for (r, c), drop in zip(positions, drops):
                total[r : r + size, c : c + size] += drop
                count[r : r + size, c : c + size] += 1
            relevance[i] = total / count
        bar.close()
        return Attribution(relevance, relevance, info={"patches_per_image": len(positions)})


TargetLogit = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
"""(inputs, targets) -> the target classes' logits."""

_TARGET_LOGIT_FNS: weakref.WeakKeyDictionary[Classifier, TargetLogit] = weakref.WeakKeyDictionary()


def _target_logit_fn(model: Classifier) -> TargetLogit:
    """The compiled target-logit function of ``model``, built once per model."""
    if model not in _TARGET_LOGIT_FNS:
        keras_model = model.keras_model

        def target_logit(x_input: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
            logits = keras_model(x_input, training=False)
            return tf.gather(logits, targets, axis=1, batch_dims=1)

        _TARGET_LOGIT_FNS[model] = tf.function(target_logit, reduce_retracing=True)
    return _TARGET_LOGIT_FNS[model]
