"""What a run computes: its images (selected and seeded), the units the store still lacks, and
a rough estimate of their cost.

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
from bench.run.store import RANDOM_ORDER, RunError, RunStore, curve_key
from bench.run.units import Unit
from methods import ModelCosts
from models import Classifier

RANDOM_CHUNK = 8
"""Images per random-order unit."""


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


def resolve_pixels_per_step(setting, size: tuple[int, int], steps: int) -> int:
    """``metrics.pixels_per_step``: ``"auto"`` covers the thesis's fraction of the image in ``steps``."""
    if setting == "auto":
        return metrics.pixels_per_step_for(size, steps=steps)
    return int(setting)


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


def estimate_minutes(
    model: Classifier, images: ImageSet, method_objects: dict, steps: int, store: RunStore, curve_sets: int = 1
) -> float:
    """Rough wall-time estimate from one timed forward batch and one gradient batch."""
    import tensorflow as tf  # noqa: PLC0415 - heavy; the planner's other users need no TensorFlow

    x = images.pixels[: min(8, len(images))]
    model.logits(x)  # warm-up
    t0 = time.perf_counter()
    model.logits(x)
    forward = (time.perf_counter() - t0) / len(x)
    xt = tf.constant(x, tf.float32)
    t0 = time.perf_counter()
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model.forward(xt)
    tape.gradient(out[:, 0], xt)
    backward = (time.perf_counter() - t0) / len(x)
    costs = ModelCosts(forward=forward, backward=backward, input_size=model.input_size)
    n = len(images)
    total = curve_sets * n * (2 * len(method_objects) + 1) * steps * forward  # ROAD's imputation not counted
    for name, method in method_objects.items():
        todo = sum(not store.has(name, i) for i in images.ids)
        total += todo * method.estimate_seconds(costs)
    return total / 60
