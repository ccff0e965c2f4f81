"""The model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

Does a map depend on the model at all? ``python -m bench sanity --model M --methods a,b --out DIR``
explains the images with the original model (step 0), then with copies whose weights are
randomised group by group from the top (:mod:`models.randomisation`: the logits first, then
the head, the blocks and the stem; cascading, and optionally each group alone), always for
the original model's top-1 class, and compares every map with the original one:

* ``spearman``: Spearman rank correlation of abs(relevance), flattened (Quantus's
  ``correlation_spearman``; MPRT's default similarity);
* ``ssim``: SSIM of the two (H, W) maps after Quantus MPRT's preprocessing (normalise by the
  maximum absolute value, then abs), with Quantus's ``ssim`` (skimage's
  ``structural_similarity``, data range = max - min over both maps).

(Quantus 0.6.0's MPRT normalises a whole batch by one maximum, so its values equal these with
``batch_size=1``; and it flattens maps before the similarity, so its SSIM is a 1-D SSIM of
the flattened map: :func:`ssim` with ``flat=True`` reproduces that for the cross-check.)

A method that explains the model falls to about 0 once the weights are random; one that
gives nearly the same map fails the test. Written to ``DIR``:

* ``randomisation.csv`` (cascading; :data:`CSV_COLUMNS`, step 0 = the original model, whose
  similarity is 1) and ``randomisation-independent.csv`` (``--mode independent`` or ``both``);
* ``sanity.json``: settings, model and weights, image ids, methods and parameters, seeds, the
  groups, per step the randomised model's top-1 agreement with the original, per-method
  summary and compute time, wall time, versions;
* ``report.md`` (summary, per-step table, figures, cost); ``figures/randomisation.png`` (mean
  similarity per step, band = min..max over images) and ``figures/maps_<image_id>.png`` (the
  first image's maps at every step);
* ``records/`` and ``maps/``: one record per (mode, method, step), written atomically; a rerun
  with the same settings skips what is done (``maps/<method>/original.npy``: the step-0
  relevance, float32; ``maps/<mode>/<method>/stepNN.npy``: abs(relevance) / max, float16).

:func:`report_section` gives a run report the markdown of a sanity folder.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.jsonfiles import read_json_file
from bench.core.plotting import plt, save_figure
from bench.core.provenance import image_sha256, jsonable, package_versions
from bench.core.resumable import ResumableFolder
from bench.datasets import credits_line
from common.errors import CorruptFileError, InputError
from common.files import write_json, write_npy, write_text
from metrics.per_image import MetricInfo

SANITY_FOLDER = "sanity"
"""A run's (and a check's) sanity folder, shown in its report and export, frozen into its
reference: ``python -m bench sanity ... --out RUN_DIR/sanity``."""
CSV_COLUMNS = ["method", "image_id", "step", "layer", "spearman", "ssim"]
CSV_NAMES = {"cascading": "randomisation.csv", "independent": "randomisation-independent.csv"}
SANITY_DEFAULTS: dict[str, dict] = {
    # Noise Mask at the fast preset's learning rate (0.06) for 300 steps, not 3,200: one
    # pass per step and 11 steps must fit a run of minutes, not hours
    "noise_mask": {"preset": "fast", "max_iterations": 300, "window": 300},
    # occlusion's 15x15 window every 8 pixels instead of 4: a quarter of the forward passes
    "occlusion": {"stride": 8},
}
"""Cheaper defaults for the slow methods (each step explains every image again); ``--param``
overrides them. Keyed by the method's canonical name (``perturbation`` is ``occlusion``)."""
NEAR_ZERO = 0.2
"""A method "falls to about 0" when the 95% bootstrap CI of its mean Spearman after full
randomisation lies inside (-NEAR_ZERO, NEAR_ZERO)."""
STAYS_SIMILAR = 0.5
"""... and "stays similar" (fails the test) when the CI's lower end is at least this."""
N_BOOT = 2000
SUMMARY_METRICS = {
    column: MetricInfo(
        f"randomisation_{column}",
        "1",
        False,
        f"mean {label} between a map and the map of the fully randomised model (cascading MPRT); a method that explains "
        "the model falls to about 0",
    )
    for column, label in (("spearman", "Spearman rank correlation of abs relevance"), ("ssim", "SSIM of the normalised abs maps"))
}
"""The summary numbers a dashboard charts (``bench export``) and ``bench check`` compares:
lower is better, the test's pass is about 0."""


def read_table(folder: Path, mode: str = "cascading") -> pd.DataFrame:
    """A finished sanity folder's table for ``mode`` (:data:`CSV_COLUMNS`), values exact."""
    path = Path(folder) / CSV_NAMES[mode]
    try:
        return pd.read_csv(path, dtype={"image_id": str, "method": str}, float_precision="round_trip")
    except (OSError, ValueError) as err:
        raise CorruptFileError(f"{path} is unreadable ({err}); rerun the bench sanity command that made it") from None


def final_values(table: pd.DataFrame, method: str, metric: str, image_ids: list[str]) -> np.ndarray:
    """Per image (in ``image_ids`` order): ``method``'s similarity ``metric`` (a
    :data:`SUMMARY_METRICS` name) after full randomisation, from a cascading table."""
    (column,) = [c for c, info in SUMMARY_METRICS.items() if info.name == metric]
    part = table[(table["method"] == method) & (table["step"] == table["step"].max())]
    return part.set_index("image_id")[column].reindex(image_ids).to_numpy(np.float64)


# ---------------------------------------------------------------------------- similarity


def prepare(relevance: np.ndarray) -> np.ndarray:
    """Quantus MPRT's preprocessing of one map: divided by its maximum absolute value (unless
    all zero), then abs (``normalise_by_max`` then ``np.abs``)."""
    a = np.asarray(relevance)
    peak = np.max(np.abs(a))
    return np.abs(a if peak == 0 or not np.isfinite(peak) else np.divide(a, peak))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of abs(a) and abs(b), flattened; 1.0 for identical maps, NaN
    when either is constant (e.g. all zero)."""
    a, b = prepare(a).ravel(), prepare(b).ravel()
    if np.array_equal(a, b):
        return 1.0
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's ConstantInputWarning: NaN says it
        return float(spearmanr(a, b)[0])


def ssim(a: np.ndarray, b: np.ndarray, flat: bool = False) -> float:
    """SSIM of the prepared maps (:func:`prepare`), as Quantus's ``similarity_func.ssim``
    computes it: skimage's ``structural_similarity`` with its default 7-pixel window and
    data range max - min over both maps. ``flat``: on the flattened maps, as Quantus's MPRT
    passes them. 1.0 for identical maps; NaN for two different constant maps."""
    a, b = prepare(a), prepare(b)
    if flat:
        a, b = a.ravel(), b.ravel()
    if np.array_equal(a, b):
        return 1.0
    both = np.concatenate([a, b])
    data_range = float(np.abs(np.max(both) - np.min(both)))
    if data_range == 0 or not np.isfinite(data_range):
        return float("nan")
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, win_size=None, data_range=data_range))


def similarities(original: np.ndarray, randomised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image (Spearman, SSIM) of two stacks of maps (N, H, W)."""
    s = np.array([spearman(a, b) for a, b in zip(original, randomised)], np.float64)
    q = np.array([ssim(a, b) for a, b in zip(original, randomised)], np.float64)
    return s, q


# ---------------------------------------------------------------------------- the test


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
    relevance: np.ndarray
    model_info: dict = field(default_factory=dict)
    """The randomised model: its top-1 agreement with the original and its logits' std."""


def run_randomisation(
    model,
    pixels: np.ndarray,
    methods: dict,
    randomiser,
    modes: tuple[str, ...] = ("cascading",),
    targets: np.ndarray | None = None,
    originals: dict[str, np.ndarray] | None = None,
    skip: set | frozenset = frozenset(),
) -> Iterator[StepResult]:
    """Yield the step-0 result of every method (unless its map is in ``originals``), then per
    mode and step the result of every method not in ``skip`` (a set of (mode, method, step)).

    ``methods``: name -> anything with ``explain(model, images, targets)`` returning an object
    with ``.relevance`` (N, H, W) (a :class:`methods.SaliencyMethod`). Targets default to the
    original model's top-1 class, used at every step. The randomised models are made by
    ``randomiser`` (a :class:`models.randomisation.ParameterRandomiser` of ``model``).
    """
    targets = model.top1(pixels) if targets is None else np.asarray(targets)
    originals = dict(originals or {})
    for name, method in methods.items():
        if name in originals:
            continue
        t0 = time.perf_counter()
        relevance = np.asarray(method.explain(model, pixels, targets).relevance, np.float32)
        originals[name] = relevance
        s, q = similarities(relevance, relevance)
        yield StepResult(name, "original", 0, "original", s, q, time.perf_counter() - t0, relevance)
    for mode in modes:
        wrapper = None
        for step, group, randomised in randomiser.iterate(mode, wrapper):
            pending = [n for n in methods if (mode, n, step) not in skip]
            if not pending:
                continue
            logits = randomised.logits(pixels)
            info = {"top1_kept": float(np.mean(logits.argmax(axis=1) == targets)), "logit_std": float(np.std(logits))}
            for name in pending:
                t0 = time.perf_counter()
                relevance = np.asarray(methods[name].explain(randomised, pixels, targets).relevance, np.float32)
                s, q = similarities(originals[name], relevance)
                yield StepResult(name, mode, step, group.name, s, q, time.perf_counter() - t0, relevance, info)


def randomisation_table(results: list[StepResult], image_ids: list[str], mode: str = "cascading") -> pd.DataFrame:
    """The rows of :data:`CSV_COLUMNS` for ``mode`` (step 0 rows included), by method then step."""
    rows = []
    for r in results:
        if r.mode not in (mode, "original"):
            continue
        for k, image_id in enumerate(image_ids):
            rows.append([r.method, image_id, r.step, r.layer, float(r.spearman[k]), float(r.ssim[k])])
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    order = {m: k for k, m in enumerate(dict.fromkeys(r.method for r in results))}
    table["_m"] = table["method"].map(order)
    table["_i"] = table["image_id"].map({i: k for k, i in enumerate(image_ids)})
    return table.sort_values(["_m", "step", "_i"], kind="stable").drop(columns=["_m", "_i"]).reset_index(drop=True)


# ---------------------------------------------------------------------------- summary


def _finite(values) -> np.ndarray:
    v = np.asarray(values, np.float64)
    return v[np.isfinite(v)]


def summary(table: pd.DataFrame, seed: int = 0) -> dict[str, dict]:
    """Per method: mean, 95% bootstrap CI, min and max over images of Spearman and SSIM at the
    last step (full randomisation, in cascading mode), the number of NaN values, and a verdict
    (:data:`NEAR_ZERO`, :data:`STAYS_SIMILAR`)."""
    from metrics import summarise

    out = {}
    last = int(table["step"].max())
    for method, part in table.groupby("method", sort=False):
        final = part[part["step"] == last]
        entry = {"step": last, "layer": str(final["layer"].iloc[0]) if len(final) else None}
        entry["nan"] = {c: int(final[c].isna().sum()) for c in ("spearman", "ssim")}
        for column in ("spearman", "ssim"):
            v = _finite(final[column])
            if len(v) == 0:
                entry[column] = None
                continue
            s = summarise(v, n_boot=N_BOOT, seed=seed)
            entry[column] = {
                "mean": s.mean,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "min": float(v.min()),
                "max": float(v.max()),
                "n": int(len(v)),
                "nan": int(len(final) - len(v)),
            }
        entry["verdict"] = verdict(entry["spearman"])
        out[str(method)] = entry
    return out


def verdict(stats: dict | None) -> str:
    if stats is None:
        return "n/a (no finite similarity)"
    if -NEAR_ZERO < stats["ci_low"] and stats["ci_high"] < NEAR_ZERO:
        return "falls to ~0 (passes)"
    if stats["ci_low"] >= STAYS_SIMILAR:
        return "stays similar (fails)"
    return "drops only partly"


# ---------------------------------------------------------------------------- the command


def sanity_params(method_names: list[str], params: dict[str, dict] | None) -> dict[str, dict]:
    """Each method's parameters: :data:`SANITY_DEFAULTS` under the ``--param`` values."""
    from methods import ALIASES

    params = dict(params or {})
    unknown = sorted(set(params) - set(method_names))
    if unknown:
        raise InputError(f"--param {unknown[0]}.KEY: {unknown[0]!r} is not one of --methods ({', '.join(method_names)})")
    return {name: {**SANITY_DEFAULTS.get(ALIASES.get(name, name), {}), **params.get(name, {})} for name in method_names}


def _record_path(out: Path, mode: str, method: str, step: int) -> Path:
    return out / "records" / mode / method / f"step{step:02d}.json"


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
) -> Path:
    """Run the randomisation test into ``out_dir`` (resuming what is there) and write its outputs.
    ``image_ids``: these images, in this order (default: the data folder's, cut to ``limit``).
    Every argument is checked, and the model and images loaded, before anything is written."""
    from bench.datasets import load_image_set, resolve_data_dir
    from common.progress import progress
    from methods import build_method
    from models import MODELS, get_model
    from models.randomisation import GRANULARITIES, MODES, RULES, ParameterRandomiser

    started = time.perf_counter()
    if not method_names:
        raise InputError("--methods: give at least one method")
    if len(set(method_names)) != len(method_names):
        raise InputError(f"--methods names a method twice: {', '.join(method_names)}")
    for value, allowed, what in ((granularity, GRANULARITIES, "--granularity"), (rule, RULES, "--rule")):
        if value not in allowed:
            raise InputError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    modes = MODES if mode == "both" else (mode,)
    if mode != "both" and mode not in MODES:
        raise InputError(f"--mode must be cascading, independent or both; got {mode!r}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1; got {limit}")
    chosen = sanity_params(method_names, params)
    methods = {name: build_method(name, chosen[name]) for name in method_names}  # checked before any model loads
    if model_name not in MODELS:
        from common.errors import UnknownNameError

        raise UnknownNameError(f"unknown model {model_name!r}; available: {', '.join(MODELS)}")
    folder, data_description = resolve_data_dir(data_dir)
    model = get_model(model_name, weights=weights)
    try:
        images = load_image_set(folder, size=model.input_size, limit=limit, ids=image_ids)
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise InputError(str(err.args[0]) if err.args else str(err)) from None
    if len(images) == 0:
        raise InputError(f"{folder} holds no images")
    randomiser = ParameterRandomiser(model, granularity=granularity, rule=rule, seed=seed)
    original_logits = model.logits(images.pixels)
    targets = original_logits.argmax(axis=1)
    ids = list(images.ids)
    method_params = {name: jsonable(dict(m.params)) for name, m in methods.items()}
    fingerprint = {
        "model": model.name,
        "weights_sha256": model.weights_sha256 or model.weights,
        "image_ids": ids,
        "image_sha256": image_sha256(images.ids, images.pixels),
        "targets": targets.tolist(),
        "method_params": method_params,
        "randomisation": {"rule": rule, "seed": seed, "granularity": granularity},
        "groups": [g.name for g in randomiser.groups],
    }
    run = {
        "command": "sanity",
        "test": "model-parameter randomisation (Adebayo et al. 2018)",
        "model": model.name,
        "weights": model.weights,
        "weights_sha256": model.weights_sha256,
        "input_size": list(model.input_size),
        "data": data_description,
        "data_dir": str(folder),
        "image_ids": ids,
        "authors": images.authors,
        "licenses": images.licenses,
        "labels": images.labels.tolist(),
        "targets": targets.tolist(),
        "target_rule": "the original model's top-1 class, at every step",
        "methods": method_names,
        "method_params": method_params,
        "sanity_defaults": {n: SANITY_DEFAULTS.get(n) for n in SANITY_DEFAULTS},
        "modes": list(modes),
        "randomisation": randomiser.describe(),
        "similarity": {
            "spearman": "Spearman rank correlation of abs(relevance), flattened (Quantus correlation_spearman)",
            "ssim": "SSIM of abs(relevance) / max|relevance| (Quantus ssim: skimage, 7-px window, data range max-min of both)",
        },
        "fingerprint": fingerprint,
        "versions": package_versions(),
        "status": "running",
    }
    out = Path(out_dir)
    folder = ResumableFolder(
        out, "sanity.json", "a sanity run", "the same model, images, methods and parameters, and randomisation"
    )
    with folder.lock():
        previous = folder.resume(fingerprint, log)
        if previous is not None:
            calls = previous.get("wall_s_calls")
            if calls is None and "wall_s_this_call" in previous:
                calls = [previous["wall_s_this_call"]]
            run["wall_s_calls"] = list(calls or [])
        folder.write_manifest(run)

        originals, skip = {}, set()
        for name in method_names:
            if read_json_file(_record_path(out, "original", name, 0)) is not None:
                try:
                    originals[name] = np.load(out / "maps" / name / "original.npy")
                except (OSError, ValueError) as err:
                    raise CorruptFileError(f"{out / 'maps' / name / 'original.npy'} is unreadable ({err}); delete it") from None
            for m in modes:
                for step in range(1, randomiser.steps + 1):
                    if read_json_file(_record_path(out, m, name, step)) is not None:
                        skip.add((m, name, step))
        total = len(method_names) * (1 + randomiser.steps * len(modes)) - len(originals) - len(skip)
        groups = ", ".join(g.name for g in randomiser.groups)
        log(
            f"sanity: {model.name}, {len(ids)} images, {len(method_names)} methods, {randomiser.steps} steps "
            f"({granularity}: {groups}), rule {rule}, seed {seed}, modes {', '.join(modes)}; {total} passes to run"
        )
        bar = progress(total=total, desc="sanity")
        done = 0
        for result in run_randomisation(model, images.pixels, methods, randomiser, modes, targets, originals, skip):
            if result.step == 0:
                write_npy(out / "maps" / result.method / "original.npy", result.relevance.astype(np.float32))
            else:
                maps = np.stack([prepare(r) for r in result.relevance]).astype(np.float16)
                write_npy(out / "maps" / result.mode / result.method / f"step{result.step:02d}.npy", maps)
            record = {
                "method": result.method,
                "mode": result.mode,
                "step": result.step,
                "layer": result.layer,
                "image_ids": ids,
                "spearman": result.spearman.tolist(),
                "ssim": result.ssim.tolist(),
                "seconds": result.seconds,
                "model": result.model_info,
            }
            write_json(_record_path(out, result.mode, result.method, result.step), jsonable(record))
            done += 1
            bar.update(1)
            elapsed = time.perf_counter() - started
            log(
                f"  {result.mode:11s} step {result.step:2d} {result.layer:12s} {result.method:13s} "
                f"{result.seconds:6.1f}s  spearman {np.nanmean(result.spearman):+.3f}  ssim {np.nanmean(result.ssim):+.3f}  "
                f"[{done}/{total}, {elapsed / 60:.1f} min, ~{elapsed / done * (total - done) / 60:.0f} min left]"
            )
        bar.close()
        tables, records = collect(out, run, randomiser.steps)
        run["status"] = "complete"
        run["wall_s_this_call"] = time.perf_counter() - started
        run["wall_s_calls"] = [*run.get("wall_s_calls", []), run["wall_s_this_call"]]
        run["map_contrast"] = map_contrast(out, run, randomiser.steps)
        run["compute_s"] = {name: sum(r["seconds"] for r in records if r["method"] == name) for name in method_names}
        run["steps"] = _step_info(records, randomiser, modes, float(np.std(original_logits)))
        run["summary"] = {m: summary(t, seed=seed) for m, t in tables.items()}
        for m, table in tables.items():
            write_text(out / CSV_NAMES[m], table.to_csv(index=False))
        write_figures(out, run, tables)
        folder.write_manifest(run)
        write_text(out / "report.md", build_report(out, run, tables))
    log(
        f"report: {out / 'report.md'}; table: {out / CSV_NAMES[modes[0]]}; wall time of this call {_duration(run['wall_s_this_call'])}"
    )
    return out


def collect(out: Path, run: dict, steps: int) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """The tables per mode (:data:`CSV_COLUMNS`) and every record, read from ``out/records``."""
    records, tables = [], {}
    for name in run["methods"]:
        record = read_json_file(_record_path(out, "original", name, 0))
        if record is None:
            raise CorruptFileError(f"{_record_path(out, 'original', name, 0)} is missing; run the command again")
        records.append(record)
    for mode in run["modes"]:
        rows = [r for r in records if r["step"] == 0]
        for name in run["methods"]:
            for step in range(1, steps + 1):
                record = read_json_file(_record_path(out, mode, name, step))
                if record is None:
                    raise CorruptFileError(f"{_record_path(out, mode, name, step)} is missing; run the command again")
                rows.append(record)
                records.append(record)
        for r in rows:
            if r["image_ids"] != run["image_ids"]:
                raise CorruptFileError(f"a record of {r['method']} step {r['step']} in {out} holds other images; delete it")
        results = [
            StepResult(r["method"], r["mode"], r["step"], r["layer"], np.asarray(r["spearman"]), np.asarray(r["ssim"]), 0, None)
            for r in rows
        ]
        tables[mode] = randomisation_table(results, run["image_ids"], mode)
    return tables, records


def map_contrast(out: Path, run: dict, steps: int) -> dict[str, dict[str, list[float]]]:
    """Per mode and method, per step: the mean over images of std(abs(map) / max), from the
    stored maps. A flat map (all pixels alike) has 0: a similarity near 0 to such a map says the
    randomised model gave no structure, not a different one."""
    out_maps = {}
    for mode in run["modes"]:
        out_maps[mode] = {}
        for method in run["methods"]:
            values = [float(np.mean([np.std(prepare(m)) for m in np.load(out / "maps" / method / "original.npy")]))]
            for step in range(1, steps + 1):
                maps = np.load(out / "maps" / mode / method / f"step{step:02d}.npy").astype(np.float32)
                values.append(float(np.mean(np.std(maps, axis=(1, 2)))))
            out_maps[mode][method] = values
    return out_maps


def _step_info(records: list[dict], randomiser, modes, logit_std: float) -> dict[str, list[dict]]:
    info = {}
    for mode in modes:
        steps = [{"step": 0, "group": "original", "layers": [], "top1_kept": 1.0, "logit_std": logit_std}]
        for step, group in enumerate(randomiser.groups, start=1):
            model = next((r["model"] for r in records if r["mode"] == mode and r["step"] == step and r.get("model")), {})
            steps.append({"step": step, "group": group.name, "layers": list(group.layers), **model})
        info[mode] = steps
    return info


# ---------------------------------------------------------------------------- figures


def curves_figure(table: pd.DataFrame, path: Path, title: str = "") -> None:
    """Two panels (Spearman, SSIM) of mean similarity to the original map vs step, one line per
    method, band = min..max over images; the x axis names the group randomised last."""

    methods = list(dict.fromkeys(table["method"]))
    steps = sorted(table["step"].unique())
    labels = table.drop_duplicates("step").set_index("step")["layer"].reindex(steps).tolist()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharex=True)
    colors = plt.get_cmap("tab10")
    for ax, column, name in zip(
        axes, ("spearman", "ssim"), ("Spearman rank correlation of abs maps", "SSIM of normalised abs maps")
    ):
        for k, method in enumerate(methods):
            part = table[table["method"] == method].groupby("step")[column]
            mean, lo, hi = part.mean(), part.min(), part.max()
            ax.plot(mean.index, mean.values, "-o", ms=3, lw=1.6, color=colors(k % 10), label=method)
            ax.fill_between(mean.index, lo.values, hi.values, color=colors(k % 10), alpha=0.12, lw=0)
        ax.axhline(0, color="0.5", lw=0.8, ls="--")
        ax.set_xticks(steps)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(-0.35, 1.05)
        ax.set_ylabel(name)
        ax.set_xlabel("randomised down to (cascading, top first)" if "independent" not in title else "group randomised alone")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(title or "Model-parameter randomisation: similarity to the original map (band: min..max over images)")
    fig.tight_layout()
    save_figure(fig, path)


def maps_figure(out: Path, run: dict, mode: str, path: Path, image: int = 0) -> None:
    """One image's maps (abs, normalised), rows = methods, columns = steps."""
    from bench.datasets import load_image_set

    steps = run["steps"][mode]
    methods = run["methods"]
    fig, axes = plt.subplots(len(methods), len(steps) + 1, figsize=(1.25 * (len(steps) + 1), 1.35 * len(methods) + 0.4))
    axes = np.atleast_2d(axes)
    try:
        pixels = load_image_set(run["data_dir"], size=tuple(run["input_size"]), ids=[run["image_ids"][image]]).pixels[0]
    except Exception:  # noqa: BLE001 - the figure is still useful without the photo
        pixels = None
    for r, method in enumerate(methods):
        ax = axes[r, 0]
        if pixels is not None:
            ax.imshow(pixels)
        ax.set_ylabel(method, fontsize=7)
        for c, info in enumerate(steps, start=1):
            if info["step"] == 0:
                m = prepare(np.load(out / "maps" / method / "original.npy")[image])
            else:
                m = np.load(out / "maps" / mode / method / f"step{info['step']:02d}.npy")[image].astype(np.float32)
            axes[r, c].imshow(m, cmap="gray", vmin=0, vmax=max(float(np.nanmax(m)), 1e-12))
            if r == 0:
                axes[r, c].set_title(info["group"], fontsize=6.5, rotation=45, ha="left")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{run['image_ids'][image]}: abs(map) / max, {mode} randomisation (columns: randomised down to)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def write_figures(out: Path, run: dict, tables: dict[str, pd.DataFrame]) -> None:
    for mode, table in tables.items():
        suffix = "" if mode == "cascading" else "-independent"
        title = f"{run['model']}, {len(run['image_ids'])} images, {mode} randomisation ({run['randomisation']['rule']})"
        curves_figure(table, out / "figures" / f"randomisation{suffix}.png", title)
        maps_figure(out, run, mode, out / "figures" / f"maps{suffix}_{run['image_ids'][0]}.png")


# ---------------------------------------------------------------------------- report


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _stat(entry: dict | None, digits: int = 2, nan: int = 0) -> str:
    if entry is None:
        return f"n/a ({nan} NaN: constant maps)" if nan else "n/a"
    nan = f", {entry['nan']} NaN" if entry.get("nan") else ""
    return (
        f"{entry['mean']:+.{digits}f} [{entry['ci_low']:+.{digits}f}, {entry['ci_high']:+.{digits}f}] "
        f"(min {entry['min']:+.{digits}f}, max {entry['max']:+.{digits}f}{nan})"
    )


def summary_lines(run: dict, mode: str = "cascading") -> list[str]:
    summ = run["summary"][mode]
    lines = [
        "| method | Spearman after full randomisation | SSIM after full randomisation | verdict | compute |",
        "|---|---|---|---|---|",
    ]
    for method in run["methods"]:
        e = summ[method]
        lines.append(
            f"| {method} | {_stat(e['spearman'], nan=e['nan']['spearman'])} | {_stat(e['ssim'], nan=e['nan']['ssim'])} "
            f"| {e['verdict']} | {_duration(run['compute_s'][method])} |"
        )
    return lines


def step_table(table: pd.DataFrame, column: str) -> list[str]:
    methods = list(dict.fromkeys(table["method"]))
    means = table.groupby(["step", "method"])[column].mean().unstack()[methods]
    layers = table.drop_duplicates("step").set_index("step")["layer"]
    lines = ["| step | randomised down to | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for step, row in means.iterrows():
        lines.append(f"| {step} | {layers[step]} | " + " | ".join(f"{v:+.3f}" for v in row.values) + " |")
    return lines


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def report_section(sanity_dir: Path, relative_to: Path | None = None) -> list[str]:
    """Markdown lines for a run report: the summary table of the sanity folder ``sanity_dir``
    and its figure, linked relative to ``relative_to`` (default: the folder above, where a run
    report sits when the sanity folder is ``RUN_DIR/sanity``). An unfinished folder gives a
    line saying so."""
    sanity_dir = Path(sanity_dir)
    relative_to = sanity_dir.parent if relative_to is None else Path(relative_to)
    head = ["## Sanity check: model-parameter randomisation", ""]
    try:
        run = json.loads((sanity_dir / "sanity.json").read_text())
    except (OSError, ValueError):
        return [*head, f"`{_relative(sanity_dir, relative_to)}` holds no readable sanity.json (no finished sanity run).", ""]
    if run.get("status") != "complete" or "summary" not in run:
        return [
            *head,
            f"The sanity run in `{_relative(sanity_dir, relative_to)}` has not finished (status {run.get('status')}).",
            "",
        ]
    rand = run["randomisation"]
    mode = "cascading" if "cascading" in run["summary"] else next(iter(run["summary"]))
    lines = [
        *head,
        f"{run['model']}, {len(run['image_ids'])} images; weights randomised {mode} from the top in "
        f"{len(rand['groups'])} steps ({rand['granularity']}s: {', '.join(g['name'] for g in rand['groups'])}), "
        f"rule `{rand['rule']}`, seed {rand['seed']}; targets: the original model's top-1 class. Each cell: mean over "
        "images [95% bootstrap CI] (min, max) of the similarity between the map of the fully randomised model and the "
        "original map. A method that explains the model falls to about 0 "
        f'(verdict rule: CI inside ±{NEAR_ZERO}; "stays similar": CI\'s lower end ≥ {STAYS_SIMILAR}).',
        "",
        *summary_lines(run, mode),
        "",
    ]
    suffix = "" if mode == "cascading" else "-independent"
    figure = _relative(sanity_dir / "figures" / f"randomisation{suffix}.png", relative_to)
    lines += [f"![Randomisation curves]({figure})", ""]
    lines += [f"Details: `{_relative(sanity_dir / 'report.md', relative_to)}`.", ""]
    return lines


def build_report(out: Path, run: dict, tables: dict[str, pd.DataFrame]) -> str:
    rand = run["randomisation"]
    lines = [
        "# Sanity check: model-parameter randomisation (Adebayo et al. 2018)",
        "",
        "Does the map depend on the model? Each map of the original model (step 0) is compared with the map of the same "
        "image and class (the original model's top-1) after the weights were randomised group by group from the top. "
        "Similarity: Spearman rank correlation of abs(relevance), and SSIM of abs(relevance)/max (as Quantus's MPRT). "
        "A method that explains the model falls to about 0.",
        "",
        "## Settings",
        "",
        f"- model: {run['model']} ({run['weights']})",
        f"- data: {run['data']}; {len(run['image_ids'])} images: {', '.join(run['image_ids'])}",
        f"- randomisation: rule `{rand['rule']}`, seed {rand['seed']}, {rand['granularity']} groups, modes "
        f"{', '.join(run['modes'])}; groups top first: "
        + "; ".join(f"{g['name']} ({len(g['layers'])} layer{'s' if len(g['layers']) > 1 else ''})" for g in rand["groups"]),
        "- rules: `shuffle` permutes each weight array's entries (seeded per layer and array; keeps each array's values, "
        "so activations keep their scale); `reinit` draws from the layer's Keras initializer; `permute` is Quantus 0.6.0's "
        "(first axis only). See models/randomisation.py.",
        "- methods and parameters: "
        + "; ".join(f"{m} ({', '.join(f'{k}={v}' for k, v in run['method_params'][m].items())})" for m in run["methods"]),
        "- the sanity check's cheaper defaults, where `--param` did not override them (each step explains every image "
        "again): "
        + "; ".join(f"{m}: {', '.join(f'{k}={v}' for k, v in d.items())}" for m, d in SANITY_DEFAULTS.items())
        + " (Noise Mask's fast preset runs 3,200 iterations at that learning rate; occlusion's default stride is 4)",
        f"- cost: {_duration(sum(run['wall_s_calls']))} wall time"
        + (
            f" in {len(run['wall_s_calls'])} calls ({', '.join(_duration(w) for w in run['wall_s_calls'])})"
            if len(run["wall_s_calls"]) > 1
            else ""
        )
        + f" ({len(run['image_ids'])} images, {1 + len(rand['groups']) * len(run['modes'])} passes per method); "
        "compute per method, all steps: " + ", ".join(f"{m} {_duration(s)}" for m, s in run["compute_s"].items()),
        "",
    ]
    for mode, table in tables.items():
        suffix = "" if mode == "cascading" else "-independent"
        lines += [f"## {mode.capitalize()} randomisation", ""]
        lines += [
            "Similarity after full randomisation (the last step"
            + (")" if mode == "cascading" else "; in independent mode: the stem alone)")
            + f": mean [95% bootstrap CI] (min, max) over images. Verdict: falls to ~0 when the Spearman CI lies inside "
            f"±{NEAR_ZERO}; stays similar when its lower end is ≥ {STAYS_SIMILAR}.",
            "",
            *summary_lines(run, mode),
            "",
            f"![randomisation curves](figures/randomisation{suffix}.png)",
            "",
            f"![maps of the first image](figures/maps{suffix}_{run['image_ids'][0]}.png)",
            "",
            "Mean Spearman per step:",
            "",
            *step_table(table, "spearman"),
            "",
            "Mean SSIM per step:",
            "",
            *step_table(table, "ssim"),
            "",
            "Map contrast per step: std of abs(map)/max, mean over images (a flat map has 0; a similarity near 0 to a "
            "flat map means the randomised model's map has no structure, rather than another structure):",
            "",
            "| step | " + " | ".join(run["methods"]) + " |",
            "|---|" + "---|" * len(run["methods"]),
            *(
                f"| {k} | " + " | ".join(f"{run['map_contrast'][mode][m][k]:.3f}" for m in run["methods"]) + " |"
                for k in range(len(run["steps"][mode]))
            ),
            "",
            "The randomised model per step (fraction of images whose top-1 class is still the original's; std of all logits):",
            "",
            "| step | group | top-1 kept | logit std |",
            "|---|---|---|---|",
        ]
        for s in run["steps"][mode]:
            std = "n/a" if s.get("logit_std") is None else f"{s['logit_std']:.3g}"
            kept = "n/a" if s.get("top1_kept") is None else f"{s['top1_kept']:.2f}"
            lines.append(f"| {s['step']} | {s['group']} | {kept} | {std} |")
        lines.append("")
    lines += [
        credits_line(run["image_ids"], run["authors"], run["licenses"]),
        "",
    ]
    return "\n".join(lines)
