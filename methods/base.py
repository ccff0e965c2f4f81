"""What every saliency method is: a class with ``name``, default ``params`` and ``attribute``.

A method receives the model wrapper, uint8 images at the model's input size and target
classes, and returns raw attributions plus the spec's per-pixel relevance (N, H, W).
Subclasses implement :meth:`SaliencyMethod.attribute`; :meth:`SaliencyMethod.explain`
validates inputs, resolves parameters and times the call.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from models import ModelWrapper


@dataclass
class Explanation:
    method: str
    relevance: np.ndarray
    """float32 (N, H, W): one relevance value per pixel, as the spec's section 3 defines."""
    attributions: np.ndarray
    """The method's raw output (e.g. (N, H, W, 3) for gradient methods, the mask for noise_mask)."""
    params: dict
    targets: np.ndarray
    seconds: float = 0.0
    info: dict = field(default_factory=dict)
    """Per-method extras (per-image diagnostics, optimisation traces)."""


class SaliencyMethod:
    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    """Every tunable parameter with the spec's value; ``explain`` rejects unknown ones."""

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"method {self.name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(self.defaults)}"
            )
        self.params = {**self.defaults, **params}

    def attribute(self, model: ModelWrapper, images: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Return (attributions, relevance (N, H, W), info)."""
        raise NotImplementedError

    def explain(self, model: ModelWrapper, images: np.ndarray, targets=None) -> Explanation:
        images = model.check_images(images)
        if targets is None:
            targets = model.top1(images)
        targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        if len(targets) != len(images):
            raise ValueError(f"got {len(targets)} targets for {len(images)} images")
        if targets.min(initial=0) < 0 or targets.max(initial=0) >= model.num_classes:
            raise ValueError(f"targets must be class indices in [0, {model.num_classes}); got {targets}")
        start = time.perf_counter()
        attributions, relevance, info = self.attribute(model, images, targets)
        seconds = time.perf_counter() - start
        relevance = np.asarray(relevance, dtype=np.float32)
        if relevance.shape != images.shape[:3]:
            raise ValueError(f"method {self.name!r} returned relevance of shape {relevance.shape}; expected (N, H, W) = {images.shape[:3]}")
        return Explanation(self.name, relevance, np.asarray(attributions), dict(self.params), targets, seconds, info)
