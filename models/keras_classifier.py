"""The Keras implementation of :class:`models.interface.Classifier`.

A ``ModelWrapper`` holds a Keras model that maps *preprocessed* input to pre-softmax
logits, plus the preprocessing from pixel space ([0, 255] floats, channels last).
Methods and metrics go through :meth:`ModelWrapper.forward` (differentiable,
pixel space in) or :meth:`ModelWrapper.logits` (numpy in, numpy out, batched).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import tensorflow as tf

from common.errors import InputError

from .interface import softmax
from .keras_api import LEGACY_PACKAGE, keras

Preprocess = Callable[[tf.Tensor], tf.Tensor]


@dataclass(eq=False)
class ModelWrapper:
    name: str
    keras_model: keras.Model
    """Maps preprocessed input (N, H, W, 3) to pre-softmax logits (N, classes)."""
    preprocess: Preprocess
    """Differentiable map from float pixels in [0, 255] to the model's input space."""
    preprocessing: str
    """Human-readable description of ``preprocess``, e.g. ``x / 127.5 - 1``."""
    weights: str = "unknown"
    """Where the weights came from (a path, a package, or 'random init')."""
    weights_sha256: str | None = None
    _layer_models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def input_size(self) -> tuple[int, int]:
        shape = self.keras_model.input_shape
        return int(shape[1]), int(shape[2])

    @property
    def num_classes(self) -> int:
        return int(self.keras_model.output_shape[-1])

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.keras_model.layers]

    def input_space_zeros(self) -> np.ndarray:
        """The pixel image whose preprocessed value is all zeros (the baseline of DeepLIFT, Integrated Gradients and occlusion; docs/reference/methods.md)."""
        h, w = self.input_size
        # preprocessing is affine per pixel, out = A @ rgb + b, A possibly mixing channels (the
        # "caffe" RGB -> BGR swap): probe black and each pure channel, then solve A @ rgb = -b
        probe = np.zeros((4, h, w, 3), np.float32)
        for c in range(3):
            probe[c + 1, ..., c] = 255.0
        out = self.preprocess(tf.constant(probe)).numpy().astype(np.float64)  # (4, h, w, 3)
        b = out[0]
        a = np.stack([(out[c + 1] - b) / 255.0 for c in range(3)], axis=-1)  # (h, w, 3 out, 3 in)
        zeros: np.ndarray = np.linalg.solve(a, -b[..., None])[..., 0].astype(np.float32)
        return zeros

    def layer_model(self, layer: str | None = None) -> keras.Model:
        """Keras model from the preprocessed input to ``layer``'s output (None: logits)."""
        if layer is None or layer == "logits":
            return self.keras_model
        if layer not in self._layer_models:
            try:
                out = self.keras_model.get_layer(layer).output
            except ValueError:
                raise ValueError(f"model {self.name!r} has no layer {layer!r}; see ModelWrapper.layer_names") from None
            self._layer_models[layer] = keras.Model(self.keras_model.input, out, name=f"{self.name}_{layer}")
        return self._layer_models[layer]

    def forward(self, pixels: tf.Tensor, layer: str | None = None, training: bool = False) -> tf.Tensor:
        """Differentiable output of ``layer`` (default: logits) for float pixels in [0, 255]."""
        return self.layer_model(layer)(self.preprocess(tf.cast(pixels, tf.float32)), training=training)

    def logits(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Pre-softmax logits (N, classes) for uint8 or float pixel images, in batches."""
        images = self.check_images(images)
        fn = _compiled_forward(self)
        out = [fn(tf.constant(images[i : i + batch_size], tf.float32)).numpy() for i in range(0, len(images), batch_size)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.num_classes), np.float32)

    def probabilities(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return softmax(self.logits(images, batch_size))

    def top1(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        classes: np.ndarray = self.logits(images, batch_size).argmax(axis=1)
        return classes

    def check_images(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        h, w = self.input_size
        if images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(
                f"model {self.name!r} takes images of shape (N, {h}, {w}, 3); got {images.shape}. "
                "Load the image set at the model's input size (bench.datasets.load_image_set(size=...))."
            )
        return images


@lru_cache(maxsize=16)
def _compiled_forward(model: ModelWrapper) -> Callable[[tf.Tensor], tf.Tensor]:
    compiled: Callable[[tf.Tensor], tf.Tensor] = tf.function(lambda x: model.forward(x), reduce_retracing=True)
    return compiled


def scale_preprocess(scale: float, offset: float) -> Preprocess:
    """Affine pixel preprocessing ``x * scale + offset`` (same for every channel)."""

    def preprocess(x: tf.Tensor) -> tf.Tensor:
        return x * scale + offset

    return preprocess


CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
"""The ImageNet mean pixel in B, G, R order that Keras's ``preprocess_input(mode="caffe")`` subtracts."""


def caffe_preprocess() -> Preprocess:
    """Keras's "caffe" preprocessing (VGG16, ResNet50): RGB -> BGR, then minus the ImageNet
    mean per channel, no scaling; equals ``keras.applications.vgg16.preprocess_input``."""
    mean = tf.constant(CAFFE_MEAN_BGR, tf.float32)

    def preprocess(x: tf.Tensor) -> tf.Tensor:
        return x[..., ::-1] - mean

    return preprocess


def from_keras(
    keras_model: keras.Model,
    preprocess: Preprocess,
    name: str = "custom",
    preprocessing: str = "custom",
    weights: str = "user-supplied",
    logits_layer: str | None = None,
) -> ModelWrapper:
    """Wrap any Keras classifier so the suite can benchmark it.

    ``keras_model`` must take preprocessed images (N, H, W, 3); ``preprocess`` maps float
    pixels in [0, 255] to that space. If the model ends in a softmax, give
    ``logits_layer``: the name of the layer whose output is the pre-softmax logits.
    The model must be built with the stack's Keras 2 API (:data:`models.keras_api.keras`:
    ``tf.keras`` on TensorFlow < 2.16, the ``tf_keras`` package from 2.16 on).
    """
    if not isinstance(keras_model, keras.Model):
        raise InputError(not_a_keras2_model(keras_model))
    if logits_layer is not None:
        keras_model = keras.Model(keras_model.input, keras_model.get_layer(logits_layer).output, name=name)
    return ModelWrapper(name=name, keras_model=keras_model, preprocess=preprocess, preprocessing=preprocessing, weights=weights)


def not_a_keras2_model(model: object) -> str:
    """What to do with a model that is not of the stack's Keras 2 API."""
    kind = f"{type(model).__module__}.{type(model).__name__}"
    if type(model).__module__.startswith("keras") and LEGACY_PACKAGE:
        return (
            f"from_keras got a Keras 3 model ({kind}); on TensorFlow >= 2.16 tf.keras is Keras 3, but the suite "
            "(its gradient rules clone Keras 2 layers) needs the Keras 2 API: build the model with "
            "`import tf_keras as keras` (from models.keras_api import keras), or set TF_USE_LEGACY_KERAS=1 before "
            "TensorFlow is first imported, and pass that model"
        )
    api = "tf_keras" if LEGACY_PACKAGE else "tf.keras"
    return f"from_keras needs a Keras model of the stack's Keras 2 API ({api}.Model); got {kind}"
