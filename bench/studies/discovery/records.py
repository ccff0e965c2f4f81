"""The discovery folder's records: one per (model, layer), written atomically by the driver
(:func:`write_record`), and read back into the discovery table (:func:`collect`).

Layout: ``records/<model>/<position>-<layer>/``: ``masks.npy`` (N, H, W) float32 and
``record.json`` (the image ids, targets, compute time and per-image Noise Mask diagnostics).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.studies.discovery.units import DiscoveryResult, DiscoveryUnit
from common.errors import CorruptFileError
from common.files import write_json, write_npy
from metrics import blurred_r
from metrics.mask_spread import spread

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


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``.``, ``_`` and ``-`` made ``_`` (for a file name)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def record_dir(out: Path, model: str, position: int, layer: str) -> Path:
    return out / "records" / safe_name(model) / f"{position}-{safe_name(layer)}"


def write_record(out: Path, unit: DiscoveryUnit, result: DiscoveryResult) -> None:
    """A (model, layer) record: its masks, then record.json (whose presence marks it done)."""
    folder = record_dir(out, unit.model, unit.position, unit.layer)
    record = {
        "model": unit.model,
        "layer": unit.layer,
        "position": unit.position,
        "image_ids": unit.image_ids,
        "targets": result.targets.tolist(),
        "seconds": result.seconds,
        "values": {k: v.tolist() for k, v in result.diagnostics.items()},
    }
    write_npy(folder / "masks.npy", result.relevance)
    write_json(folder / "record.json", record)


def _read(out: Path, run: dict, name: str, position: int, layer: str) -> tuple[dict, np.ndarray]:
    folder = record_dir(out, name, position, layer)
    try:
        record = json.loads((folder / "record.json").read_text())
        masks = np.load(folder / "masks.npy")
    except (OSError, ValueError) as err:
        raise CorruptFileError(f"{folder} is incomplete or corrupt ({err}); delete that folder and run again") from None
    if record["image_ids"] != run["image_ids"] or len(masks) != len(run["image_ids"]):
        raise CorruptFileError(f"{folder} holds other images than {out / 'discovery.json'}; delete that folder")
    return record, masks


def collect(out: Path, run: dict) -> tuple[pd.DataFrame, dict, dict]:
    """From the records: the discovery table (:data:`CSV_COLUMNS`), the masks
    {(model, position): (N, H, W)} and each model's top-1 class per image {model: [...]}."""
    rows, masks, targets = [], {}, {}
    for name, model_info in run["models"].items():
        for position, layer in enumerate(model_info["layers"], start=1):
            record, masks[name, position] = _read(out, run, name, position, layer)
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
    r = []
    for row in table.itertuples():
        k = run["image_ids"].index(row.image_id)
        r.append(blurred_r(masks[row.model, row.position][k], masks[row.model, 6][k]))
    table["r_to_logits"] = r
    return table[CSV_COLUMNS], masks, targets
