"""A benchmark run: every method and metric on an image set, resumable, into a RUN_DIR.

data -> model -> method -> relevance map -> metrics (curves, ABPC, PNG size, SSIM) ->
records (:mod:`bench.run.store`); the report is built from the records afterwards
(:mod:`bench.report`). The run is prepared whole (every setting checked, the model and images
loaded) before anything is written; then, under the folder's lock, the units the store lacks
(:mod:`bench.run.planning`) are computed on an executor (:mod:`bench.execution`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import metrics
from bench.core.fingerprint import fingerprint_differences
from bench.core.provenance import image_sha256, jsonable, package_versions
from bench.core.resumable import COMPLETE
from bench.datasets import ImageSet, load_images, resolve_data_dir
from bench.execution import ExecutorChoice
from bench.run.limits import DEFAULT_MAX_HOURS
from bench.run.planning import (
    RunEstimate,
    RunWork,
    curves_text,
    image_seed,
    measure_costs,
    model_pass_seconds,
    plan_units,
    resolve_curve_grids,
    select_ids,
    unit_estimates,
)
from bench.run.profile import replacements, validate_profile, with_replacements
from bench.run.store import RANDOM_ORDER, TIME_SPLIT, RunError, RunStore, resume_fingerprint
from bench.run.units import Unit, UnitResult, Worker, WorkSpec, write_result
from common.errors import InputError, UnknownNameError
from common.progress import duration, progress
from methods import ALIASES, available, build_method
from metrics.perturbation import REPLACEMENTS
from models import get_model

if TYPE_CHECKING:
    from models.keras_classifier import ModelWrapper

__all__ = ["DEFAULT_MAX_HOURS", "RESULTS", "PreparedRun", "RunError", "default_run_dir", "prepare_run", "run_benchmark"]

RESULTS = Path("results")
"""Where ``bench run`` without ``--out`` puts its run folders: RESULTS/<profile>-<timestamp>."""


@dataclass
class PreparedRun:
    """A run ready to compute: run.json's content and what the driver loaded and computed once."""

    run: dict
    model: ModelWrapper
    methods: dict
    """method name -> built method."""
    work: RunWork
    spec: WorkSpec


def run_benchmark(
    profile: dict,
    out_dir: str | Path | None,
    data_dir=None,
    weights=None,
    log: Callable[[str], None] = print,
    expect: dict | None = None,
    random_baseline: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    executor_options: dict | None = None,
    max_hours: float | None = DEFAULT_MAX_HOURS,
    results_dir: str | Path = RESULTS,
) -> Path:
    """Run ``profile`` into ``out_dir`` (resuming what is there); the log names the folder first.

    ``out_dir`` None: the newest unfinished run folder of the same profile, settings and images
    under ``results_dir`` is resumed, else a new ``results_dir/<profile>-<timestamp>`` is started
    (:func:`default_run_dir`).

    ``expect``: run.json values this run must have before it does any work (e.g. a stored
    reference's model weights, image content and targets); a difference is a :class:`RunError`
    naming it, raised with nothing written. ``random_baseline``: whether to compute the
    random-order curves (a ``bench check`` needs none). The run ends with the consolidated
    ``metrics.csv`` and ``curves.csv``; the report is the report's job
    (:func:`bench.report.run_report.build_report`). ``executor``: where the units are computed
    (:mod:`bench.execution`); the results are the same. ``ray_address`` and ``executor_options``
    (e.g. ``{"workers": 4}``) are passed to it. ``max_hours``: refuse (:class:`RunError`, before
    any work) a run whose estimate exceeds it; None for no limit.
    """
    choice = ExecutorChoice(executor, ray_address, dict(executor_options or {}))
    prepared = prepare_run(profile, data_dir, weights)
    if expect is not None:
        differences = fingerprint_differences(expect, {k: jsonable(prepared.run).get(k) for k in expect})
        if differences:
            raise RunError(f"this run would differ from what it must match: {'; '.join(differences)}")
    chosen = out_dir is None
    if out_dir is None:
        out_dir = default_run_dir(prepared.run, results_dir)
    store = RunStore(out_dir)
    with store.lock():
        units, estimate = _start(store, prepared, log, max_hours, random_baseline, chosen)
        _compute(store, prepared, units, estimate, choice, log)
        prepared.run["status"] = "complete"
        store.write_run(jsonable(prepared.run))
        settings = prepared.run["metrics_settings"]
        store.write_tables(*store.tables(settings, int(np.prod(prepared.run["model_input_size"]))))
    return store.root


def default_run_dir(run: dict, results_dir: str | Path = RESULTS) -> Path:
    """The folder of a run started without ``--out``: the newest (by run.json's last change)
    unfinished run folder ``results_dir/<profile>-*`` of the same profile whose settings and
    images a resume accepts (:func:`bench.run.store.resume_fingerprint`) and that no other
    process holds; else a new ``results_dir/<profile>-<timestamp>`` (not yet created). A
    complete run is never resumed."""
    results, name = Path(results_dir), run["profile"]
    fingerprint = resume_fingerprint(jsonable(run))
    unfinished = []
    for manifest in results.glob(f"{name}-*/run.json"):
        store = RunStore(manifest.parent)
        try:
            previous = store.read_run()
            if previous is None or previous.get("status") == COMPLETE or previous.get("profile") != name:
                continue
            store.check(fingerprint)
            with store.lock():  # held by a run in progress: not this one's to resume
                pass
        except InputError:  # other settings or images, an unreadable run.json, a busy folder
            continue
        unfinished.append((manifest.stat().st_mtime, str(store.root)))
    if unfinished:
        return Path(max(unfinished)[1])
    stem = f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    out, k = results / stem, 2
    while out.exists():  # two runs in the same second
        out, k = results / f"{stem}-{k}", k + 1
    return out


def prepare_run(profile: dict, data_dir=None, weights=None) -> PreparedRun:
    """Check every setting, build the methods, load the model and the images, and score the
    unperturbed images once (their top-1 classes are the targets); nothing is written."""
    validate_profile(profile)
    settings = profile["run"]
    metric_settings = with_replacements(profile["metrics"], replacements(profile["metrics"]))
    folder, data_description = resolve_data_dir(data_dir)
    if settings.get("requires_nips") and "embedded" in data_description:
        raise RunError(
            f"profile {profile['name']!r} needs the NIPS-2017 development set, and none was found "
            "(data/nips17 or --data-dir). Fetch it with Kaggle credentials: python -m bench fetch "
            "(or import a local copy: python -m bench fetch --source PATH)."
        )
    check_method_sections(profile)
    # every method is built (and its parameters checked) before the model loads
    built = {source: build_method(source, profile["methods"].get(source, {})) for source in settings["methods"]}
    methods = {m.name: m for m in built.values()}
    for source, params in profile["methods"].items():  # a section of a method not run is checked too
        if source not in built and ":" not in source:
            build_method(source, params)
    model = get_model(settings["model"], weights=weights)
    seed = settings.get("seed", 0)
    count, selection = settings.get("images"), settings.get("selection", "first")
    # the images are chosen from the table, then only those are decoded
    select = lambda ids: select_ids(ids, count, selection, seed)
    images, _, _ = load_images(folder, model.input_size, ids=settings.get("image_ids"), select=select)
    resolve_curve_grids(metric_settings, model.input_size)
    steps = int(metric_settings["steps"])
    seeds = [image_seed(seed, i) for i in images.ids]
    # targets=None: the evaluator scores the unperturbed images once and takes each top-1
    # class; every unit reuses those scores as its step 0.
    evaluator = metrics.CurveEvaluator(
        model,
        images.pixels,
        None,
        pixels_per_step=metric_settings["pixels_per_step"],
        steps=steps,
        seed=seeds,
        batch_size=int(metric_settings["batch_size"]),
    )
    run = describe_run(profile, model, images, evaluator.targets, methods, metric_settings, (folder, data_description))
    spec = WorkSpec(
        model=settings["model"],
        weights=None if weights is None else str(weights),
        methods={m.name: (source, m.params) for source, m in built.items()},
        metric_settings=metric_settings,
    )
    work = RunWork(images, evaluator.targets, seeds, evaluator.unperturbed_logits())
    return PreparedRun(run, model, methods, work, spec)


def describe_run(
    profile: dict,
    model: ModelWrapper,
    images: ImageSet,
    targets: np.ndarray,
    methods: dict,
    metric_settings: dict,
    data: tuple[Path, str],
) -> dict:
    """run.json's content at the start of a run: settings, provenance, images and targets."""
    folder, description = data
    return {
        "profile": profile["name"],
        "profile_source": profile["source"],
        "description": profile.get("description", ""),
        "model": model.name,
        "model_input_size": list(model.input_size),
        "preprocessing": model.preprocessing,
        "weights": model.weights,
        "weights_sha256": model.weights_sha256,
        "data": description,
        "data_dir": str(Path(folder).resolve()),  # absolute: the report finds the images from any folder
        "embedded_data": "embedded" in description,
        "image_ids": images.ids,
        "images_requested": profile["run"].get("images"),  # more than image_ids holds when the data has fewer
        "image_sha256": image_sha256(images.ids, images.pixels),
        "authors": images.authors,
        "licenses": images.licenses,
        "targets": targets.tolist(),
        "labels": images.labels.tolist(),
        "methods": list(methods),
        "method_params": {n: m.params for n, m in methods.items()},
        "method_metadata": {n: m.metadata() for n, m in methods.items()},
        "metrics_settings": metric_settings,
        "seed": profile["run"].get("seed", 0),
        "input_space_zero_pixel": model.input_space_zeros()[0, 0].round(2).tolist(),
        "versions": package_versions(),
        "status": "running",
        "timings_s": {},
    }


def _start(
    store: RunStore,
    prepared: PreparedRun,
    log: Callable[[str], None],
    max_hours: float | None,
    random_baseline: bool,
    by_default: bool = False,
) -> tuple[list[Unit], RunEstimate]:
    """Under the lock: refuse a folder of other settings (or a run estimated over ``max_hours``),
    name the folder, take over a resumed run's replacements and timings, clean leftovers, plan the
    units the store lacks, estimate them, log the plan and write run.json. ``by_default``: the
    folder was chosen by :func:`default_run_dir`, not given (the log says how to start afresh)."""
    run, model, images = prepared.run, prepared.model, prepared.work.images
    previous = store.check(resume_fingerprint(jsonable(run)))
    chosen = replacements(run["metrics_settings"])
    if previous is None:
        again = " (the same command resumes it if it stops)" if by_default else ""
        log(f"run folder: {store.root}{again}")
    else:
        store.verify(run["methods"], run["image_ids"])
        kept = replacements(previous["metrics_settings"])
        added = [r for r in chosen if r not in kept]
        chosen = [r for r in REPLACEMENTS if r in kept or r in chosen]  # never drop curves a run holds
        run["metrics_settings"] = with_replacements(run["metrics_settings"], chosen)
        run["timings_s"] = previous.get("timings_s", {})
        if TIME_SPLIT in previous:
            run[TIME_SPLIT] = previous[TIME_SPLIT]
        adding = f"; adding the {', '.join(added)} curves" if added else ""
        if by_default:
            log(
                f"resuming {store.root}, the newest unfinished run of profile {run['profile']} with these settings and "
                f"images{adding}; pass --out NEW to start afresh"
            )
        else:
            log(f"resuming the run in {store.root}{adding}")
    store.remove_leftovers(log)
    settings = run["metrics_settings"]
    log(f"model: {model.name} (weights: {model.weights})")
    asked = run.get("images_requested")
    short = f" (the profile asks for {asked}; only {len(images)} are available)" if asked and asked > len(images) else ""
    log(f"data:  {run['data']}, {len(images)} images{short}")
    log(f"methods: {', '.join(run['methods'])}; curves: {curves_text(settings, chosen)}")
    units = plan_units(store, prepared.work, prepared.methods, chosen, random_baseline)
    estimate = RunEstimate([], [])
    if units:
        costs = measure_costs(model, images, int(settings["batch_size"]), settings, chosen)
        estimate = RunEstimate(
            units,
            unit_estimates(units, prepared.methods, settings, costs),
            model_pass_seconds(units, prepared.methods, settings, costs),
        )
        log(
            f"estimated time: {duration(estimate.total)} for {len(units)} units on this machine, from the pass costs "
            f"measured now (per image: forward {1e3 * costs.model.forward:.0f} ms, forward+backward "
            f"{1e3 * costs.model.backward:.0f} ms); updated as units finish"
        )
    if max_hours is not None and estimate.total > 3600 * max_hours:
        raise RunError(
            f"this run is estimated at {estimate.total / 3600:,.1f} hours on this machine, over the limit of {max_hours:g} "
            "hours; check the settings (an extra zero in a count?), or raise the limit with --max-hours HOURS. Nothing was run."
        )
    store.write_run(jsonable(run))
    return units, estimate


def _compute(
    store: RunStore, prepared: PreparedRun, units: list[Unit], estimate: RunEstimate, choice: ExecutorChoice, log
) -> None:
    """Compute ``units`` on the chosen executor; each result is written (and run.json's timings
    updated) by this process as it arrives, and the time left is logged, rescaled by the
    finished units (:class:`bench.run.planning.RunEstimate`)."""
    run, timings = prepared.run, prepared.run["timings_s"]
    split = run.setdefault(TIME_SPLIT, {"wall": 0.0, "model_passes": 0.0, "imputation": 0.0})
    total_images = sum(len(u.image_ids) for u in units)
    if not units:
        return
    log(f"{len(units)} units of work ({total_images} method-image pairs) on the {choice.name} executor")
    bar = progress(total=len(units), desc="run", unit="units")
    done = {"units": 0, "images": 0}
    wall_before = split["wall"]  # a resumed run adds its sessions' walls
    started = time.perf_counter()

    def on_result(unit: Unit, result: UnitResult) -> None:
        write_result(store, result)
        for key, seconds in unit_timings(unit, result).items():
            timings[key] = timings.get(key, 0.0) + seconds
        split["model_passes"] += estimate.model_seconds.pop(id(unit), 0.0)
        split["imputation"] += result.imputation_seconds
        split["wall"] = wall_before + time.perf_counter() - started
        store.write_run(jsonable(run))
        done["units"] += 1
        done["images"] += len(unit.image_ids)
        estimate.finished(unit, result.explain_seconds + result.metrics_seconds)
        elapsed = time.perf_counter() - started
        left = estimate.left(elapsed)
        bar.update(1, left=left)
        when = f"about {duration(left)} left" if done["units"] < len(units) else f"{duration(elapsed)} in all"
        log(
            f"  [{done['units']} of {len(units)} units, {when}] {unit.key}: "
            f"{result.explain_seconds:.1f}s explain, {result.metrics_seconds:.1f}s curves"
        )

    executor = choice.make(prepared.spec, Worker(prepared.spec, prepared.model, prepared.methods), log=log)
    try:
        executor.run(units, on_result)
    finally:
        executor.close()
        bar.close()
    log(f"computed in {duration(time.perf_counter() - started)} (estimated at the start: {duration(estimate.total)})")


def unit_timings(unit: Unit, result: UnitResult) -> dict[str, float]:
    """The seconds a unit adds to run.json's ``timings_s``, by key."""
    if unit.method == RANDOM_ORDER:
        spent = {"random_curves": result.metrics_seconds}
    else:
        spent = {f"{unit.method}/explain": result.explain_seconds, f"{unit.method}/metrics": result.metrics_seconds}
    return spent | {f"curves/{replacement}": seconds for replacement, seconds in result.curve_seconds.items()}


def check_method_sections(profile: dict) -> None:
    """Every ``[methods.NAME]`` section (and ``--param NAME.KEY=...``) names a registered method."""
    known = set(available()) | set(ALIASES)
    unknown = sorted(name for name in set(profile["methods"]) - known if ":" not in name)  # module:Class: checked when built
    if unknown:
        raise UnknownNameError(
            f"profile {profile['name']!r}: no method named {', '.join(map(repr, unknown))} (a [methods.NAME] section or "
            f"--param NAME.KEY=VALUE); methods: {', '.join(sorted(known))}; other sections: metrics"
        )
