"""Inception V3 (the thesis's model): keras.applications with ImageNet weights.

Weights are looked up, in order: the ``weights`` argument / ``--weights`` flag, the
``BENCH_INCEPTION_V3_WEIGHTS`` environment variable, the Keras cache
(``~/.keras/models``), and finally a download through Keras. Nothing works offline
without one of the first three.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.files import file_sha256

from . import WeightsUnavailable
from .keras_api import keras
from .keras_classifier import ModelWrapper, scale_preprocess

ENV_VAR = "BENCH_INCEPTION_V3_WEIGHTS"
KERAS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + KERAS_FILE
KERAS_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"


def keras_cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / KERAS_FILE


def find_local_weights(weights: str | os.PathLike | None = None) -> Path | None:
    """The first local weights file that exists, or None. A given path must exist."""
    for candidate, origin in ((weights, "the weights argument"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise WeightsUnavailable(f"Inception V3 weights file given by {origin} does not exist: {path}")
            return path
    cached = keras_cache_path()
    return cached if cached.is_file() else None


def _download() -> Path:
    try:
        return Path(keras.utils.get_file(KERAS_FILE, KERAS_URL, cache_subdir="models", file_hash=KERAS_MD5))
    except Exception as err:  # network errors come in many types
        raise WeightsUnavailable(
            "Inception V3 ImageNet weights are not available on this machine and could not be "
            f"downloaded ({type(err).__name__}: {err}).\n"
            "Provide them in one of two ways:\n"
            f"  1. pass a local file: --weights PATH (Python: get_model('inception_v3', weights=PATH)), or\n"
            f"  2. set the environment variable {ENV_VAR}=PATH.\n"
            f"The file is Keras's {KERAS_FILE} ({KERAS_URL}); copying it to {keras_cache_path()} also works."
        ) from None


def build_inception_v3(weights: str | os.PathLike | None = None, download: bool = True) -> ModelWrapper:
    path = find_local_weights(weights)
    if path is None:
        if not download:
            raise WeightsUnavailable("Inception V3 weights not found locally")
        path = _download()
    model = keras.applications.InceptionV3(weights=None, classifier_activation=None)
    try:
        model.load_weights(str(path))
    except Exception as err:
        raise WeightsUnavailable(f"could not load Inception V3 weights from {path}: {err}") from None
    return ModelWrapper(
        name="inception_v3",
        keras_model=model,
        preprocess=scale_preprocess(1 / 127.5, -1.0),
        preprocessing="x / 127.5 - 1  ([0, 255] -> [-1, 1])",
        weights=str(path),
        weights_sha256=file_sha256(path),
    )
