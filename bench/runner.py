"""A benchmark run: every method and metric on an image set, resumable, into a RUN_DIR.

data -> model -> method -> relevance map -> metrics (curves, ABPC, PNG size, SSIM) ->
records (bench.results) -> report (bench.report).
"""
from __future__ import annotations

import hashlib
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np

import metrics
from bench.datasets import ImageSet, load_image_set, resolve_data_dir
from models import ModelWrapper, get_model
from common.progress import progress
from bench.results import RANDOM, RunStore
from methods import get_method

PACKAGES = ["noise-mask-bench", "tensorflow-cpu", "tensorflow", "tf-keras", "numpy", "pandas", "scikit-image", "innvestigate", "quantus"]


class RunError(RuntimeError):
    """The run cannot start or continue as asked; the message says what to do."""


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


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


def settings_fingerprint(run: dict) -> dict:
    """What must match for a RUN_DIR to be resumed."""
    return {k: run[k] for k in ("model", "weights_sha256", "image_ids", "methods", "method_params", "metrics_settings")}


def run_benchmark(profile: dict, out_dir: str | Path, data_dir=None, weights=None, log: Callable[[str], None] = print) -> Path:
    settings = profile["run"]
    metric_settings = dict(profile["metrics"])
    store = RunStore(out_dir)

    folder, data_description = resolve_data_dir(data_dir)
    is_embedded = "embedded" in data_description
    if settings.get("requires_nips") and is_embedded:
        raise RunError(
            f"profile {profile['name']!r} needs the NIPS-2017 development set, and none was found "
            "(data/nips17 or --data-dir). Fetch it with Kaggle credentials: python -m bench fetch "
            "(or import a local copy: python -m bench fetch --source PATH)."
        )
    model = get_model(settings["model"], weights=weights)
    images = select_images(load_image_set(folder, size=model.input_size), settings.get("images"), settings.get("selection", "first"), settings.get("seed", 0))
    method_names = list(settings["methods"])
    try:
        method_objects = {name: get_method(name)(**profile["methods"].get(name, {})) for name in method_names}
    except (KeyError, TypeError, ValueError) as err:  # unknown method, parameter or preset: the message names it
        raise RunError(str(err.args[0])) from None
    steps = int(metric_settings["steps"])
    pps = resolve_pixels_per_step(metric_settings["pixels_per_step"], model.input_size, steps)
    metric_settings["pixels_per_step"] = pps
    seeds = [image_seed(settings.get("seed", 0), i) for i in images.ids]
    # targets=None: the evaluator scores the unperturbed images once and takes each top-1
    # class; chunks below share those scores through evaluator.subset.
    evaluator = metrics.CurveEvaluator(model, images.pixels, None, pixels_per_step=pps, steps=steps, seed=seeds, batch_size=int(metric_settings["batch_size"]))
    targets = evaluator.targets

    run = {
        "profile": profile["name"], "profile_source": profile["source"], "description": profile.get("description", ""),
        "model": model.name, "model_input_size": list(model.input_size), "preprocessing": model.preprocessing,
        "weights": model.weights, "weights_sha256": model.weights_sha256,
        "data": data_description, "data_dir": str(folder), "embedded_data": is_embedded,
        "image_ids": images.ids, "authors": images.authors, "licenses": images.licenses,
        "targets": targets.tolist(), "labels": images.labels.tolist(),
        "methods": method_names, "method_params": {n: m.params for n, m in method_objects.items()},
        "metrics_settings": metric_settings, "seed": settings.get("seed", 0),
        "input_space_zero_pixel": model.input_space_zeros()[0, 0].round(2).tolist(),
        "versions": package_versions(), "status": "running", "timings_s": {},
    }
    previous = store.read_run()
    if previous is not None:
        if settings_fingerprint(previous) != settings_fingerprint(_jsonable(run)):
            raise RunError(
                f"{store.root} holds a run with different settings (model, images, methods or parameters); "
                "resume only with the same settings, or choose another --out."
            )
        run["timings_s"] = previous.get("timings_s", {})
        log(f"resuming the run in {store.root}")
    log(f"model: {model.name} (weights: {model.weights})")
    log(f"data:  {data_description}, {len(images)} images")
    log(f"methods: {', '.join(method_names)}; curves: {steps} steps of {pps} pixels")
    log(f"estimated time: {estimate_minutes(model, images, method_objects, steps, store):.0f} min on this machine (rough)")
    store.write_run(_jsonable(run))

    timings = run["timings_s"]

    start = time.perf_counter()
    missing = [k for k, i in enumerate(images.ids) if not store.has(RANDOM, i)]
    if missing:
        random = evaluator.subset(missing).random_curves()
        for row, k in enumerate(missing):
            store.save_record(RANDOM, images.ids[k], {RANDOM: (random.logits[row], random.probs[row])}, {})
    timings["random_curves"] = timings.get("random_curves", 0.0) + time.perf_counter() - start

    for name, method in method_objects.items():
        pending = [k for k, i in enumerate(images.ids) if not store.has(name, i)]
        if not pending:
            continue
        chunk = int(method.params.get("batch_size", 8))
        bar = progress(total=len(pending), desc=name)
        for lo in range(0, len(pending), chunk):
            idx = pending[lo : lo + chunk]
            t0 = time.perf_counter()
            explanation = method.explain(model, images.pixels[idx], targets[idx])
            t1 = time.perf_counter()
            sub = evaluator.subset(idx)
            morf = sub.curves(explanation.relevance, "morf")
            lerf = sub.curves(explanation.relevance, "lerf")
            for row, k in enumerate(idx):
                gray = metrics.grayscale_map(explanation.relevance[row])
                values = image_metrics(gray, images.pixels[k], morf, lerf, row, metric_settings)
                values["method_seconds"] = explanation.seconds / len(idx)
                values.update(method_diagnostics(explanation.info, row))
                store.save_map(name, images.ids[k], explanation.relevance[row], gray)
                store.save_record(name, images.ids[k], {"morf": (morf.logits[row], morf.probs[row]), "lerf": (lerf.logits[row], lerf.probs[row])},
                                  values, method_series(explanation.info, row))
            t2 = time.perf_counter()
            timings[f"{name}/explain"] = timings.get(f"{name}/explain", 0.0) + t1 - t0
            timings[f"{name}/metrics"] = timings.get(f"{name}/metrics", 0.0) + t2 - t1
            store.write_run(_jsonable(run))
            bar.update(len(idx))
            log(f"  {name}: {min(lo + chunk, len(pending))}/{len(pending)} images ({t1 - t0:.1f}s explain, {t2 - t1:.1f}s metrics)")
        bar.close()

    run["status"] = "complete"
    store.write_run(_jsonable(run))
    from bench.report import write_report

    write_report(store.root)  # consolidates metrics.csv and curves.csv from the records first
    log(f"report: {store.root / 'report.md'}")
    return store.root


def image_metrics(gray: np.ndarray, image: np.ndarray, morf, lerf, row: int, settings: dict) -> dict[str, float]:
    logit_area = metrics.abpc(lerf.logits[row], morf.logits[row])
    prob_area = metrics.abpc(100 * lerf.probs[row], 100 * morf.probs[row])
    return {
        "png_bytes": metrics.png_size(gray, level=int(settings["png_compress_level"])),
        "ssim": metrics.ssim_to_image(gray, image),
        "abpc_sum_logit": float(logit_area.sum),
        "abpc_mean_logit": float(logit_area.mean),
        "abpc_sum_prob_pct": float(prob_area.sum),
        "abpc_mean_prob_pct": float(prob_area.mean),
    }


def method_series(info: dict, row: int) -> dict[str, np.ndarray]:
    """Per-image arrays a method reports (2-D info entries, one row per image), NaN padding cut."""
    out = {}
    for key, value in info.items():
        arr = np.asarray(value)
        if arr.ndim == 2 and arr.dtype.kind == "f":
            series = arr[row]
            out[key] = series[~np.isnan(series)]
    return out


def method_diagnostics(info: dict, row: int) -> dict[str, float]:
    """Per-image scalars a method reports (e.g. Noise Mask's preservation and loss term)."""
    out = {}
    for key, value in info.items():
        arr = np.asarray(value)
        if arr.ndim == 1 and arr.dtype.kind in "fiub":
            out[key] = float(arr[row])
    if "loss_term" in out:
        out["loss_term_pct"] = 100 * out.pop("loss_term")
    return out


def estimate_minutes(model: ModelWrapper, images: ImageSet, method_objects: dict, steps: int, store: RunStore) -> float:
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
    n = len(images)
    total = n * (2 * len(method_objects) + 1) * steps * forward
    for name, method in method_objects.items():
        todo = sum(not store.has(name, i) for i in images.ids)
        p = method.params
        per_image = {
            "noise_mask": p.get("max_iterations", 0) * backward,
            "intgrad": p.get("steps", 100) * backward,
            "perturbation": ((model.input_size[0] // max(1, p.get("stride", 8))) ** 2) * forward,
        }.get(name, 2 * backward)
        total += todo * per_image
    return total / 60


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
