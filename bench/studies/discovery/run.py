"""``bench discover``'s arguments and driver: the discovery run into a resumable folder.

The discovery is prepared whole (every argument checked, the models and images loaded, the
six layers of each model chosen) before anything is written; then, under the folder's lock,
the (model, layer) records the folder lacks are computed as units
(:mod:`bench.studies.discovery.units`) on an executor (:mod:`bench.execution`), the driver
alone writing them (:mod:`bench.studies.discovery.records`), and at the end the table,
figures and report.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.core.provenance import image_sha256, jsonable, package_versions
from bench.core.resumable import ResumableFolder
from bench.datasets import load_image_set, resolve_data_dir
from bench.execution import ExecutorChoice
from bench.run.profile import apply_overrides
from bench.studies.discovery.figures import write_figures
from bench.studies.discovery.records import collect, record_dir, write_record
from bench.studies.discovery.report import build_report
from bench.studies.discovery.units import DiscoveryResult, DiscoverySpec, DiscoveryUnit, DiscoveryWorker
from common.errors import InputError, UnknownNameError
from common.files import write_text
from common.progress import progress
from methods import build_method
from models import MODELS, get_model
from models.layers import discovery_layers, logits_layer, modules

# ---------------------------------------------------------------------------- arguments


def parse_layers(values: list[str] | None, models: list[str]) -> dict[str, list[str] | None]:
    """``--layers`` values (``auto``, ``NAME,...`` for every model, or ``MODEL=NAME,...``)
    -> model -> six names, or None for the thesis's rule."""
    chosen: dict[str, list[str] | None] = dict.fromkeys(models)
    default: list[str] | None = None
    for value in values or []:
        given, sep, names = value.partition("=")
        target = given if sep else None
        if not sep:
            names = value
        if target is not None and target not in models:
            raise InputError(f"--layers {value!r}: {target!r} is not one of the --model names ({', '.join(models)})")
        parsed = None if names.strip() == "auto" else [n.strip() for n in names.split(",") if n.strip()]
        if parsed is not None and len(parsed) != 6:
            raise InputError(
                f"--layers {value!r}: give six layer names (positions 1-6, the sixth the logits layer), or 'auto'; "
                f"got {len(parsed)}"
            )
        if target is None:
            default = parsed
        else:
            chosen[target] = parsed
    explicit = {v.partition("=")[0] for v in values or [] if "=" in v}
    return {m: (chosen[m] if m in explicit else default) for m in models}


def noise_mask_params(params: list[str] | None, preset: str | None) -> dict:
    """``--param noise_mask.KEY=VALUE`` and ``--preset`` -> the Noise Mask parameters."""
    sections = apply_overrides({"run": {}, "metrics": {}, "methods": {}}, params)
    other = sorted(set(sections["methods"]) - {"noise_mask"}) + (["metrics"] if sections["metrics"] else [])
    if other:
        raise InputError(f"--param: discover runs only Noise Mask; use noise_mask.KEY=VALUE (got sections {', '.join(other)})")
    values = dict(sections["methods"].get("noise_mask", {}))
    if "layer" in values:
        raise InputError("--param noise_mask.layer: discover sets the layer itself; choose layers with --layers")
    if preset is not None:
        if values.get("preset", preset) != preset:
            raise InputError(f"--preset {preset} and --param noise_mask.preset={values['preset']} disagree")
        values["preset"] = preset
    return values


# ---------------------------------------------------------------------------- the run


@dataclass
class PreparedDiscovery:
    """A discovery ready to compute: discovery.json's content and the models and images loaded."""

    run: dict
    loaded: dict
    """model name -> (the model, its images)."""
    spec: DiscoverySpec


def run_discovery(
    model_names: list[str],
    out_dir: str | Path,
    data_dir=None,
    image_ids: list[str] | None = None,
    layers: dict[str, list[str] | None] | None = None,
    params: dict | None = None,
    weights: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
    executor: str = "local",
    ray_address: str | None = None,
    executor_options: dict | None = None,
) -> Path:
    """Run the discovery into ``out_dir`` (resuming what is there) and write its outputs.
    ``executor``, ``ray_address``, ``executor_options``: where the (model, layer) records are
    computed (:class:`bench.execution.ExecutorChoice`); the driver writes them all."""
    choice = ExecutorChoice(executor, ray_address, dict(executor_options or {}))
    prepared = prepare_discovery(model_names, data_dir, image_ids, layers, params, weights, log)
    out, run = Path(out_dir), prepared.run
    folder = ResumableFolder(out, "discovery.json", "a discovery", "the same models, layers, images and Noise Mask settings")
    with folder.lock():
        previous = folder.resume(run["fingerprint"], log)
        if previous is not None:
            run["timings_s"] = previous.get("timings_s", {})
        folder.write_manifest(run)
        started = time.perf_counter()
        _compute(out, folder, prepared, _plan(out, prepared, log), choice, log)
        run["status"] = "complete"
        run["wall_s_this_call"] = time.perf_counter() - started
        folder.write_manifest(run)
        table, masks, targets = collect(out, run)
        write_text(out / "discovery.csv", table.to_csv(index=False))
        write_figures(out, run, table, masks, {name: images.pixels for name, (_, images) in prepared.loaded.items()})
        write_text(out / "report.md", build_report(run, table, targets))
    log(f"report: {out / 'report.md'}; table: {out / 'discovery.csv'}; figures: {out / 'figures'}")
    return out


def _check(model_names: list[str], image_ids: list[str] | None) -> None:
    if not model_names:
        raise InputError("discover needs at least one --model")
    if len(set(model_names)) != len(model_names):
        raise InputError(f"--model names repeat: {', '.join(model_names)}")
    unknown = [m for m in model_names if m not in MODELS]
    if unknown:
        raise UnknownNameError(f"unknown model {unknown[0]!r}; available: {', '.join(MODELS)}")
    if image_ids is not None and len(set(image_ids)) != len(image_ids):
        raise InputError(f"--images names an image twice: {', '.join(image_ids)}")


def prepare_discovery(model_names, data_dir, image_ids, layers, params, weights, log) -> PreparedDiscovery:
    """Check every argument, load each model and the images at its input size, and choose its
    six layers (``layers``: model -> six names, None for the thesis's rule); nothing is written."""
    _check(model_names, image_ids)
    layers = layers or dict.fromkeys(model_names)
    method = build_method("noise_mask", dict(params or {}))  # parameters checked before any model loads
    settings = {k: v for k, v in method.params.items() if k != "layer"}
    folder, data_description = resolve_data_dir(data_dir)
    loaded, info = {}, {}
    for name in model_names:
        model = get_model(name, weights=(weights or {}).get(name))
        loaded[name] = (model, _load_images(folder, model, image_ids))
        info[name] = _choose_layers(model, layers.get(name))
        rule = info[name]["layer_rule"]
        log(f"{name}: layers {', '.join(f'{p}={n}' for p, n in enumerate(info[name]['layers'], start=1))}  ({rule})")
    first_images = next(iter(loaded.values()))[1]
    ids = list(first_images.ids)
    fingerprint = {
        "models": model_names,
        "weights_sha256": {n: info[n]["weights_sha256"] or info[n]["weights"] for n in model_names},
        "layers": {n: info[n]["layers"] for n in model_names},
        "image_ids": ids,
        "image_sha256": _combined_sha(loaded),
        "noise_mask": jsonable(settings),
    }
    run = {
        "command": "discover",
        "data": data_description,
        "data_dir": str(folder),
        "image_ids": ids,
        "authors": first_images.authors,
        "licenses": first_images.licenses,
        "labels": first_images.labels.tolist(),
        "noise_mask": jsonable(settings),
        "models": jsonable(info),
        "fingerprint": fingerprint,
        "versions": package_versions(),
        "status": "running",
        "timings_s": {},
    }
    return PreparedDiscovery(run, loaded, DiscoverySpec({n: (weights or {}).get(n) for n in model_names}, settings))


def _load_images(folder: Path, model, image_ids: list[str] | None):
    """The images at ``model``'s input size; an unknown id is an :class:`InputError` naming it (and its near misses)."""
    try:
        return load_image_set(folder, size=model.input_size, ids=image_ids)
    except KeyError as err:
        known = _known_ids(folder)
        missing = [i for i in image_ids or [] if i not in known]
        hint = difflib.get_close_matches(missing[0], known, n=3) if missing else []
        raise InputError(
            f"--images: {len(missing)} of the {len(image_ids or [])} image ids are not in {folder}: "
            f"{', '.join(missing[:5])}" + (f" (did you mean {', '.join(hint)}?)" if hint else "")
        ) from err
    except (FileNotFoundError, ValueError) as err:
        raise InputError(str(err.args[0]) if err.args else str(err)) from None


def _choose_layers(model, chosen: list[str] | None) -> dict:
    """The model's entry in discovery.json: its six layers (``chosen``, checked, or the thesis's rule) and weights."""
    if chosen is None:
        chosen, rule = discovery_layers(model.keras_model), "auto (thesis Section 4.3 rule, models/layers.py)"
        found_modules = modules(model.keras_model)
    else:
        rule, found_modules = "given (--layers)", None
        _check_layers(model, chosen)
    return {
        "layers": chosen,
        "layer_rule": rule,
        "modules": found_modules,
        "weights": model.weights,
        "weights_sha256": model.weights_sha256,
        "input_size": list(model.input_size),
        "preprocessing": model.preprocessing,
    }


def _plan(out: Path, prepared: PreparedDiscovery, log) -> list[DiscoveryUnit]:
    """A unit per (model, layer) whose record ``out`` lacks."""
    units = []
    for name, (model, images) in prepared.loaded.items():
        output_layer = logits_layer(model.keras_model)
        for position, layer in enumerate(prepared.run["models"][name]["layers"], start=1):
            if (record_dir(out, name, position, layer) / "record.json").is_file():
                log(f"  {name} {position} {layer}: done before, skipped")
                continue
            layer_param = None if layer in (output_layer, "logits") else layer
            units.append(DiscoveryUnit(name, position, layer, layer_param, list(images.ids), images.pixels))
    return units


def _compute(out: Path, folder: ResumableFolder, prepared: PreparedDiscovery, units: list, choice: ExecutorChoice, log) -> None:
    """Compute ``units`` on the chosen executor; each record is written (and the manifest's timings) as it arrives."""
    if not units:
        return
    log(f"{len(units)} (model, layer) records to compute on the {choice.name} executor")
    run = prepared.run
    bar = progress(total=len(units), desc="discovery", unit="records")

    def on_result(unit: DiscoveryUnit, result: DiscoveryResult) -> None:
        write_record(out, unit, result)
        bar.update(1)
        run["timings_s"][f"{unit.model}/{unit.position}-{unit.layer}"] = result.seconds
        folder.write_manifest(run)
        loss = ", ".join(f"{v:.1f}" for v in result.diagnostics["loss_term_pct"])
        log(
            f"  {unit.model} {unit.position} {unit.layer}: {len(unit.image_ids)} images in {result.seconds:.0f}s; loss term % {loss}"
        )

    worker = DiscoveryWorker(prepared.spec, {n: model for n, (model, _) in prepared.loaded.items()})
    executor = choice.make(prepared.spec, worker, log=log)
    try:
        executor.run(units, on_result)
    finally:
        executor.close()
        bar.close()


def _known_ids(folder: Path) -> list[str]:
    try:
        return list(pd.read_csv(folder / "images.csv", dtype=str)["ImageId"])
    except (OSError, KeyError, ValueError):
        return []


def _check_layers(model, names: list[str]) -> None:
    known = model.layer_names
    absent = [n for n in names if n not in known and n != "logits"]
    if absent:
        hints = {n: difflib.get_close_matches(n, known, n=3) for n in absent}
        detail = "; ".join(f"{n!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for n, h in hints.items())
        raise UnknownNameError(
            f"--layers: model {model.name!r} has no layer {detail}; its layers: python -c \"from models import get_model; print(get_model('{model.name}').layer_names)\""
        )
    last = names[-1]
    if last not in ("logits", logits_layer(model.keras_model)):
        raise InputError(
            f"--layers: the sixth layer must be model {model.name!r}'s logits ({logits_layer(model.keras_model)!r}), "
            f"the mask every other layer's is compared with; got {last!r}"
        )


def _combined_sha(loaded: dict) -> dict[str, str]:
    """image id -> sha256 of its pixels as each model loads them (one hash per id)."""
    per_model = [image_sha256(images.ids, images.pixels) for _, images in loaded.values()]
    return {i: hashlib.sha256("".join(h[i] for h in per_model).encode()).hexdigest() for i in per_model[0]}
