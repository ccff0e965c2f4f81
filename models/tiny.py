"""A tiny convolutional classifier built in code: the unit tests' model (no download)."""

from __future__ import annotations

from .keras_api import keras
from .keras_classifier import ModelWrapper, scale_preprocess

TINY_SIZE = 32
TINY_CLASSES = 10


def build_tiny(seed: int = 0, size: int = TINY_SIZE, classes: int = TINY_CLASSES) -> ModelWrapper:
    """Conv-BN-ReLU x2 + dense head, weights drawn from ``seed`` (deterministic)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(classes, name="logits")(x)
    model = keras.Model(inp, out, name="tiny")
    return ModelWrapper(
        name="tiny",
        keras_model=model,
        preprocess=scale_preprocess(1 / 127.5, -1.0),
        preprocessing="x / 127.5 - 1",
        weights=f"random init, seed {seed}",
    )
