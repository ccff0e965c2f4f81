"""A benchmark run: every method and metric on an image set, resumable, into a RUN_DIR.

data -> model -> method -> relevance map -> metrics (curves, ABPC, PNG size, SSIM) ->
records (bench.run.store) -> report (bench.report.run_report).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import metrics
from bench.core.fingerprint import fingerprint_differences
from bench.core.provenance import image_sha256, jsonable, package_versions
from bench.datasets import ImageSet, load_image_set, resolve_data_dir
from bench.execution import EXECUTORS, make_executor
from bench.run.profile import replacements, validate_profile, with_replacements
from bench.run.store import RANDOM_ORDER, RunError, RunStore, curve_key, resume_fingerprint
from bench.run.units import Unit, UnitResult, Worker, WorkSpec, write_result
from common.errors import UnknownNameError
from common.progress import progress
from methods import ALIASES, ModelCosts, available, build_method
from metrics.perturbation import REPLACEMENTS
from models import Classifier, get_model


def image_seed(seed: int, image_id: str) -> int:
    """Per-image seed from the run seed and the image id: the same colours for an image in
    every method, every subset and every resumed run."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{image_id}".encode()).digest()[:4], "little")


def select_images(images: ImageSet, count: int | None, selection: str, seed: int) -> ImageSet:
    if count is None or count >= len(images):
        return images
    if selection == "random":
        index = np.sort(np.random.default_rng(seed).choice(len(images), size=count, replace=False))
    elif selection == "first":
        index = np.arange(count)
    else:
        raise RunError(f"profile [run] selection must be 'first' or 'random', got {selection!r}")
    return images.subset(index)


def resolve_pixels_per_step(setting, size: tuple[int, int], steps: int) -> int:
    if setting == "auto":
        return metrics.pixels_per_step_for(size, steps=steps)
    return int(setting)


def run_benchmark(
    profile: dict,
    out_dir: str | Path,
    data_dir=None,
    weights=None,
    log: Callable[[str], None] = print,
    expect: dict | None = None,
    random_baseline: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    executor_options: dict | None = None,
) -> Path:
    """Run ``profile`` into ``out_dir`` (resuming what is there).

    ``expect``: run.json values this run must have before it does any work (e.g. a stored
    reference's model weights, image content and targets); a difference is a :class:`RunError`
    naming it, raised with nothing written. ``random_baseline``: whether to
    compute the random-order curves (a ``bench check`` needs none). The run ends with the
    consolidated ``metrics.csv`` and ``curves.csv``; the report is the report's job
    (:func:`bench.report.run_report.build_report`).
    ``executor``: where the units are computed (:mod:`bench.execution`); the results are the same.
    ``ray_address`` and ``executor_options`` (e.g. ``{"workers": 4}``) are passed to it.
    """
    validate_profile(profile)
    if executor not in EXECUTORS:
        raise RunError(f"--executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    settings = profile["run"]
    metric_settings = with_replacements(profile["metrics"], replacements(profile["metrics"]))
    store = RunStore(out_dir)

    folder, data_description = resolve_data_dir(data_dir)
    is_embedded = "embedded" in data_description
    if settings.get("requires_nips") and is_embedded:
        raise RunError(
            f"profile {profile['name']!r} needs the NIPS-2017 development set, and none was found "
            "(data/nips17 or --data-dir). Fetch it with Kaggle credentials: python -m bench fetch "
            "(or import a local copy: python -m bench fetch --source PATH)."
        )
    check_method_sections(profile)
    # every method is built (and its parameters checked) before the model loads
    built = {spec: build_method(spec, profile["methods"].get(spec, {})) for spec in settings["methods"]}
    method_objects = {m.name: m for m in built.values()}
    method_names = list(method_objects)
    model = get_model(settings["model"], weights=weights)
    try:
        image_set = load_image_set(folder, size=model.input_size, ids=settings.get("image_ids"))
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise RunError(str(err.args[0]) if err.args else str(err)) from None
    images = select_images(image_set, settings.get("images"), settings.get("selection", "first"), settings.get("seed", 0))
    steps = int(metric_settings["steps"])
    pps = resolve_pixels_per_step(metric_settings["pixels_per_step"], model.input_size, steps)
    metric_settings["pixels_per_step"] = pps
    seeds = [image_seed(settings.get("seed", 0), i) for i in images.ids]
    # targets=None: the evaluator scores the unperturbed images once and takes each top-1
    # class; every unit reuses those scores as its step 0.
    evaluator = metrics.CurveEvaluator(
        model, images.pixels, None, pixels_per_step=pps, steps=steps, seed=seeds, batch_size=int(metric_settings["batch_size"])
    )
    targets = evaluator.targets

    run = {
        "profile": profile["name"],
        "profile_source": profile["source"],
        "description": profile.get("description", ""),
        "model": model.name,
        "model_input_size": list(model.input_size),
        "preprocessing": model.preprocessing,
        "weights": model.weights,
        "weights_sha256": model.weights_sha256,
        "data": data_description,
        "data_dir": str(folder),
        "embedded_data": is_embedded,
        "image_ids": images.ids,
        "image_sha256": image_sha256(images.ids, images.pixels),
        "authors": images.authors,
        "licenses": images.licenses,
        "targets": targets.tolist(),
        "labels": images.labels.tolist(),
        "methods": method_names,
        "method_params": {n: m.params for n, m in method_objects.items()},
        "method_metadata": {n: m.metadata() for n, m in method_objects.items()},
        "metrics_settings": metric_settings,
        "seed": settings.get("seed", 0),
        "input_space_zero_pixel": model.input_space_zeros()[0, 0].round(2).tolist(),
        "versions": package_versions(),
        "status": "running",
        "timings_s": {},
    }
    if expect is not None:
        differences = fingerprint_differences(expect, {k: jsonable(run).get(k) for k in expect})
        if differences:
            raise RunError(f"this run would differ from what it must match: {'; '.join(differences)}")
    spec = WorkSpec(
        model=settings["model"],
        weights=None if weights is None else str(weights),
        methods={m.name: (name, m.params) for name, m in built.items()},
        metric_settings=metric_settings,
    )
    work = RunWork(images, targets, seeds, evaluator.unperturbed_logits())
    store.root.mkdir(parents=True, exist_ok=True)
    with store.lock():
        _run_locked(store, run, model, work, method_objects, log, random_baseline, spec, executor, ray_address, executor_options)
    return store.root


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
    ids = work.images.ids
    units = []

    def missing(method: str, image_id: str) -> tuple[str, ...] | None:
        if not store.has(method, image_id):
            return None
        keys = store.curve_keys(method, image_id)
        order = "random" if method == RANDOM_ORDER else "morf"
        return tuple(r for r in chosen if curve_key(r, order) not in keys)

    def chunks(method: str, chunk: int, with_maps: bool) -> None:
        groups: dict[tuple, list[int]] = {}
        for k, image_id in enumerate(ids):
            lacking = missing(method, image_id)
            if lacking is None:
                groups.setdefault(("new",), []).append(k)
            elif lacking:
                groups.setdefault(lacking, []).append(k)
        for key, index in groups.items():
            new = key == ("new",)
            for lo in range(0, len(index), chunk):
                part = index[lo : lo + chunk]
                relevance = None
                if with_maps and not new:
                    relevance = np.stack([store.load_map(method, ids[k]) for k in part])
                units.append(work.unit(method, part, chosen if new else key, relevance))

    if random_baseline:
        chunks(RANDOM_ORDER, RANDOM_CHUNK, with_maps=False)
    for name, method in method_objects.items():
        chunks(name, int(method.params.get("batch_size", 8)), with_maps=True)
    return units


RANDOM_CHUNK = 8
"""Images per random-order unit."""


def _run_locked(
    store: RunStore,
    run: dict,
    model: Classifier,
    work: RunWork,
    method_objects: dict,
    log,
    random_baseline: bool,
    spec: WorkSpec,
    executor: str,
    ray_address: str | None,
    executor_options: dict | None = None,
) -> None:
    """The part of a run that reads and writes RUN_DIR, under its lock."""
    method_names, metric_settings = run["methods"], run["metrics_settings"]
    steps, pps = metric_settings["steps"], metric_settings["pixels_per_step"]
    images = work.images
    previous = store.check(resume_fingerprint(jsonable(run)))
    chosen = replacements(metric_settings)
    if previous is not None:
        store.verify(run["methods"], run["image_ids"])
        kept = replacements(previous["metrics_settings"])
        added = [r for r in chosen if r not in kept]
        chosen = [r for r in REPLACEMENTS if r in kept or r in chosen]  # never drop curves a run holds
        run["metrics_settings"] = metric_settings = with_replacements(metric_settings, chosen)
        run["timings_s"] = previous.get("timings_s", {})
        log(f"resuming the run in {store.root}" + (f"; adding the {', '.join(added)} curves" if added else ""))
    store.remove_leftovers(log)
    log(f"model: {model.name} (weights: {model.weights})")
    log(f"data:  {run['data']}, {len(images)} images")
    log(f"methods: {', '.join(method_names)}; curves: {steps} steps of {pps} pixels, replacement {' and '.join(chosen)}")
    log(
        f"estimated time: {estimate_minutes(model, images, method_objects, steps, store, len(chosen)):.0f} min on this machine (rough)"
    )
    store.write_run(jsonable(run))

    timings = run["timings_s"]
    units = plan_units(store, work, method_objects, chosen, random_baseline)
    total_images = sum(len(u.image_ids) for u in units)
    if units:
        log(f"{len(units)} units of work ({total_images} method-image pairs) on the {executor} executor")
    bar = progress(total=total_images, desc="images")
    done = {"units": 0, "images": 0}

    def on_result(unit: Unit, result: UnitResult) -> None:
        write_result(store, result)
        if unit.method == RANDOM_ORDER:
            spent = {"random_curves": result.metrics_seconds}
        else:
            spent = {f"{unit.method}/explain": result.explain_seconds, f"{unit.method}/metrics": result.metrics_seconds}
        spent |= {f"curves/{replacement}": seconds for replacement, seconds in result.curve_seconds.items()}
        for key, seconds in spent.items():
            timings[key] = timings.get(key, 0.0) + seconds
        store.write_run(jsonable(run))
        done["units"] += 1
        done["images"] += len(unit.image_ids)
        bar.update(len(unit.image_ids))
        log(
            f"  [{done['units']}/{len(units)} units, {done['images']}/{total_images} images] {unit.key}: "
            f"{result.explain_seconds:.1f}s explain, {result.metrics_seconds:.1f}s curves"
        )

    if units:
        worker = Worker(spec, model, method_objects)
        runner = make_executor(executor, spec, worker, ray_address, log=log, **(executor_options or {}))
        try:
            runner.run(units, on_result)
        finally:
            runner.close()
    bar.close()

    run["status"] = "complete"
    store.write_run(jsonable(run))
    store.write_tables(*store.tables(pps, int(np.prod(run["model_input_size"]))))


def check_method_sections(profile: dict) -> None:
    """Every ``[methods.NAME]`` section (and ``--param NAME.KEY=...``) names a registered method."""
    known = set(available()) | set(ALIASES)
    unknown = sorted(name for name in set(profile["methods"]) - known if ":" not in name)  # module:Class: checked when built
    if unknown:
        raise UnknownNameError(
            f"profile {profile['name']!r}: no method named {', '.join(map(repr, unknown))} (a [methods.NAME] section or "
            f"--param NAME.KEY=VALUE); methods: {', '.join(sorted(known))}; other sections: metrics"
        )


def estimate_minutes(
    model: Classifier, images: ImageSet, method_objects: dict, steps: int, store: RunStore, curve_sets: int = 1
) -> float:
    """Rough wall-time estimate from one timed forward batch and one gradient batch."""
    import tensorflow as tf

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
