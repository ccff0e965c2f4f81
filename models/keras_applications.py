"""Keras applications with ImageNet weights (Inception V3, VGG16, ResNet50): one weights
lookup and one builder for all of them.

Weights are looked up, in order: the ``weights`` argument / ``--weights`` flag, the model's
environment variable (``BENCH_INCEPTION_V3_WEIGHTS``, ``BENCH_VGG16_WEIGHTS``,
``BENCH_RESNET50_WEIGHTS``), the Keras cache (``$KERAS_HOME/models``, default
``~/.keras/models``), and finally a download through Keras. Nothing works offline without one
of the first three; then the error says how to provide the file.

Every model is built with ``classifier_activation=None``, so its last Dense layer
(``predictions``) outputs the pre-softmax logits the suite needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.files import file_sha256

from . import WeightsUnavailable, given_weights_file
from .keras_api import keras
from .keras_classifier import ModelWrapper, Preprocess, caffe_preprocess, scale_preprocess

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class KerasApplication:
    name: str
    """The suite's model name (``inception_v3``)."""
    label: str
    """How messages name it (``Inception V3``)."""
    constructor: str
    """The ``keras.applications`` function (``InceptionV3``)."""
    env_var: str
    keras_file: str
    """The weights file's name in the Keras cache (Keras's own name, with the classifier top)."""
    keras_folder: str
    """The folder of ``keras_file`` under :data:`KERAS_BASE_URL`."""
    md5: str
    """The hash Keras checks the download against."""
    preprocess: Callable[[], Preprocess]
    """Makes the model's pixel preprocessing."""
    preprocessing: str
    """How reports describe ``preprocess``."""

    @property
    def keras_url(self) -> str:
        return f"{KERAS_BASE_URL}{self.keras_folder}/{self.keras_file}"

    def keras_cache_path(self) -> Path:
        return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / self.keras_file

    def find_local_weights(self, weights: str | os.PathLike[str] | None = None) -> Path | None:
        """The first local weights file that exists, or None. A given path must exist."""
        given = given_weights_file(weights, self.env_var, self.label)
        if given is not None:
            return given
        cached = self.keras_cache_path()
        return cached if cached.is_file() else None

    def download(self) -> Path:
        try:
            return Path(keras.utils.get_file(self.keras_file, self.keras_url, cache_subdir="models", file_hash=self.md5))
        except Exception as err:  # network errors come in many types
            raise WeightsUnavailable(
                f"{self.label} ImageNet weights are not available on this machine and could not be "
                f"downloaded ({type(err).__name__}: {err}).\n"
                "Provide them in one of two ways:\n"
                f"  1. pass a local file: --weights PATH (Python: get_model('{self.name}', weights=PATH)), or\n"
                f"  2. set the environment variable {self.env_var}=PATH.\n"
                f"The file is Keras's {self.keras_file} ({self.keras_url}); copying it to {self.keras_cache_path()} "
                "also works."
            ) from None

    def architecture(self) -> keras.Model:
        """The network without weights (random initialisation), ending in pre-softmax logits."""
        return getattr(keras.applications, self.constructor)(weights=None, classifier_activation=None)

    def build(self, weights: str | os.PathLike[str] | None = None, download: bool = True) -> ModelWrapper:
        path = self.find_local_weights(weights)
        if path is None:
            if not download:
                raise WeightsUnavailable(f"{self.label} weights not found locally")
            path = self.download()
        model = self.architecture()
        try:
            model.load_weights(str(path))
        except Exception as err:
            raise WeightsUnavailable(f"could not load {self.label} weights from {path}: {err}") from None
        return ModelWrapper(
            name=self.name,
            keras_model=model,
            preprocess=self.preprocess(),
            preprocessing=self.preprocessing,
            weights=str(path),
            weights_sha256=file_sha256(path),
        )


APPLICATIONS = {
    app.name: app
    for app in [
        KerasApplication(
            "inception_v3",
            "Inception V3",
            "InceptionV3",
            "BENCH_INCEPTION_V3_WEIGHTS",
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            "inception_v3",
            "9a0d58056eeedaa3f26cb7ebd46da564",
            lambda: scale_preprocess(1 / 127.5, -1.0),
            "x / 127.5 - 1  ([0, 255] -> [-1, 1])",
        ),
        KerasApplication(
            "vgg16",
            "VGG16",
            "VGG16",
            "BENCH_VGG16_WEIGHTS",
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            "vgg16",
            "64373286793e3c8b2b4e3219cbf3544b",
            caffe_preprocess,
            "caffe: RGB -> BGR, minus the ImageNet mean (103.939, 116.779, 123.68)",
        ),
        KerasApplication(
            "resnet50",
            "ResNet50",
            "ResNet50",
            "BENCH_RESNET50_WEIGHTS",
            "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
            "resnet",
            "2cb95161c43110f7111970584f804107",
            caffe_preprocess,
            "caffe: RGB -> BGR, minus the ImageNet mean (103.939, 116.779, 123.68)",
        ),
    ]
}


def build_vgg16(weights: str | os.PathLike[str] | None = None, download: bool = True) -> ModelWrapper:
    return APPLICATIONS["vgg16"].build(weights, download)


def locate_vgg16(weights: str | os.PathLike[str] | None = None) -> Path | None:
    return APPLICATIONS["vgg16"].find_local_weights(weights)


def build_resnet50(weights: str | os.PathLike[str] | None = None, download: bool = True) -> ModelWrapper:
    return APPLICATIONS["resnet50"].build(weights, download)


def locate_resnet50(weights: str | os.PathLike[str] | None = None) -> Path | None:
    return APPLICATIONS["resnet50"].find_local_weights(weights)
