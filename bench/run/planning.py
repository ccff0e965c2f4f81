"""What a run computes: its images (selected and seeded), the units the store still lacks, and
an estimate of their time, updated as they finish.

A unit is a (method, image chunk) pair (:class:`bench.run.units.Unit`); the planner looks only
at the store, so a resumed run plans exactly the work a killed one left undone.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np

import metrics
from bench.datasets import ImageSet
from bench.run.profile import curve_grid
from bench.run.store import RANDOM_ORDER, RunError, RunStore, curve_key
from bench.run.units import Unit, estimated_cost
from methods import ModelCosts
from metrics.perturbation import REPLACEMENTS, ROAD_PROTOCOL_COVERAGE, ROAD_PROTOCOL_STEPS
from metrics.road import ImputationCurve
from models import Classifier

RANDOM_CHUNK = 8
"""Images per random-order unit."""

TIMED_REPEATS = 3
"""Timed calls per measured pass at start-up (their mean: one call on a loaded machine is noisy)."""

FIRST_UNIT_COMPILES = 3
"""What a method's first unit costs beyond its passes (compiling its functions, building its
graph, a first evaluation), in compilations of one gradient: 1-7 for the six methods of the
smoke and quick profiles (the tiny model, EfficientNet-Lite0); 3 fits the smoke profile, whose
time is nearly all of it."""


def image_seed(seed: int, image_id: str) -> int:
    """Per-image seed from the run seed and the image id: the same colours for an image in
    every method, every subset and every resumed run."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{image_id}".encode()).digest()[:4], "little")


def select_images(images: ImageSet, count: int | None, selection: str, seed: int) -> ImageSet:
    """``count`` of ``images``: the first ones, or a seeded random choice kept in set order."""
    index = selection_index(len(images), count, selection, seed)
    return images if index is None else images.subset(index)


def select_ids(ids: list[str], count: int | None, selection: str, seed: int) -> list[str]:
    """``count`` of the candidate ``ids``, as :func:`select_images` picks images; chosen from the
    table before any image is decoded (``bench.datasets.load_images(select=...)``)."""
    index = selection_index(len(ids), count, selection, seed)
    return list(ids) if index is None else [ids[k] for k in index]


def selection_index(candidates: int, count: int | None, selection: str, seed: int) -> np.ndarray | None:
    """Which of ``candidates`` rows a run uses, in order; None for all of them."""
    if count is None or count >= candidates:
        return None
    if selection == "random":
        return np.sort(np.random.default_rng(seed).choice(candidates, size=count, replace=False))
    if selection == "first":
        return np.arange(count)
    raise RunError(f"profile [run] selection must be 'first' or 'random', got {selection!r}")


def resolve_curve_grids(metric_settings: dict, size: tuple[int, int]) -> None:
    """Write the curves' grids into a run's metric settings as numbers: ``pixels_per_step``
    ``"auto"`` covers the thesis's fraction of the image in ``steps``; ROAD's curves take
    ``road_steps`` (default: ROAD's own protocol, :data:`metrics.perturbation.ROAD_PROTOCOL_STEPS`
    fractions) and ``road_pixels_per_step`` (``"auto"``, the default: 90 % of the image in those
    steps, ROAD's 10 % to 90 %)."""
    steps = int(metric_settings["steps"])
    if metric_settings["pixels_per_step"] == "auto":
        metric_settings["pixels_per_step"] = metrics.pixels_per_step_for(size, steps=steps)
    road_steps = int(metric_settings.setdefault("road_steps", ROAD_PROTOCOL_STEPS))
    if metric_settings.setdefault("road_pixels_per_step", "auto") == "auto":
        metric_settings["road_pixels_per_step"] = metrics.pixels_per_step_for(size, road_steps, ROAD_PROTOCOL_COVERAGE)
    for replacement in REPLACEMENTS:
        steps, pixels = curve_grid(metric_settings, replacement)
        if steps * pixels >= size[0] * size[1]:
            raise RunError(
                f"metrics: {steps} steps of {pixels} pixels ({replacement} curves) would replace all {size[0] * size[1]} "
                f"pixels of a {size[0]}x{size[1]} input; lower the steps or the pixels per step"
            )


def curves_text(metric_settings: dict, chosen: list[str]) -> str:
    """The curves' grid per replacement, in words: "100 steps of 449 pixels (random-colour); 9 of 5018 (road)"."""
    return "; ".join(
        f"{steps} steps of {pixels} pixels ({replacement})"
        for replacement in chosen
        for steps, pixels in [curve_grid(metric_settings, replacement)]
    )


@dataclass
class RunWork:
    """The images of a run and what the driver computed for them once."""

    images: ImageSet
    targets: np.ndarray
    seeds: list[int]
    base_logits: np.ndarray

    def unit(self, method: str, index: list[int], replacements, relevance=None) -> Unit:
        return Unit(
            method=method,
            image_ids=[self.images.ids[k] for k in index],
            pixels=self.images.pixels[index],
            targets=self.targets[index],
            seeds=[self.seeds[k] for k in index],
            base_logits=self.base_logits[index],
            replacements=tuple(replacements),
            relevance=relevance,
        )


def plan_units(store: RunStore, work: RunWork, method_objects: dict, chosen: list[str], random_baseline: bool) -> list[Unit]:
    """The units the store lacks, in order: the random-order curves, then each method's images
    in chunks of its ``batch_size``. An image whose record lacks only some replacements' curves
    gets a unit that reuses its stored map."""
    units: list[Unit] = []
    if random_baseline:
        units += _method_units(store, work, RANDOM_ORDER, RANDOM_CHUNK, chosen, with_maps=False)
    for name, method in method_objects.items():
        units += _method_units(store, work, name, int(method.params.get("batch_size", 8)), chosen, with_maps=True)
    return units


def _method_units(store: RunStore, work: RunWork, method: str, chunk: int, chosen: list[str], with_maps: bool) -> list[Unit]:
    """One method's units: images grouped by what their records lack (everything, or some
    replacements' curves), each group in chunks of ``chunk`` images."""
    ids = work.images.ids
    order = "random" if method == RANDOM_ORDER else "morf"
    groups: dict[tuple, list[int]] = {}
    for k, image_id in enumerate(ids):
        if not store.has(method, image_id):
            groups.setdefault(("new",), []).append(k)
            continue
        keys = store.curve_keys(method, image_id)
        lacking = tuple(r for r in chosen if curve_key(r, order) not in keys)
        if lacking:
            groups.setdefault(lacking, []).append(k)
    units = []
    for key, index in groups.items():
        new = key == ("new",)
        for lo in range(0, len(index), chunk):
            part = index[lo : lo + chunk]
            relevance = None
            if with_maps and not new:
                relevance = np.stack([store.load_map(method, ids[k]) for k in part])
            units.append(work.unit(method, part, chosen if new else key, relevance))
    return units


@dataclass(frozen=True)
class StartupCosts:
    """Pass costs measured once at start-up, on the run's model and images."""

    model: ModelCosts
    """Seconds per image of a forward pass at the curves' batch size and of a compiled
    forward+backward pass (as the gradient methods run them)."""
    compile_seconds: float
    """Seconds to compile a gradient function once: each method pays about that on its first unit."""
    curve_step: dict[str, float]
    """replacement -> seconds per image and curve step (a forward pass; ROAD adds an imputation)."""


def measure_costs(model: Classifier, images: ImageSet, batch_size: int, metric_settings: dict, chosen: list[str]) -> StartupCosts:
    """Time the passes a run is made of, as the run makes them: ``model.logits`` on a full
    batch of the curves' ``batch_size`` (after a warm-up call), a compiled gradient of a batch
    of 8 (its first call, which compiles it, measured apart), each the mean of
    :data:`TIMED_REPEATS` calls, and, when ROAD curves are chosen, the mean of ROAD's
    imputations at a quarter, half and three quarters of a curve (after a warm-up one)."""
    import tensorflow as tf  # noqa: PLC0415 - heavy; the planner's other users need no TensorFlow

    def tiled(count: int) -> np.ndarray:
        return np.resize(images.pixels, (count, *images.pixels.shape[1:]))

    def mean_seconds(call) -> float:
        t0 = time.perf_counter()
        for _ in range(TIMED_REPEATS):
            call()
        return (time.perf_counter() - t0) / TIMED_REPEATS

    x = tiled(batch_size)
    model.logits(x, batch_size=batch_size)  # warm-up: compiles the forward pass the curves use
    forward = mean_seconds(lambda: model.logits(x, batch_size=batch_size)) / len(x)
    v = tf.Variable(tiled(8).astype(np.float32))

    @tf.function
    def gradient() -> tf.Tensor:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(model.forward(v)[:, 0])
        return tape.gradient(total, v)

    t0 = time.perf_counter()
    gradient().numpy()
    first = time.perf_counter() - t0
    backward = mean_seconds(lambda: gradient().numpy()) / 8
    curve_step = {replacement: forward for replacement in chosen}
    if "road" in chosen:
        ranking = np.random.default_rng(0).permutation(images.pixels.shape[1] * images.pixels.shape[2])
        steps, pixels_per_step = curve_grid(metric_settings, "road")
        curve = ImputationCurve(images.pixels[0], ranking, pixels_per_step, steps)
        curve.step_image(1)  # warm-up: builds the image size's solver structure once
        quarters = [max(1, steps * q // 4) for q in (1, 2, 3)]  # the cost grows with the pixels removed
        t0 = time.perf_counter()
        for t in quarters:
            curve.step_image(t)
        curve_step["road"] = forward + (time.perf_counter() - t0) / len(quarters)
    return StartupCosts(ModelCosts(forward, backward, model.input_size), max(0.0, first - 8 * backward), curve_step)


def unit_estimates(units: list[Unit], method_objects: dict, metric_settings: dict, costs: StartupCosts) -> list[float]:
    """Estimated seconds of each unit: the method's own estimate from the measured pass costs
    and its curves (:func:`bench.run.units.estimated_cost`), plus :data:`FIRST_UNIT_COMPILES`
    compilations for the first unit of each method that explains images."""
    seconds, compiled = [], set()
    for unit in units:
        cost = estimated_cost(unit, method_objects, metric_settings, costs.model, costs.curve_step)
        if unit.method != RANDOM_ORDER and unit.relevance is None and unit.method not in compiled:
            compiled.add(unit.method)
            cost += FIRST_UNIT_COMPILES * costs.compile_seconds
        seconds.append(cost)
    return seconds


def model_pass_seconds(units: list[Unit], method_objects: dict, metric_settings: dict, costs: StartupCosts) -> list[float]:
    """Seconds of each unit's model passes alone (its method's passes and one forward pass per
    curve step) at the costs measured at the start: how long it would take at the model's speed."""
    return [estimated_cost(unit, method_objects, metric_settings, costs.model) for unit in units]


PRIOR_SHARE = 0.1
"""How much the start-up estimate weighs against the finished units when a method has none
finished yet: as much as finished units estimated at this share of the run would."""


class RunEstimate:
    """A run's time left, updated as units finish: each pending unit's estimate is rescaled by
    how long the finished units of its method took against their estimates (until one of its
    own has finished: by the finished units of all methods, weighed against the start-up
    estimate by :data:`PRIOR_SHARE`), and the sum by how much of the workers' time the elapsed
    wall time was (1 in this process, less on a cluster of several)."""

    def __init__(self, units: list[Unit], seconds: list[float], model_seconds: list[float] | None = None):
        self.model_seconds = dict(zip(map(id, units), model_seconds or []))
        """Per pending unit: its model passes (explain and curves) at the pass costs measured at the
        start, the time it would take at the model's own speed (:func:`model_pass_seconds`)."""
        self.pending = {id(u): (u.method, s) for u, s in zip(units, seconds)}
        self.total = float(sum(seconds))
        self.spent: dict[str, list[float]] = {}
        """method -> [estimated, actual] seconds of its finished units."""

    def finished(self, unit: Unit, seconds: float) -> None:
        """``unit`` took ``seconds`` of a worker's time."""
        method, estimate = self.pending.pop(id(unit))
        spent = self.spent.setdefault(method, [0.0, 0.0])
        spent[0] += estimate
        spent[1] += seconds

    def left(self, elapsed: float) -> float:
        """Seconds left, ``elapsed`` wall seconds after the first unit started."""
        estimated = sum(e for e, _ in self.spent.values())
        actual = sum(a for _, a in self.spent.values())
        if not actual or not estimated:
            return sum(s for _, s in self.pending.values())
        ratios = {m: a / e for m, (e, a) in self.spent.items() if e > 0}
        prior = PRIOR_SHARE * self.total
        overall = (actual + prior) / (estimated + prior)
        serial = sum(s * ratios.get(m, overall) for m, s in self.pending.values())
        return serial * elapsed / actual
