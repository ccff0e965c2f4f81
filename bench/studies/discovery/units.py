"""The discovery's units of work (``bench discover``), computed by any executor.

A :class:`DiscoveryUnit` is one (model, layer) record the discovery folder lacks: Noise Mask
with F_l = that layer's output on every image, the pixels carried with it. A
:class:`DiscoveryWorker` loads the spec's models once and turns units into
:class:`DiscoveryResult` objects; the driver alone writes them. It follows the executors'
protocol (:mod:`bench.run.units`), so ``--executor ray`` spreads the records over a cluster and
gives the same masks and diagnostics as a local discovery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from methods import build_method
from models import get_model


@dataclass(frozen=True)
class DiscoverySpec:
    models: dict[str, str | None]
    """model name -> its local weights file (None: the model's default weights)."""
    noise_mask: dict
    """Noise Mask's parameters but the layer."""

    def make_worker(self) -> DiscoveryWorker:
        return DiscoveryWorker(self)

    def schedule(self, units: list[DiscoveryUnit]) -> list[DiscoveryUnit]:
        """The plan's order: a record's cost (a Noise Mask run to convergence) has no estimate
        that would reorder the units usefully."""
        return units


@dataclass
class DiscoveryUnit:
    model: str
    position: int
    layer: str
    layer_param: str | None
    """Noise Mask's ``layer`` (None for the logits)."""
    image_ids: list[str]
    pixels: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.model} {self.position} {self.layer} ({len(self.image_ids)} images)"


@dataclass
class DiscoveryResult:
    relevance: np.ndarray
    """(N, H, W) float32 masks."""
    targets: np.ndarray
    diagnostics: dict[str, np.ndarray]
    seconds: float


class DiscoveryWorker:
    """Computes discovery units with the spec's models loaded once (``loaded``: the driver's own)."""

    def __init__(self, spec: DiscoverySpec, loaded: dict | None = None):
        self.spec = spec
        self.models = loaded if loaded is not None else {n: get_model(n, weights=w) for n, w in spec.models.items()}

    def weights(self) -> dict[str, tuple[str | None, str]]:
        return {name: (model.weights_sha256, model.weights) for name, model in self.models.items()}

    def run(self, unit: DiscoveryUnit) -> DiscoveryResult:
        method = build_method("noise_mask", {**self.spec.noise_mask, "layer": unit.layer_param})
        t0 = time.perf_counter()
        explanation = method.explain(self.models[unit.model], unit.pixels)
        seconds = time.perf_counter() - t0
        diagnostics = {k: np.asarray(v) for k, v in explanation.diagnostics.items()}
        return DiscoveryResult(explanation.relevance.astype(np.float32), np.asarray(explanation.targets), diagnostics, seconds)
