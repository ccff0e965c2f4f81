"""The sanity check's units of work (``bench sanity``), computed by any executor.

A :class:`SanityUnit` is one pass the sanity folder lacks: one method's maps of every image at
one (mode, step), step 0 being the original model and step s the model randomised down to
group s (cascading) or in group s alone (independent). The pixels, the targets and, after step
0, the method's step-0 maps travel with it, so a worker needs no shared filesystem. A
:class:`SanityWorker` loads the spec's model and builds its methods once, keeps one randomised
copy of the model that it brings to each unit's step, and turns units into
:class:`StepResult` objects; the driver alone writes them. It follows the executors' protocol
(:mod:`bench.run.units`), so ``--executor ray`` spreads the passes over a cluster and gives the
same maps and similarities as a local sanity run.

:func:`run_randomisation` runs the test in this process on a loaded model and built methods.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from common.progress import progress
from methods import build_method
from metrics.similarity import similarities
from models import get_model

SANITY_DEFAULTS: dict[str, dict] = {
    # Noise Mask at the fast preset's learning rate (0.06) for 300 steps, not 3,200: one
    # pass per step and 11 steps must fit a run of minutes, not hours
    "noise_mask": {"preset": "fast", "max_iterations": 300, "window": 300},
    # occlusion's 15x15 window every 8 pixels instead of 4: a quarter of the forward passes
    "occlusion": {"stride": 8},
}
"""Cheaper defaults for the slow methods (each step explains every image again); ``--param``
overrides them. Keyed by the method's canonical name (``perturbation`` is ``occlusion``)."""


@dataclass
class StepResult:
    """One method's maps of every image at one step, compared with step 0."""

    method: str
    mode: str
    """'cascading' or 'independent' ('original' for step 0)."""
    step: int
    layer: str
    """The group randomised at this step ('original' for step 0)."""
    spearman: np.ndarray
    ssim: np.ndarray
    seconds: float
    relevance: np.ndarray | None
    """The maps (None for a result read back from its record)."""
    model_info: dict = field(default_factory=dict)
    """The randomised model: its top-1 agreement with the original and its logits' std."""


@dataclass(frozen=True)
class SanitySpec:
    """What a worker builds once: the model, the methods and the randomisation."""

    model: str
    weights: str | None
    methods: dict[str, dict]
    """method name (as given to ``--methods``) -> its parameters."""
    randomisation: dict
    """:class:`models.randomisation.ParameterRandomiser`'s ``granularity``, ``rule`` and ``seed``."""

    def make_worker(self) -> SanityWorker:
        return SanityWorker.from_spec(self)

    def schedule(self, units: list[SanityUnit]) -> list[SanityUnit]:
        """The plan's order (mode, step, method): a worker then moves its randomised copy
        forward one group at a time instead of randomising it again from the top."""
        return units


@dataclass
class SanityUnit:
    method: str
    mode: str
    """'cascading' or 'independent' ('original' for step 0)."""
    step: int
    layer: str
    """The group randomised at this step ('original' for step 0)."""
    image_ids: list[str]
    pixels: np.ndarray
    targets: np.ndarray
    """The original model's top-1 class of each image, explained at every step."""
    original: np.ndarray | None = None
    """The method's step-0 maps (N, H, W) float32, which a later step's maps are compared with."""

    @property
    def key(self) -> str:
        return f"{self.method} {self.mode} step {self.step} ({self.layer}, {len(self.image_ids)} images)"


class SanityWorker:
    """Computes sanity units with a loaded model, built methods (name -> anything with
    ``explain(model, images, targets)``) and a :class:`models.randomisation.ParameterRandomiser`
    of that model. One randomised copy serves every step, changed in place between units."""

    def __init__(self, model, methods: dict, randomiser):
        self.model, self.methods, self.randomiser = model, methods, randomiser
        self._copy = None
        self._steps: Iterator | None = None
        self._at: tuple[str, int] | None = None
        """The (mode, step) the copy holds."""
        self._info: dict = {}

    @classmethod
    def from_spec(cls, spec: SanitySpec) -> SanityWorker:
        from models.randomisation import ParameterRandomiser  # noqa: PLC0415 - imports TensorFlow

        model = get_model(spec.model, weights=spec.weights)
        methods = {name: build_method(name, params) for name, params in spec.methods.items()}
        return cls(model, methods, ParameterRandomiser(model, **spec.randomisation))

    def weights(self) -> dict[str, tuple[str | None, str]]:
        return {self.model.name: (self.model.weights_sha256, self.model.weights)}

    def run(self, unit: SanityUnit) -> StepResult:
        model = self.model if unit.step == 0 else self.randomised(unit.mode, unit.step)
        info = {} if unit.step == 0 else self._model_info(model, unit)
        t0 = time.perf_counter()
        relevance = np.asarray(self.methods[unit.method].explain(model, unit.pixels, unit.targets).relevance, np.float32)
        original = relevance if unit.step == 0 else unit.original
        if original is None:
            raise ValueError(f"the randomised unit {unit.key} carries no step-0 maps")
        s, q = similarities(original, relevance)
        return StepResult(unit.method, unit.mode, unit.step, unit.layer, s, q, time.perf_counter() - t0, relevance, info)

    def randomised(self, mode: str, step: int):
        """The randomised copy at (``mode``, ``step``): moved forward from the step it holds when
        it can, else given the original weights back and randomised again from step 1."""
        if self._at is None or self._at[0] != mode or self._at[1] > step:
            if self._copy is None:
                self._copy = self.randomiser.clone()
            else:
                self._copy.keras_model.set_weights(self.model.keras_model.get_weights())
            self._steps, self._at = self.randomiser.iterate(mode, self._copy), (mode, 0)
        steps = self._steps
        assert steps is not None  # set above whenever _at is
        while self._at[1] < step:
            self._at = (mode, next(steps)[0])
        return self._copy

    def _model_info(self, model, unit: SanityUnit) -> dict:
        """The randomised model's top-1 agreement with the targets and its logits' std (once per step)."""
        key = (unit.mode, unit.step, tuple(unit.image_ids))
        if key not in self._info:
            logits = model.logits(unit.pixels)
            info = {"top1_kept": float(np.mean(logits.argmax(axis=1) == unit.targets)), "logit_std": float(np.std(logits))}
            self._info = {key: info}
        return self._info[key]


def original_units(methods: list[str], image_ids: list[str], pixels: np.ndarray, targets: np.ndarray) -> list[SanityUnit]:
    """Step 0 of each of ``methods``: its maps of the original model."""
    return [SanityUnit(name, "original", 0, "original", image_ids, pixels, targets) for name in methods]


def randomised_units(
    originals: dict[str, np.ndarray],
    groups: list,
    modes: tuple[str, ...],
    image_ids: list[str],
    pixels: np.ndarray,
    targets: np.ndarray,
    skip: set | frozenset = frozenset(),
) -> list[SanityUnit]:
    """Per mode and step (``groups``, top first), each method of ``originals`` (name -> its
    step-0 maps) but the (mode, method, step) in ``skip``."""
    return [
        SanityUnit(name, mode, step, group.name, image_ids, pixels, targets, original)
        for mode in modes
        for step, group in enumerate(groups, start=1)
        for name, original in originals.items()
        if (mode, name, step) not in skip
    ]


def run_randomisation(
    model,
    pixels: np.ndarray,
    methods: dict,
    randomiser,
    modes: tuple[str, ...] = ("cascading",),
    targets: np.ndarray | None = None,
) -> Iterator[StepResult]:
    """Yield the step-0 result of every method, then per mode and step the result of every
    method, computed in this process.

    ``methods``: name -> anything with ``explain(model, images, targets)`` returning an object
    with ``.relevance`` (N, H, W) (a :class:`methods.SaliencyMethod`). Targets default to the
    original model's top-1 class, used at every step. The randomised models are made by
    ``randomiser`` (a :class:`models.randomisation.ParameterRandomiser` of ``model``).
    """
    targets = model.top1(pixels) if targets is None else np.asarray(targets)
    worker = SanityWorker(model, methods, randomiser)
    ids = [str(k) for k in range(len(pixels))]
    originals: dict[str, np.ndarray] = {}
    with progress(total=len(methods) * (1 + randomiser.steps * len(modes)), desc="sanity", unit="passes") as bar:
        for unit in original_units(list(methods), ids, pixels, targets):
            result = worker.run(unit)
            assert result.relevance is not None  # a computed pass always carries its maps
            originals[unit.method] = result.relevance
            bar.update(1)
            yield result
        for unit in randomised_units(originals, randomiser.groups, modes, ids, pixels, targets):
            result = worker.run(unit)
            bar.update(1)
            yield result
