"""Inception V3 (the thesis's model): keras.applications with ImageNet weights.

Weights are looked up, in order: the ``weights`` argument / ``--weights`` flag, the
``BENCH_INCEPTION_V3_WEIGHTS`` environment variable, the Keras cache
(``~/.keras/models``), and finally a download through Keras. Nothing works offline
without one of the first three. The lookup is shared with VGG16 and ResNet50
(:mod:`.keras_applications`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .keras_applications import APPLICATIONS
from .keras_classifier import ModelWrapper

APPLICATION = APPLICATIONS["inception_v3"]
ENV_VAR = APPLICATION.env_var
KERAS_FILE = APPLICATION.keras_file
KERAS_URL = APPLICATION.keras_url
KERAS_MD5 = APPLICATION.md5


def keras_cache_path() -> Path:
    return APPLICATION.keras_cache_path()


def find_local_weights(weights: str | os.PathLike[str] | None = None) -> Path | None:
    """The first local weights file that exists, or None. A given path must exist."""
    return APPLICATION.find_local_weights(weights)


def build_inception_v3(weights: str | os.PathLike[str] | None = None, download: bool = True) -> ModelWrapper:
    return APPLICATION.build(weights, download)
