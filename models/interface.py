"""The model interface that methods and metrics depend on, and nothing more.

A :class:`Classifier` maps float pixel images in [0, 255] (N, H, W, 3) to pre-softmax
class scores. Methods and metrics are written against this protocol; the concrete models
(:class:`models.keras_classifier.ModelWrapper` and the zoo in :mod:`models`) sit underneath
it. This module imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Classifier(Protocol):
    name: str
    keras_model: Any
    """The Keras model from preprocessed input to logits (gradient rules clone it)."""

    @property
    def input_size(self) -> tuple[int, int]: ...

    @property
    def num_classes(self) -> int: ...

    def preprocess(self, pixels: Any) -> Any:
        """Differentiable map from float pixels in [0, 255] to the model's input space."""

    def forward(self, pixels: Any, layer: str | None = None) -> Any:
        """Differentiable output of ``layer`` (default: the logits) for float pixels (a tensor)."""

    def logits(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Pre-softmax logits (N, classes) as numpy, in batches."""

    def top1(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray: ...

    def check_images(self, images: np.ndarray) -> np.ndarray:
        """``images`` as an array of shape (N, H, W, 3) at the input size, or a ValueError."""


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    probabilities: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return probabilities
