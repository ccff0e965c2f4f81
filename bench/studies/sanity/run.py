"""``bench sanity``'s driver: the randomisation test run into a resumable folder.

The test is prepared whole (every argument checked, the methods built, the model and images
loaded) before anything is written; then, under the folder's lock, the passes the folder lacks
are computed as units (:mod:`bench.studies.sanity.units`) on an executor
(:mod:`bench.execution`): first each method's step 0, then its randomised steps, which are
compared with it. The driver alone writes the records (:mod:`bench.studies.sanity.records`),
and at the end the tables, figures, sanity.json and report.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.provenance import image_sha256, jsonable, package_versions
from bench.core.resumable import ResumableFolder
from bench.datasets import ImageSet, load_images, resolve_data_dir
from bench.execution import ExecutorChoice
from bench.studies.sanity.figures import write_figures
from bench.studies.sanity.records import collect, map_contrast, step_info, stored_passes, write_result
from bench.studies.sanity.report import build_report, duration
from bench.studies.sanity.summary import CSV_NAMES, summary
from bench.studies.sanity.units import SANITY_DEFAULTS, SanitySpec, SanityWorker, original_units, randomised_units
from common.errors import InputError, UnknownNameError
from common.files import write_text
from common.progress import progress
from methods import ALIASES, build_method
from models import MODELS, get_model
from models.randomisation_settings import GRANULARITIES, MODES, RULES

SIMILARITY = {
    "spearman": "Spearman rank correlation of abs(relevance), flattened (Quantus correlation_spearman)",
    "ssim": "SSIM of abs(relevance) / max|relevance| (Quantus ssim: skimage, 7-px window, data range max-min of both)",
}


@dataclass(frozen=True)
class SanitySettings:
    """What ``bench sanity`` was asked for (:func:`run_sanity`'s arguments)."""

    model: str
    methods: list[str]
    data_dir: str | Path | None = None
    limit: int | None = None
    params: dict[str, dict] | None = None
    weights: str | None = None
    granularity: str = "stage"
    rule: str = "shuffle"
    mode: str = "cascading"
    seed: int = 0
    image_ids: list[str] | None = None


@dataclass
class PreparedSanity:
    """A test ready to compute: sanity.json's content and what the driver loaded once."""

    run: dict
    images: ImageSet
    worker: SanityWorker
    """The driver's worker: the model, the built methods and the randomiser."""
    spec: SanitySpec
    targets: np.ndarray
    logit_std: float
    """The std of the original model's logits (step 0's)."""


def run_sanity(
    model_name: str,
    method_names: list[str],
    out_dir: str | Path,
    data_dir=None,
    limit: int | None = None,
    params: dict[str, dict] | None = None,
    weights: str | None = None,
    granularity: str = "stage",
    rule: str = "shuffle",
    mode: str = "cascading",
    seed: int = 0,
    log: Callable[[str], None] = print,
    image_ids: list[str] | None = None,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    executor_options: dict | None = None,
) -> Path:
    """Run the randomisation test into ``out_dir`` (resuming what is there) and write its outputs.
    ``image_ids``: these images, in this order (default: the data folder's, cut to ``limit``).
    Every argument is checked, and the model and images loaded, before anything is written.
    ``executor``, ``ray_address``, ``executor_options``: where the passes are computed
    (:class:`bench.execution.ExecutorChoice`); the driver writes them all, and the results are
    the same."""
    started = time.perf_counter()
    choice = ExecutorChoice(executor, ray_address, dict(executor_options or {}))
    settings = SanitySettings(
        model_name, method_names, data_dir, limit, params, weights, granularity, rule, mode, seed, image_ids
    )
    prepared = prepare_sanity(settings)
    out = Path(out_dir)
    folder = ResumableFolder(
        out, "sanity.json", "a sanity run", "the same model, images, methods and parameters, and randomisation"
    )
    with folder.lock():
        previous = folder.resume(prepared.run["fingerprint"], log)
        if previous is not None:
            prepared.run["wall_s_calls"] = _calls_before(previous)
        folder.write_manifest(prepared.run)
        _compute(out, prepared, choice, started, log)
        _finish(out, folder, prepared, started)
    modes = prepared.run["modes"]
    wall = duration(prepared.run["wall_s_this_call"])
    log(f"report: {out / 'report.md'}; table: {out / CSV_NAMES[modes[0]]}; wall time of this call {wall}")
    return out


def _calls_before(previous: dict) -> list[float]:
    """The wall times of the earlier calls that wrote the folder (older folders: only the last one's)."""
    calls = previous.get("wall_s_calls")
    if calls is None and "wall_s_this_call" in previous:
        calls = [previous["wall_s_this_call"]]
    return list(calls or [])


def sanity_params(method_names: list[str], params: dict[str, dict] | None) -> dict[str, dict]:
    """Each method's parameters: :data:`SANITY_DEFAULTS` under the ``--param`` values."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(method_names))
    if unknown:
        raise InputError(f"--param {unknown[0]}.KEY: {unknown[0]!r} is not one of --methods ({', '.join(method_names)})")
    return {name: {**SANITY_DEFAULTS.get(ALIASES.get(name, name), {}), **params.get(name, {})} for name in method_names}


def _check(settings: SanitySettings) -> tuple[str, ...]:
    """The modes to run; an :class:`InputError` for a bad argument."""

    names = settings.methods
    if not names:
        raise InputError("--methods: give at least one method")
    if len(set(names)) != len(names):
        raise InputError(f"--methods names a method twice: {', '.join(names)}")
    for value, allowed, what in ((settings.granularity, GRANULARITIES, "--granularity"), (settings.rule, RULES, "--rule")):
        if value not in allowed:
            raise InputError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    if settings.mode != "both" and settings.mode not in MODES:
        raise InputError(f"--mode must be cascading, independent or both; got {settings.mode!r}")
    if settings.limit is not None and settings.limit < 1:
        raise InputError(f"--limit must be at least 1; got {settings.limit}")
    return MODES if settings.mode == "both" else (settings.mode,)


def prepare_sanity(settings: SanitySettings) -> PreparedSanity:
    """Check every argument, build the methods, load the model and the images, and score the
    images with the original model once (their top-1 classes are the targets); nothing is written."""
    from models.randomisation import ParameterRandomiser  # noqa: PLC0415 - imports TensorFlow

    modes = _check(settings)
    chosen = sanity_params(settings.methods, settings.params)
    methods = {name: build_method(name, chosen[name]) for name in settings.methods}  # checked before any model loads
    if settings.model not in MODELS:
        raise UnknownNameError(f"unknown model {settings.model!r}; available: {', '.join(MODELS)}")
    data = resolve_data_dir(settings.data_dir)
    model = get_model(settings.model, weights=settings.weights)
    images, _, _ = load_images(data[0], model.input_size, settings.limit, settings.image_ids)
    randomisation = {"granularity": settings.granularity, "rule": settings.rule, "seed": settings.seed}
    randomiser = ParameterRandomiser(model, granularity=settings.granularity, rule=settings.rule, seed=settings.seed)
    original_logits = model.logits(images.pixels)
    targets = original_logits.argmax(axis=1)
    weights = None if settings.weights is None else str(settings.weights)
    return PreparedSanity(
        run=_describe(settings, modes, model, images, methods, randomiser, targets, data),
        images=images,
        worker=SanityWorker(model, methods, randomiser),
        spec=SanitySpec(settings.model, weights, chosen, randomisation),
        targets=targets,
        logit_std=float(np.std(original_logits)),
    )


def _describe(settings, modes, model, images, methods, randomiser, targets, data) -> dict:
    """sanity.json's content while running: the settings, model, images, methods, groups and
    the fingerprint a resumed run must match."""
    ids = list(images.ids)
    method_params = {name: jsonable(dict(m.params)) for name, m in methods.items()}
    fingerprint = {
        "model": model.name,
        "weights_sha256": model.weights_sha256 or model.weights,
        "image_ids": ids,
        "image_sha256": image_sha256(images.ids, images.pixels),
        "targets": targets.tolist(),
        "method_params": method_params,
        "randomisation": {"rule": settings.rule, "seed": settings.seed, "granularity": settings.granularity},
        "groups": [g.name for g in randomiser.groups],
    }
    return {
        "command": "sanity",
        "test": "model-parameter randomisation (Adebayo et al. 2018)",
        "model": model.name,
        "weights": model.weights,
        "weights_sha256": model.weights_sha256,
        "input_size": list(model.input_size),
        "data": data[1],
        "data_dir": str(data[0]),
        "image_ids": ids,
        "authors": images.authors,
        "licenses": images.licenses,
        "labels": images.labels.tolist(),
        "targets": targets.tolist(),
        "target_rule": "the original model's top-1 class, at every step",
        "methods": settings.methods,
        "method_params": method_params,
        "sanity_defaults": {n: SANITY_DEFAULTS.get(n) for n in SANITY_DEFAULTS},
        "modes": list(modes),
        "randomisation": randomiser.describe(),
        "similarity": SIMILARITY,
        "fingerprint": fingerprint,
        "versions": package_versions(),
        "status": "running",
    }


def _compute(out: Path, prepared: PreparedSanity, choice: ExecutorChoice, started: float, log) -> None:
    """Compute the passes ``out`` lacks on the chosen executor, each written as it arrives: every
    method's step 0 first, then the randomised steps that are compared with it."""
    run, randomiser = prepared.run, prepared.worker.randomiser
    names, modes, steps = run["methods"], tuple(run["modes"]), randomiser.steps
    originals, skip = stored_passes(out, names, modes, steps)
    total = len(names) * (1 + steps * len(modes)) - len(originals) - len(skip)
    rand = run["randomisation"]
    log(
        f"sanity: {run['model']}, {len(run['image_ids'])} images, {len(names)} methods, {steps} steps "
        f"({rand['granularity']}: {', '.join(randomiser.step_names()[1:])}), rule {rand['rule']}, seed {rand['seed']}, "
        f"modes {', '.join(modes)}; {total} passes to run on the {choice.name} executor"
    )
    if total == 0:
        return
    bar, done = progress(total=total, desc="sanity", unit="passes"), []

    def on_result(unit, result) -> None:
        write_result(out, result, run["image_ids"])
        if result.step == 0:
            originals[result.method] = result.relevance
        done.append(result.seconds)
        bar.update(1)
        elapsed, left = time.perf_counter() - started, total - len(done)
        log(
            f"  {result.mode:11s} step {result.step:2d} {result.layer:12s} {result.method:13s} "
            f"{result.seconds:6.1f}s  spearman {np.nanmean(result.spearman):+.3f}  ssim {np.nanmean(result.ssim):+.3f}  "
            f"[{len(done)}/{total}, {elapsed / 60:.1f} min, ~{elapsed / len(done) * left / 60:.0f} min left]"
        )

    pixels, ids = prepared.images.pixels, run["image_ids"]
    executor = choice.make(prepared.spec, prepared.worker, log=log)
    try:
        executor.run(original_units([n for n in names if n not in originals], ids, pixels, prepared.targets), on_result)
        in_order = {name: originals[name] for name in names}
        executor.run(randomised_units(in_order, randomiser.groups, modes, ids, pixels, prepared.targets, skip), on_result)
    finally:
        executor.close()
        bar.close()


def _finish(out: Path, folder: ResumableFolder, prepared: PreparedSanity, started: float) -> None:
    """Read every record back; write the tables, the figures, the complete sanity.json and report.md."""
    run, randomiser = prepared.run, prepared.worker.randomiser
    tables, records = collect(out, run, randomiser.steps)
    run["status"] = "complete"
    run["wall_s_this_call"] = time.perf_counter() - started
    run["wall_s_calls"] = [*run.get("wall_s_calls", []), run["wall_s_this_call"]]
    run["map_contrast"] = map_contrast(out, run, randomiser.steps)
    run["compute_s"] = {name: sum(r["seconds"] for r in records if r["method"] == name) for name in run["methods"]}
    run["steps"] = step_info(records, randomiser.groups, tuple(run["modes"]), prepared.logit_std)
    run["summary"] = {m: summary(t, seed=run["randomisation"]["seed"]) for m, t in tables.items()}
    for m, table in tables.items():
        write_text(out / CSV_NAMES[m], table.to_csv(index=False))
    write_figures(out, run, tables)
    folder.write_manifest(run)
    write_text(out / "report.md", build_report(run, tables))
