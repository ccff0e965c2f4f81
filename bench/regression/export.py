"""Dashboard exports: one number per (method, metric) for CI charts.

``python -m bench export DIR --out OUT`` reads the per-image values of a run folder
(``metrics.csv``, as its report does), a reference folder (its ``metrics.csv``) or a
``bench check`` folder (the checked method's values in ``check.json``), and the
randomisation test's summary of a sanity folder or of a run's ``sanity/``
(:data:`bench.studies.sanity.SUMMARY_METRICS`), and writes:

* ``github-action-benchmark-bigger.json`` / ``github-action-benchmark-smaller.json``:
  github-action-benchmark's ``customBiggerIsBetter`` / ``customSmallerIsBetter`` input,
  arrays of ``{name, unit, value, range, extra}``; each per-image metric goes to the file
  of its declared direction (:data:`metrics.PER_IMAGE_METRICS`; seconds per image are
  smaller-is-better), with the mean over images as ``value`` and the 95 % bootstrap CI
  as ``range`` and ``extra``.
* ``bencher.json``: the Bencher Metric Format, ``{method: {metric: {value, lower_value,
  upper_value}}}`` with the CI as the bounds.

Method diagnostics (e.g. Noise Mask's preservation) have no direction and are not exported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.jsonfiles import read_json_object
from bench.regression.check import CHECK_JSON
from bench.regression.references import REFERENCE_JSON, load_reference
from bench.run.profile import bootstrap_samples
from bench.run.store import RunFolderError, RunStore, per_method_values
from bench.studies.sanity import SANITY_FOLDER, SUMMARY_METRICS
from common.errors import CorruptFileError
from common.files import write_text
from metrics import PER_IMAGE_METRICS, summarise

BIGGER = "github-action-benchmark-bigger.json"
SMALLER = "github-action-benchmark-smaller.json"
BENCHER = "bencher.json"


def folder_values(folder: str | Path) -> tuple[list[str], pd.DataFrame, int, int]:
    """(methods, long metrics table, bootstrap samples, seed) of a run, reference or check folder."""
    folder = Path(folder)
    if (folder / CHECK_JSON).is_file():
        check = read_json_object(folder / CHECK_JSON)
        rows = [
            (image_id, check["method"], metric, value)
            for metric, values in check["values"].items()
            for image_id, value in zip(check["images"], values)
        ]
        table = pd.DataFrame(rows, columns=["image_id", "method", "metric", "value"])
        return [check["method"]], table, int(check["statistics"]["bootstrap_samples"]), int(check["statistics"]["seed"])
    if (folder / REFERENCE_JSON).is_file():
        reference = load_reference(folder)
        settings = reference.fingerprint
        return (
            reference.methods,
            reference.metrics,
            bootstrap_samples(settings["metrics_settings"]),
            int(settings["seed"]),
        )
    store = RunStore(folder)
    run = store.read_run()
    if run is None:
        raise RunFolderError(
            f"{store.root} is not a run, reference or check folder (no run.json, {REFERENCE_JSON} or {CHECK_JSON})"
        )
    table_path = store.verified_table("metrics.csv")
    if not table_path.is_file():
        raise RunFolderError(
            f"{table_path} not found: the run has no results yet (rebuild with python -m bench report {store.root})"
        )
    table = pd.read_csv(table_path, dtype={"image_id": str})
    return run["methods"], table, bootstrap_samples(run["metrics_settings"]), int(run.get("seed", 0))


def sanity_summaries(folder: str | Path) -> list[dict]:
    """The randomisation test's summary per (method, similarity) of a sanity folder, or of a run
    folder holding one (``RUN_DIR/sanity``); empty when there is none or it is unfinished."""
    folder = Path(folder)
    path = next((p for p in (folder / "sanity.json", folder / SANITY_FOLDER / "sanity.json") if p.is_file()), None)
    if path is None:
        return []
    run = read_json_object(path)
    summary = run.get("summary", {}).get("cascading") if run.get("status") == "complete" else None
    if not summary:
        return []
    rows = []
    for method in run["methods"]:
        for column, info in SUMMARY_METRICS.items():
            s = summary[method][column]
            if s is not None:
                rows.append(
                    {
                        "method": method,
                        "metric": info,
                        "mean": s["mean"],
                        "ci_low": s["ci_low"],
                        "ci_high": s["ci_high"],
                        "n": s["n"],
                    }
                )
    return rows


def summaries(folder: str | Path) -> list[dict]:
    """Per (method, declared metric): mean, CI and image count, in the folder's method order;
    then the randomisation test's summary when the folder has one."""
    if (Path(folder) / "sanity.json").is_file():
        return sanity_summaries(folder)
    methods, table, n_boot, seed = folder_values(folder)
    values = {name: per_method_values(table, name) for name in PER_IMAGE_METRICS}
    rows = []
    for method in methods:
        for name, info in PER_IMAGE_METRICS.items():
            if method not in values[name]:
                continue
            v = values[name][method]
            bad = ~np.isfinite(v)
            if bad.any():
                raise CorruptFileError(
                    f"{folder}: {int(bad.sum())} of {len(v)} values of {name} for {method} are not numbers (NaN or "
                    "infinite); a dashboard would chart a mean of them. Recompute them (run the run or check again), or "
                    "leave this folder out of the export."
                )
            s = summarise(v, n_boot=n_boot, seed=seed)
            rows.append({"method": method, "metric": info, "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n})
    return rows + sanity_summaries(folder)


def _action_benchmark_entry(row: dict) -> dict:
    info = row["metric"]
    half = (row["ci_high"] - row["ci_low"]) / 2
    return {
        "name": f"{row['method']} {info.name}",
        "unit": info.unit,
        "value": row["mean"],
        "range": f"± {half:.4g}",
        "extra": f"mean of {row['n']} images; 95% bootstrap CI [{row['ci_low']:.6g}, {row['ci_high']:.6g}]; {info.description}",
    }


def export_folder(folder: str | Path, out: str | Path) -> list[Path]:
    """Write the three dashboard files for ``folder`` into ``out``; returns their paths."""
    rows = summaries(folder)
    out = Path(out)
    bigger = [_action_benchmark_entry(r) for r in rows if r["metric"].higher_is_better]
    smaller = [_action_benchmark_entry(r) for r in rows if not r["metric"].higher_is_better]
    bencher: dict[str, dict] = {}
    for r in rows:
        bencher.setdefault(r["method"], {})[r["metric"].name] = {
            "value": r["mean"],
            "lower_value": r["ci_low"],
            "upper_value": r["ci_high"],
        }
    paths = []
    for name, content in ((BIGGER, bigger), (SMALLER, smaller), (BENCHER, bencher)):
        path = out / name
        write_text(path, json.dumps(content, indent=2) + "\n")
        paths.append(path)
    return paths
