"""The sanity folder's records: one per finished pass (mode, method, step), written atomically
by the driver (:func:`write_result`), and read back into the tables, the map contrast and the
randomised models' step info when every pass is done.

Layout: ``records/<mode>/<method>/stepNN.json`` (``records/original/<method>/step00.json`` for
step 0); ``maps/<method>/original.npy`` (the step-0 relevance, float32) and
``maps/<mode>/<method>/stepNN.npy`` (abs(relevance) / max, float16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.jsonfiles import read_json_file
from bench.core.provenance import jsonable
from bench.studies.sanity.summary import randomisation_table
from bench.studies.sanity.units import StepResult
from common.errors import CorruptFileError
from common.files import write_json, write_npy
from metrics.similarity import prepare


def record_path(out: Path, mode: str, method: str, step: int) -> Path:
    return out / "records" / mode / method / f"step{step:02d}.json"


def stored_passes(
    out: Path, methods: list[str], modes: tuple[str, ...], steps: int
) -> tuple[dict[str, np.ndarray], set[tuple[str, str, int]]]:
    """What ``out`` holds already: each method's step-0 maps whose record is written, and the
    (mode, method, step) of the later steps done."""
    originals, done = {}, set()
    for name in methods:
        if read_json_file(record_path(out, "original", name, 0)) is not None:
            path = out / "maps" / name / "original.npy"
            try:
                originals[name] = np.load(path)
            except (OSError, ValueError) as err:
                raise CorruptFileError(f"{path} is unreadable ({err}); delete it") from None
        for mode in modes:
            for step in range(1, steps + 1):
                if read_json_file(record_path(out, mode, name, step)) is not None:
                    done.add((mode, name, step))
    return originals, done


def write_result(out: Path, result: StepResult, image_ids: list[str]) -> None:
    """A pass's maps, then its record (whose presence marks the pass done)."""
    if result.relevance is None:
        raise ValueError(f"the pass {result.method} {result.mode} step {result.step} carries no maps to write")
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
        "image_ids": image_ids,
        "spearman": result.spearman.tolist(),
        "ssim": result.ssim.tolist(),
        "seconds": result.seconds,
        "model": result.model_info,
    }
    write_json(record_path(out, result.mode, result.method, result.step), jsonable(record))


def _read_record(out: Path, mode: str, method: str, step: int) -> dict:
    record = read_json_file(record_path(out, mode, method, step))
    if record is None:
        raise CorruptFileError(f"{record_path(out, mode, method, step)} is missing; run the command again")
    return record


def collect(out: Path, run: dict, steps: int) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """The tables per mode (:data:`bench.studies.sanity.summary.CSV_COLUMNS`) and every record,
    read from ``out/records``."""
    records = [_read_record(out, "original", name, 0) for name in run["methods"]]
    tables = {}
    for mode in run["modes"]:
        rows = [r for r in records if r["step"] == 0]
        for name in run["methods"]:
            for step in range(1, steps + 1):
                record = _read_record(out, mode, name, step)
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
    out_maps: dict[str, dict[str, list[float]]] = {}
    for mode in run["modes"]:
        out_maps[mode] = {}
        for method in run["methods"]:
            values = [float(np.mean([np.std(prepare(m)) for m in np.load(out / "maps" / method / "original.npy")]))]
            for step in range(1, steps + 1):
                maps = np.load(out / "maps" / mode / method / f"step{step:02d}.npy").astype(np.float32)
                values.append(float(np.mean(np.std(maps, axis=(1, 2)))))
            out_maps[mode][method] = values
    return out_maps


def step_info(records: list[dict], groups: list, modes: tuple[str, ...], logit_std: float) -> dict[str, list[dict]]:
    """Per mode, per step (0 = the original model): the group randomised, its layers, and the
    randomised model's top-1 agreement and logit std from the records."""
    info = {}
    for mode in modes:
        steps = [{"step": 0, "group": "original", "layers": [], "top1_kept": 1.0, "logit_std": logit_std}]
        for step, group in enumerate(groups, start=1):
            model: dict = next((r["model"] for r in records if r["mode"] == mode and r["step"] == step and r.get("model")), {})
            steps.append({"step": step, "group": group.name, "layers": list(group.layers), **model})
        info[mode] = steps
    return info
