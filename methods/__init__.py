"""Saliency methods behind one interface: ``explain(name, model, images, targets, **params)``."""
from __future__ import annotations

import numpy as np

from .base import Explanation, SaliencyMethod
from .registry import ENTRY_POINT_GROUP, available, get_method


def explain(name: str, model, images: np.ndarray, targets=None, **params) -> Explanation:
    """Run method ``name`` on uint8 ``images`` (N, H, W, 3) at the model's input size.

    ``targets`` default to each image's top-1 class. Returns an :class:`Explanation` with
    ``.relevance`` (float32, N x H x W), ``.attributions`` and ``.params``.
    """
    return get_method(name)(**params).explain(model, images, targets)


__all__ = ["ENTRY_POINT_GROUP", "Explanation", "SaliencyMethod", "available", "explain", "get_method"]
