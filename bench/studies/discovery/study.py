"""Model discovery (thesis Section 4.3): Noise Mask on six layers of each network.

``python -m bench discover --model M [...] --out DIR`` picks six layers per model by the
thesis's rule (:func:`models.layers.discovery_layers`, or ``--layers``), runs Noise Mask with
F_l = each layer's output on every image (beta0 per image and per layer), and writes

* ``DIR/discovery.json``: the settings, the layers chosen per model, the fingerprint a
  resumed run must match, timings;
* ``DIR/records/<model>/<position>-<layer>/``: ``masks.npy`` (N, H, W) and ``record.json``
  (per-image Noise Mask diagnostics), one record per (model, layer), written atomically;
  a rerun skips the records present; the records are computed as units
  (:mod:`bench.studies.discovery.units`) by the local or the Ray executor (``--executor ray``);
* ``DIR/discovery.csv``: one row per (model, layer, image) with :data:`CSV_COLUMNS`;
* ``DIR/report.md``: settings, layers, a table per model, and the thesis's observations,
  each tested as defined in :data:`OBSERVATIONS`;
* ``DIR/figures/masks_<image_id>.png`` (models x layers, as thesis Figures 9-11) and
  ``DIR/figures/by_layer.png``.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.provenance import image_sha256, jsonable, package_versions
from bench.core.resumable import ResumableFolder
from bench.datasets import credits_line
from bench.execution import make_executor
from bench.studies.discovery.units import DiscoveryResult, DiscoverySpec, DiscoveryUnit, DiscoveryWorker
from common.errors import CorruptFileError, InputError, UnknownNameError
from common.files import write_json, write_npy, write_text

CSV_COLUMNS = [
    "model",
    "layer",
    "position",
    "image_id",
    "loss_term_pct",
    "preservation",
    "iterations",
    "spread",
    "r_to_logits",
]
POSITION_NAMES = {
    1: "last layer of the third-last module",
    2: "middle layer of the second-last module",
    3: "last layer of the second-last module",
    4: "second-last layer of the last module",
    5: "last layer of the last module",
    6: "logits (the layer before the softmax)",
}
THESIS_LOSS_PCT = {
    "brambling (Fig. 9)": {
        "VGG16": [30, 37, 35, 30, 15, 3],
        "Inception V1": [25, 40, 35, 25, 14, 6],
        "ResNet V1 50": [30, 40, 40, 30, 22, 8],
    },
    "volleyball (Fig. 11)": {
        "VGG16": [42, 43, 39, 27, 23, 3],
        "Inception V1": [55, 36, 31, 24, 20, 6],
        "ResNet V1 50": [55, 53, 42, 34, 29, 10],
    },
}
"""The loss term (%) per position in the thesis's Figures 9 and 11 (Figure 10 prints none)."""
RESNET = "resnet50"


# ---------------------------------------------------------------------------- measures


def spread(mask: np.ndarray) -> float:
    """How far a mask's kept pixels spread over the image, as a fraction of the image side.

    Weights w = M / sum(M) (Noise Mask's M is ~1 where the network needs the pixel and ~0
    where noise may replace it, so the weights are the kept pixels). With (r, c) the row and
    column index of each pixel and var_r, var_c their w-weighted variances:

        spread = sqrt(var_r / H^2 + var_c / W^2)

    i.e. the w-weighted root-mean-square distance of the pixels from the mask's centroid, in
    units of the side (sqrt(var_r + var_c) / n for an n x n image). A single pixel gives 0; a
    uniform mask sqrt((n^2 - 1) / 6) / n (about 0.408); a mask on one small blob little more
    than the blob's radius / n. An all-zero mask gives NaN.
    """
    m = np.asarray(mask, np.float64)
    total = m.sum()
    if not np.isfinite(total) or total <= 0:
        return float("nan")
    h, w = m.shape
    rows, cols = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    p_rows, p_cols = m.sum(axis=1) / total, m.sum(axis=0) / total
    var_r = p_rows @ (rows - p_rows @ rows) ** 2
    var_c = p_cols @ (cols - p_cols @ cols) ** 2
    return float(np.sqrt(var_r / h**2 + var_c / w**2))


# ---------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class Verdict:
    subject: str
    """The model (or 'all models') the test ran on."""
    status: str
    """'held', 'not held' or 'not examined'."""
    evidence: str


def _means(df: pd.DataFrame, model: str, column: str) -> pd.Series:
    """Mean over images of ``column`` per position, for ``model``."""
    return df[df["model"] == model].groupby("position")[column].mean()


def _per_image(df: pd.DataFrame, model: str, column: str) -> pd.DataFrame:
    """image x position table of ``column`` for ``model``."""
    return df[df["model"] == model].pivot(index="image_id", columns="position", values=column)


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


MARGIN = 0.01
"""A difference counts only when it exceeds this fraction of the larger magnitude (so that
two equal values that differ in the sixth digit do not decide an observation)."""


def _beyond(a, b):
    """Whether ``b`` exceeds ``a`` by more than :data:`MARGIN` of the larger magnitude (elementwise)."""
    return (b - a) > MARGIN * np.maximum(np.abs(a), np.abs(b))


def _compare_positions(df, column: str, early: list[int], late: list[int], late_smaller: bool, unit: str = ""):
    """Per model: held when the mean over images of ``column`` averaged over positions ``late``
    is smaller (``late_smaller``) / larger than over ``early``, by more than :data:`MARGIN`; the
    evidence gives the per-position means and in how many images the same held."""
    verdicts = []
    for model in df["model"].unique():
        means, table = _means(df, model, column), _per_image(df, model, column)
        a, b = means[early].mean(), means[late].mean()
        per_image_a, per_image_b = table[early].mean(axis=1), table[late].mean(axis=1)
        if late_smaller:
            held, images = _beyond(b, a), int(_beyond(per_image_b, per_image_a).sum())
        else:
            held, images = _beyond(a, b), int(_beyond(per_image_a, per_image_b).sum())
        name = lambda ps: f"positions {ps[0]}-{ps[-1]}" if len(ps) > 1 else f"position {ps[0]}"  # noqa: E731
        verdicts.append(
            Verdict(
                model,
                "held" if held else "not held",
                f"{name(early)}: {_fmt(means[early])}{unit} (mean {a:.3g}); {name(late)}: {_fmt(means[late])}{unit} "
                f"(mean {b:.3g}); the same in {images} of {len(table)} images",
            )
        )
    return verdicts


def spread_gathers(df: pd.DataFrame) -> list[Verdict]:
    """The masks spread over the image in the first two examined layers, then gather: the mean
    spread at positions 1-2 is larger (by more than 1%) than at positions 4-5 (per model; mean
    over images)."""
    return _compare_positions(df, "spread", [1, 2], [4, 5], late_smaller=True)


def concentrates_on_subject(df: pd.DataFrame) -> list[Verdict]:
    """In the last module the masks concentrate on what the classifier recognises: the mean r
    to the logits' mask (position 6) is higher (by more than 1%) at positions 4-5 than at
    positions 1-2. (The
    images come without object boxes, so the logits' mask stands in for "the subject".)"""
    return _compare_positions(df, "r_to_logits", [1, 2], [4, 5], late_smaller=False)


def loss_falls(df: pd.DataFrame) -> list[Verdict]:
    """The loss term falls over the last module: the mean loss term at position 5 is below that
    at position 4, by more than 1% (per model; mean over images)."""
    return _compare_positions(df, "loss_term_pct", [4], [5], late_smaller=True, unit="%")


def _resnet_highest(df: pd.DataFrame, column: str, what: str, unit: str) -> list[Verdict]:
    models = list(df["model"].unique())
    if RESNET not in models or len(models) < 2:
        return [
            Verdict("all models", "not examined", f"needs {RESNET} and at least one other model (models: {', '.join(models)})")
        ]
    at6 = {m: _means(df, m, column)[6] for m in models}
    others = {m: v for m, v in at6.items() if m != RESNET}
    held = all(_beyond(v, at6[RESNET]) for v in others.values())
    listing = "; ".join(f"{m} {v:.3g}{unit}" for m, v in at6.items())
    return [Verdict("all models", "held" if held else "not held", f"mean {what} at position 6: {listing}")]


def resnet_keeps_more_loss(df: pd.DataFrame) -> list[Verdict]:
    """ResNet keeps more loss than the others at position 6: resnet50's mean loss term at
    position 6 is above every other model's by more than 1% (examined only when resnet50 and another model ran)."""
    return _resnet_highest(df, "loss_term_pct", "loss term", "%")


def resnet_keeps_more_background(df: pd.DataFrame) -> list[Verdict]:
    """ResNet keeps more background: resnet50's mean spread at position 6 is above every other
    model's by more than 1% (examined only when resnet50 and another model ran)."""
    return _resnet_highest(df, "spread", "spread", "")


@dataclass(frozen=True)
class Observation:
    thesis: str
    """What the thesis says (Section 4.3)."""
    test: Callable[[pd.DataFrame], list[Verdict]]

    @property
    def definition(self) -> str:
        return " ".join((self.test.__doc__ or "").split())


OBSERVATIONS = [
    Observation("The saliency points first spread over the image in the first two layers and then gather.", spread_gathers),
    Observation("Finally, it gradually concentrates on the recognized subject in the last modules.", concentrates_on_subject),
    Observation("The losses gradually decrease at the last module.", loss_falls),
    Observation("ResNet has more losses in the final few layers ...", resnet_keeps_more_loss),
    Observation("... and keeps more background.", resnet_keeps_more_background),
]


# ---------------------------------------------------------------------------- arguments


def parse_layers(values: list[str] | None, models: list[str]) -> dict[str, list[str] | None]:
    """``--layers`` values (``auto``, ``NAME,...`` for every model, or ``MODEL=NAME,...``)
    -> model -> six names, or None for the thesis's rule."""
    chosen: dict[str, list[str] | None] = dict.fromkeys(models)
    default: list[str] | None = None
    for value in values or []:
        target, sep, names = value.partition("=")
        if not sep:
            target, names = None, value
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
    from bench.run.profile import apply_overrides

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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def record_dir(out: Path, model: str, position: int, layer: str) -> Path:
    return out / "records" / _safe(model) / f"{position}-{_safe(layer)}"


# ---------------------------------------------------------------------------- the run


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
    computed (:func:`bench.execution.make_executor`); the driver writes them all."""
    from bench.datasets import load_image_set, resolve_data_dir
    from methods import build_method
    from models import MODELS, get_model
    from models.layers import discovery_layers, logits_layer, modules

    if not model_names:
        raise InputError("discover needs at least one --model")
    if len(set(model_names)) != len(model_names):
        raise InputError(f"--model names repeat: {', '.join(model_names)}")
    unknown = [m for m in model_names if m not in MODELS]
    if unknown:
        raise UnknownNameError(f"unknown model {unknown[0]!r}; available: {', '.join(MODELS)}")
    if image_ids is not None and len(set(image_ids)) != len(image_ids):
        raise InputError(f"--images names an image twice: {', '.join(image_ids)}")
    layers = layers or dict.fromkeys(model_names)
    method = build_method("noise_mask", dict(params or {}))  # parameters checked before any model loads
    settings = {k: v for k, v in method.params.items() if k != "layer"}
    folder, data_description = resolve_data_dir(data_dir)
    out = Path(out_dir)

    loaded, info = {}, {}
    for name in model_names:
        model = get_model(name, weights=(weights or {}).get(name))
        try:
            images = load_image_set(folder, size=model.input_size, ids=image_ids)
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
        chosen = layers.get(name)
        if chosen is None:
            chosen, rule = discovery_layers(model.keras_model), "auto (thesis Section 4.3 rule, models/layers.py)"
            found_modules = modules(model.keras_model)
        else:
            rule, found_modules = "given (--layers)", None
            _check_layers(model, chosen)
        loaded[name] = (model, images)
        info[name] = {
            "layers": chosen,
            "layer_rule": rule,
            "modules": found_modules,
            "weights": model.weights,
            "weights_sha256": model.weights_sha256,
            "input_size": list(model.input_size),
            "preprocessing": model.preprocessing,
        }
        log(f"{name}: layers {', '.join(f'{p}={n}' for p, n in enumerate(chosen, start=1))}  ({rule})")

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
    folder = ResumableFolder(out, "discovery.json", "a discovery", "the same models, layers, images and Noise Mask settings")
    with folder.lock():
        previous = folder.resume(fingerprint, log)
        if previous is not None:
            run["timings_s"] = previous.get("timings_s", {})
        folder.write_manifest(run)
        started = time.perf_counter()
        units = []
        for name, (model, images) in loaded.items():
            output_layer = logits_layer(model.keras_model)
            for position, layer in enumerate(info[name]["layers"], start=1):
                if (record_dir(out, name, position, layer) / "record.json").is_file():
                    log(f"  {name} {position} {layer}: done before, skipped")
                    continue
                layer_param = None if layer in (output_layer, "logits") else layer
                units.append(DiscoveryUnit(name, position, layer, layer_param, list(images.ids), images.pixels))
        if units:
            log(f"{len(units)} (model, layer) records to compute on the {executor} executor")

        def on_result(unit: DiscoveryUnit, result: DiscoveryResult) -> None:
            folder_out = record_dir(out, unit.model, unit.position, unit.layer)
            record = {
                "model": unit.model,
                "layer": unit.layer,
                "position": unit.position,
                "image_ids": unit.image_ids,
                "targets": result.targets.tolist(),
                "seconds": result.seconds,
                "values": {k: v.tolist() for k, v in result.diagnostics.items()},
            }
            write_npy(folder_out / "masks.npy", result.relevance)
            write_json(folder_out / "record.json", record)
            run["timings_s"][f"{unit.model}/{unit.position}-{unit.layer}"] = result.seconds
            folder.write_manifest(run)
            loss = ", ".join(f"{v:.1f}" for v in result.diagnostics["loss_term_pct"])
            log(
                f"  {unit.model} {unit.position} {unit.layer}: {len(unit.image_ids)} images in {result.seconds:.0f}s; loss term % {loss}"
            )

        if units:
            spec = DiscoverySpec({n: (weights or {}).get(n) for n in model_names}, settings)
            worker = DiscoveryWorker(spec, {n: model for n, (model, _) in loaded.items()})
            runner = make_executor(executor, spec, worker, ray_address, log=log, **(executor_options or {}))
            try:
                runner.run(units, on_result)
            finally:
                runner.close()
        run["status"] = "complete"
        run["wall_s_this_call"] = time.perf_counter() - started
        folder.write_manifest(run)
        table, masks, targets = collect(out, run)
        _write_csv(out / "discovery.csv", table)
        write_figures(out, run, table, masks, loaded)
        write_text(out / "report.md", build_report(run, table, targets))
    log(f"report: {out / 'report.md'}; table: {out / 'discovery.csv'}; figures: {out / 'figures'}")
    return out


def _known_ids(folder: Path) -> list[str]:
    try:
        return list(pd.read_csv(folder / "images.csv", dtype=str)["ImageId"])
    except (OSError, KeyError, ValueError):
        return []


def _check_layers(model, names: list[str]) -> None:
    from models.layers import logits_layer

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
    import hashlib

    per_model = [image_sha256(images.ids, images.pixels) for _, images in loaded.values()]
    return {i: hashlib.sha256("".join(h[i] for h in per_model).encode()).hexdigest() for i in per_model[0]}


def collect(out: Path, run: dict) -> tuple[pd.DataFrame, dict, dict]:
    """From the records: the discovery table (:data:`CSV_COLUMNS`), the masks
    {(model, position): (N, H, W)} and each model's top-1 class per image {model: [...]}."""
    rows, masks, targets = [], {}, {}
    for name, model_info in run["models"].items():
        for position, layer in enumerate(model_info["layers"], start=1):
            folder = record_dir(out, name, position, layer)
            try:
                record = json.loads((folder / "record.json").read_text())
                masks[name, position] = np.load(folder / "masks.npy")
            except (OSError, ValueError) as err:
                raise CorruptFileError(f"{folder} is incomplete or corrupt ({err}); delete that folder and run again") from None
            if record["image_ids"] != run["image_ids"] or len(masks[name, position]) != len(run["image_ids"]):
                raise CorruptFileError(f"{folder} holds other images than {out / 'discovery.json'}; delete that folder")
            values = record["values"]
            targets[name] = record["targets"]
            for k, image_id in enumerate(record["image_ids"]):
                rows.append(
                    {
                        "model": name,
                        "layer": layer,
                        "position": position,
                        "image_id": image_id,
                        "loss_term_pct": values["loss_term_pct"][k],
                        "preservation": values["preservation"][k],
                        "iterations": int(values["iterations"][k]),
                        "spread": spread(masks[name, position][k]),
                    }
                )
    table = pd.DataFrame(rows, columns=CSV_COLUMNS[:-1])
    from metrics import blurred_r

    r = []
    for row in table.itertuples():
        k = run["image_ids"].index(row.image_id)
        r.append(blurred_r(masks[row.model, row.position][k], masks[row.model, 6][k]))
    table["r_to_logits"] = r
    return table[CSV_COLUMNS], masks, targets


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    write_text(path, table.to_csv(index=False))


def write_figures(out: Path, run: dict, table: pd.DataFrame, masks: dict, loaded: dict) -> None:
    from bench.report.figures import discovery_by_layer_figure, discovery_masks_figure

    figures = out / "figures"
    for k, image_id in enumerate(run["image_ids"]):
        rows = []
        for name, model_info in run["models"].items():
            part = table[(table["model"] == name) & (table["image_id"] == image_id)].set_index("position")
            titles = [
                f"{p}: {layer}\nloss {part.loc[p, 'loss_term_pct']:.0f}%" for p, layer in enumerate(model_info["layers"], start=1)
            ]
            rows.append((name, loaded[name][1].pixels[k], [masks[name, p][k] for p in range(1, 7)], titles))
        credit = f"{image_id}: {run['authors'][k] or 'unknown author'}; {run['licenses'][k] or 'licence unknown'}"
        discovery_masks_figure(rows, figures / f"masks_{_safe(image_id)}.png", credit)
    discovery_by_layer_figure(table, figures / "by_layer.png")


# ---------------------------------------------------------------------------- report


def build_report(run: dict, table: pd.DataFrame, targets: dict) -> str:
    from bench.datasets.imagenet import class_name

    nm = run["noise_mask"]
    lines = [
        "# Model discovery (thesis Section 4.3)",
        "",
        "Noise Mask applied to six layers of each network (F_l = the layer's output; beta0 per image and layer).",
        "",
        "## Settings",
        "",
        f"- data: {run['data']}; images: {', '.join(run['image_ids'])}",
        f"- Noise Mask: preset {nm.get('preset')}, learning rate {nm.get('learning_rate')}, max iterations "
        f"{nm.get('max_iterations')}, window {nm.get('window')}, tolerance {nm.get('tolerance')}, init {nm.get('init')}, "
        f"seed {nm.get('seed')}, beta {'beta0' if nm.get('beta') is None else nm.get('beta')} "
        f"({nm.get('beta_draws')} draws), loss term on {nm.get('eval_draws')} fixed draws",
        f"- compute time of the records: {sum(run['timings_s'].values()):.0f} s in all",
        "- spread: the mask-weighted RMS distance of the pixels from the mask's centroid, as a fraction of the image "
        "side (0 = one pixel; 0.41 = a uniform mask); r: Pearson r (after a 2-px blur) to the same model's logit-layer "
        "mask of the image",
        "",
        "## Layers",
        "",
        "| position | what |" + "".join(f" {m} |" for m in run["models"]),
        "|---|---|" + "---|" * len(run["models"]),
    ]
    for p in range(1, 7):
        lines.append(f"| {p} | {POSITION_NAMES[p]} |" + "".join(f" {i['layers'][p - 1]} |" for i in run["models"].values()))
    lines.append("")
    for name, model_info in run["models"].items():
        lines.append(f"- {name}: {model_info['layer_rule']}; weights {model_info['weights']}")
        if model_info.get("modules"):
            lines.append(
                f"  - modules (split at down-sampling): {len(model_info['modules'])}; the last three: "
                + "; ".join(f"[{', '.join(m)}]" for m in model_info["modules"][-3:])
            )
    lines += ["", "## Per model: loss term %, spread and r by layer and image", ""]
    for name in run["models"]:
        part = table[table["model"] == name]
        lines += [f"### {name}", ""]
        header = "| position | layer |" + "".join(f" {i} |" for i in run["image_ids"]) + " mean |"
        lines += [
            "Each cell: loss term % / spread / r to the logits' mask.",
            "",
            header,
            "|---|---|" + "---|" * (len(run["image_ids"]) + 1),
        ]
        for p in range(1, 7):
            rows = part[part["position"] == p].set_index("image_id")
            cells = [
                f"{rows.loc[i, 'loss_term_pct']:.1f} / {rows.loc[i, 'spread']:.3f} / {rows.loc[i, 'r_to_logits']:.2f}"
                for i in run["image_ids"]
            ]
            mean = f"{rows['loss_term_pct'].mean():.1f} / {rows['spread'].mean():.3f} / {rows['r_to_logits'].mean():.2f}"
            lines.append(f"| {p} | {rows['layer'].iloc[0]} |" + "".join(f" {c} |" for c in cells) + f" {mean} |")
        lines.append("")
    labels = run.get("labels") or [-1] * len(run["image_ids"])
    lines += ["Labels and each model's top-1 class:", ""]
    for k, image_id in enumerate(run["image_ids"]):
        label = class_name(labels[k]) if labels[k] >= 0 else "no label"
        tops = ", ".join(f"{m} {class_name(t[k])}" for m, t in targets.items())
        lines.append(f"- {image_id}: label {label}; top-1: {tops}")
    lines.append("")
    lines += ["## The thesis's observations, measured", ""]
    for k, obs in enumerate(OBSERVATIONS, start=1):
        lines += [f'{k}. Thesis: "{obs.thesis}"', f"   Test: {obs.definition}"]
        for verdict in obs.test(table):
            lines.append(f"   - {verdict.subject}: **{verdict.status}** ({verdict.evidence})")
        lines.append("")
    lines += ["## The thesis's loss terms for comparison (its Figures 9 and 11)", ""]
    lines += ["| image | model | " + " | ".join(f"pos {p}" for p in range(1, 7)) + " |", "|---|---|" + "---|" * 6]
    for image, per_model in THESIS_LOSS_PCT.items():
        for model, values in per_model.items():
            lines.append(f"| {image} | {model} | " + " | ".join(f"{v}%" for v in values) + " |")
    lines += [
        "",
        "The thesis used TF-slim VGG16, Inception V1 and ResNet V1 50; Keras has no Inception V1 application.",
        "",
        "## Figures",
        "",
        "- `figures/masks_<image_id>.png`: the masks per model (rows) and layer (columns), loss term in each title",
        "- `figures/by_layer.png`: loss term, spread and r by layer position (mean over images; faint: per image)",
        "",
        credits_line(run["image_ids"], run["authors"], run["licenses"]),
        "",
    ]
    return "\n".join(lines)
