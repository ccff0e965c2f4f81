"""Dashboard exports of a run folder: one number per (method, metric) for CI charts.

``python -m bench export RUN_DIR --out OUT`` reads the folder's ``metrics.csv`` (as its
report does) and writes:

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

import pandas as pd

from bench.results import RunFolderError, RunStore, per_method_values
from common.files import write_text
from metrics import PER_IMAGE_METRICS, summarise

BIGGER = "github-action-benchmark-bigger.json"
SMALLER = "github-action-benchmark-smaller.json"
BENCHER = "bencher.json"


def summaries(run_dir: str | Path) -> list[dict]:
    """Per (method, declared metric): mean, CI and image count, in the run's method order."""
    store = RunStore(run_dir)
    run = store.read_run()
    if run is None:
        raise RunFolderError(f"{store.run_json} not found: {store.root} is not a run folder")
    table_path = store.root / "metrics.csv"
    if not table_path.is_file():
        raise RunFolderError(
            f"{table_path} not found: the run has no results yet (rebuild with python -m bench report {store.root})"
        )
    table = pd.read_csv(table_path, dtype={"image_id": str})
    n_boot = int(run["metrics_settings"].get("bootstrap_samples", 2000))
    seed = int(run.get("seed", 0))
    values = {name: per_method_values(table, name) for name in PER_IMAGE_METRICS}
    rows = []
    for method in run["methods"]:
        for name, info in PER_IMAGE_METRICS.items():
            if method not in values[name]:
                continue
            s = summarise(values[name][method], n_boot=n_boot, seed=seed)
            rows.append({"method": method, "metric": info, "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n})
    return rows


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


def export_run(run_dir: str | Path, out: str | Path) -> list[Path]:
    """Write the three dashboard files for ``run_dir`` into ``out``; returns their paths."""
    rows = summaries(run_dir)
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
