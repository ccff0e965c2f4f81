"""Saliency methods behind one interface: ``explain(name, model, images, targets, **params)``.

Importing this package loads no method and no TensorFlow: the registry imports each
method's module when it is first asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from models.interface import Classifier

from .base import Attribution, Explanation, ModelCosts, Param, SaliencyMethod
from .registry import ALIASES, ENTRY_POINT_GROUP, available, build_method, get_method, method_name


def explain(name: str, model: Classifier, images: np.ndarray, targets: npt.ArrayLike | None = None, **params: Any) -> Explanation:
    """Run method ``name`` on uint8 ``images`` (N, H, W, 3) at the model's input size.

    ``targets`` default to each image's top-1 class. Returns an :class:`Explanation` with
    ``.relevance`` (float32, N x H x W), ``.attributions``, ``.params``, ``.diagnostics``
    and ``.series``.
    """
    return build_method(name, params).explain(model, images, targets)


__all__ = [
    "ALIASES",
    "ENTRY_POINT_GROUP",
    "Attribution",
    "Explanation",
    "ModelCosts",
    "Param",
    "SaliencyMethod",
    "available",
    "build_method",
    "explain",
    "get_method",
    "method_name",
]
