"""``bench meta``: the meta-evaluation of a run's (or a reference's) metrics, written to OUT.

Output folder::

    meta.csv        metric, measure, value, ci_low, ci_high, n (:mod:`bench.studies.meta.table`)
    meta.md         the table by metric with the trust grades and what they rest on
    meta.json       the sources, settings, grades, the perturbation's details and each part's seconds
    perturbed.csv   condition, image_id, method, metric, value: the recomputed maps' metrics
                    (kept: a rerun with the same plan reads them instead of recomputing)
    figures/meta.png
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from bench.core.jsonfiles import read_json_file
from bench.studies.meta.figures import meta_figure
from bench.studies.meta.grades import grade_table
from bench.studies.meta.perturb import PerturbationPlan, recompute
from bench.studies.meta.report import meta_markdown
from bench.studies.meta.settings import META_CSV
from bench.studies.meta.sources import MetaSource, paired_images, require_outside_sources
from bench.studies.meta.table import COLUMNS, inter_model_rows, perturbation_rows, reliability_rows
from common.files import atomic_path, folder_lock, write_json, write_text

PERTURBED_CSV = "perturbed.csv"


def perturbed_tables(plan: PerturbationPlan, out: Path, data_dir, log=print) -> tuple[dict[str, pd.DataFrame], dict]:
    """The recomputed tables of ``plan``: read back from ``out`` when an earlier run made them
    with the same plan, else computed (:func:`bench.studies.meta.perturb.recompute`) and kept."""
    path, info_path = out / PERTURBED_CSV, out / "perturbed.json"
    kept = read_json_file(info_path) if info_path.is_file() else None
    if isinstance(kept, dict) and kept.get("plan") == _jsonable(plan) and path.is_file():
        table = pd.read_csv(path, dtype={"image_id": str}, float_precision="round_trip")
        log(f"meta: the perturbed models' tables read back from {path}")
        return {c: part.drop(columns="condition") for c, part in table.groupby("condition")}, kept["info"]
    tables, info = recompute(plan, data_dir, log)
    joined = pd.concat([t.assign(condition=c) for c, t in tables.items()])[["condition", "image_id", "method", "metric", "value"]]
    with atomic_path(path, suffix=".csv") as tmp:
        joined.to_csv(tmp, index=False)
    write_json(info_path, {"plan": _jsonable(plan), "info": info})
    return tables, info


def _jsonable(plan: PerturbationPlan) -> dict:
    import json  # noqa: PLC0415 - only to normalise the plan as its JSON reads back

    return json.loads(json.dumps(asdict(plan)))


def run_meta(
    source: MetaSource,
    out: str | Path,
    other: MetaSource | None = None,
    plan: PerturbationPlan | None = None,
    data_dir=None,
    n_boot: int = 2000,
    seed: int = 0,
    log=print,
) -> pd.DataFrame:
    """Write OUT (see the module's docstring) and return the meta table. ``other``: a run of
    another model on the same images (inter-model agreement), every image paired by id and pixels
    (:func:`bench.studies.meta.sources.paired_images`; else refused before anything is written);
    ``plan``: the perturbation test's (None: left out)."""
    require_outside_sources(out, [s for s in (source, other) if s is not None])
    if other is not None:  # refused before anything is written
        paired = paired_images(source, other, data_dir)
        log(f"meta: {other.name} pairs with {source.name} on all {len(paired)} images (id and pixel sha256)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    with folder_lock(out):
        t0 = time.perf_counter()
        rows = reliability_rows(source, n_boot, seed)
        seconds["reliabilities (alpha, inter-method, internal consistency)"] = time.perf_counter() - t0
        if other is not None:
            t0 = time.perf_counter()
            rows += inter_model_rows(source, other, n_boot, seed)
            seconds["inter-model agreement"] = time.perf_counter() - t0
        perturbation = None
        if plan is not None:
            t0 = time.perf_counter()
            tables, perturbation = perturbed_tables(plan, out, data_dir, log)
            seconds["perturbed models: maps and metrics"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows += perturbation_rows(tables, n_boot, seed)
            seconds["perturbed models: measures"] = time.perf_counter() - t0
        table = pd.DataFrame(rows, columns=COLUMNS)
        grades = grade_table(table)
        with atomic_path(out / META_CSV, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
        t0 = time.perf_counter()
        meta_figure(table, out / "figures" / "meta.png")
        seconds["figure"] = time.perf_counter() - t0
        sources = [
            {"name": s.name, "model": s.model, "images": len(s.image_ids), "methods": s.methods} for s in (source, other) if s
        ]
        info = {"sources": sources, "bootstrap_samples": n_boot, "seed": seed, "perturbation": perturbation, "seconds": seconds}
        write_json(out / "meta.json", info | {"grades": grades})
        write_text(out / "meta.md", meta_markdown(table, grades, info))
    return table
