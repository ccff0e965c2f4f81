"""The results store of one run folder (RUN_DIR).

Unit of work: one (method, image). Its record, ``records/<method>/<image_id>.npz``, holds
the curves and every per-image value and is written last and atomically, after the map;
a record's presence therefore means that work is complete, which is what resuming relies
on. ``metrics.csv`` and ``curves.csv`` are consolidated from the records.

Layout::

    run.json                     settings, versions, data, timings
    maps/<method>/<id>.npy       relevance (float32, H x W), the spec's section-3 map
    maps/<method>/<id>.png       its grayscale map (what PNG size and SSIM measure)
    records/<method>/<id>.npz    curves + per-image metrics and series of a method
    baselines/random-order/<id>.npz  the random-order curves (outside the method namespace)
    metrics.csv                  image_id, method, metric, value
    curves.csv                   image_id, method, order, step, fraction_replaced, logit, prob
    report.md, figures/
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from common.files import atomic_path, write_json, write_npy

RANDOM_ORDER = "random-order"
"""The random-order baseline's name in the store and in curves.csv; method names are
identifiers (methods.registry), so no method can take it."""


class RunStore:
    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)

    # ---------------------------------------------------------------- paths
    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    def map_path(self, method: str, image_id: str, suffix: str = ".npy") -> Path:
        return self.root / "maps" / method / f"{image_id}{suffix}"

    def record_path(self, method: str, image_id: str) -> Path:
        folder = "baselines" if method == RANDOM_ORDER else "records"
        return self.root / folder / method / f"{image_id}.npz"

    # ---------------------------------------------------------------- run.json
    def read_run(self) -> dict | None:
        if not self.run_json.is_file():
            return None
        try:
            return json.loads(self.run_json.read_text())
        except ValueError as err:
            raise ValueError(f"{self.run_json}: unreadable ({err})") from None

    def write_run(self, run: dict) -> None:
        write_json(self.run_json, run)

    # ---------------------------------------------------------------- records
    def has(self, method: str, image_id: str) -> bool:
        return self.record_path(method, image_id).is_file()

    def save_map(self, method: str, image_id: str, relevance: np.ndarray, gray: np.ndarray) -> None:
        write_npy(self.map_path(method, image_id), relevance.astype(np.float32))
        with atomic_path(self.map_path(method, image_id, ".png")) as tmp:
            Image.fromarray(gray).save(tmp, format="PNG")

    def save_record(
        self,
        method: str,
        image_id: str,
        curves: dict[str, tuple[np.ndarray, np.ndarray]],
        values: dict[str, float],
        series: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``series``: per-image arrays a method reports (e.g. Noise Mask's objective trace),
        kept as ``series_<name>`` for later analysis."""
        arrays = {
            f"{order}_{kind}": arr
            for order, (logits, probs) in curves.items()
            for kind, arr in (("logit", logits), ("prob", probs))
        }
        arrays.update({f"series_{name}": np.asarray(arr) for name, arr in (series or {}).items()})
        arrays["metric_names"] = np.array(list(values), dtype=str)
        arrays["metric_values"] = np.array([float(v) for v in values.values()], dtype=np.float64)
        with atomic_path(self.record_path(method, image_id)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def load_map(self, method: str, image_id: str) -> np.ndarray:
        return np.load(self.map_path(method, image_id))

    def load_series(self, method: str, name: str) -> dict[str, np.ndarray]:
        """image_id -> the stored series ``name`` of ``method`` (e.g. noise_mask's trace)."""
        out = {}
        for path in sorted((self.root / "records" / method).glob("*.npz")):
            with np.load(path) as rec:
                if f"series_{name}" in rec.files:
                    out[path.stem] = rec[f"series_{name}"]
        return out

    def _records(self):
        paths = sorted((self.root / "baselines").glob(f"{RANDOM_ORDER}/*.npz")) + sorted((self.root / "records").glob("*/*.npz"))
        for path in paths:
            with np.load(path) as rec:
                yield path.parent.name, path.stem, {k: rec[k] for k in rec.files}

    # ---------------------------------------------------------------- consolidated tables
    def tables(self, pixels_per_step: int, num_pixels: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        metric_rows, curve_frames = [], []
        for method, image_id, rec in self._records():
            for name, value in zip(rec["metric_names"], rec["metric_values"]):
                metric_rows.append((image_id, method, str(name), float(value)))
            for key in rec:
                if key.endswith("_logit"):
                    order = key[: -len("_logit")]
                    steps = np.arange(len(rec[key]))
                    curve_frames.append(
                        pd.DataFrame(
                            {
                                "image_id": image_id,
                                "method": method,
                                "order": order,
                                "step": steps,
                                "fraction_replaced": steps * pixels_per_step / num_pixels,
                                "logit": rec[key],
                                "prob": rec[f"{order}_prob"],
                            }
                        )
                    )
        metrics = pd.DataFrame(metric_rows, columns=["image_id", "method", "metric", "value"])
        curves = (
            pd.concat(curve_frames, ignore_index=True)
            if curve_frames
            else pd.DataFrame(columns=["image_id", "method", "order", "step", "fraction_replaced", "logit", "prob"])
        )
        return metrics, curves

    def write_tables(self, pixels_per_step: int, num_pixels: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        metrics, curves = self.tables(pixels_per_step, num_pixels)
        for name, frame in (("metrics.csv", metrics), ("curves.csv", curves)):
            with atomic_path(self.root / name) as tmp:
                frame.to_csv(tmp, index=False, float_format="%.7g")
        return metrics, curves
