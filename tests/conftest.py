"""Shared fixtures. Data from ../shared is read in place, never copied into the repo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.datasets import shared_sample_dir

SHARED_SAMPLE = shared_sample_dir(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="session")
def shared_sample() -> Path:
    """The 100-image NIPS-2017 sample in ../shared (skips when absent)."""
    if not (SHARED_SAMPLE / "images.csv").is_file():
        pytest.skip(f"shared NIPS-2017 sample not found at {SHARED_SAMPLE} (set BENCH_SHARED_DIR to the folder holding data/)")
    return SHARED_SAMPLE


SQUARE = (slice(8, 24), slice(12, 28))
"""Rows and columns of the only pixels the ``square_model`` looks at."""


@pytest.fixture(scope="session")
def square_model():
    """A 32x32 classifier whose logits depend only on the 16x16 square ``SQUARE``."""
    from models import from_keras, scale_preprocess
    from models.keras_api import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Cropping2D(((8, 8), (12, 4)))(inp)
    x = keras.layers.Conv2D(8, 3)(x)
    x = keras.layers.ReLU()(x)
    out = keras.layers.Dense(10)(keras.layers.Flatten()(x))
    return from_keras(keras.Model(inp, out), scale_preprocess(1 / 127.5, -1.0), name="square")


@pytest.fixture(scope="session")
def square_mask() -> np.ndarray:
    mask = np.zeros((32, 32), bool)
    mask[SQUARE] = True
    return mask


@pytest.fixture(scope="session")
def square_images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
