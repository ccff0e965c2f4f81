"""The results store of one run folder (RUN_DIR).

Unit of work: one (method, image). Its record, ``records/<method>/<image_id>.npz``, holds
the curves and every per-image value and is written last and atomically, after the map;
a record's presence therefore means that work is complete, which is what resuming relies
on. ``metrics.csv`` and ``curves.csv`` are consolidated from the records.

Layout::

    run.json                     settings, versions, data, timings
    maps/<method>/<id>.npy       relevance (float32, H x W), the per-pixel map of metrics/relevance_maps.py
    maps/<method>/<id>.png       its grayscale map (what PNG size and SSIM measure)
    records/<method>/<id>.npz    curves + per-image metrics and series of a method; a curve is
                                 "<order>_<logit|prob>" (random colours) or
                                 "<replacement>:<order>_<logit|prob>" (e.g. road:morf_logit)
    baselines/random-order/<id>.npz  the random-order curves (outside the method namespace)
    metrics.csv                  image_id, method, metric, value
    curves.csv                   image_id, method, replacement, order, step, fraction_replaced, logit, prob
    report.md, figures/
    .lock                        held by the run or report writing here (common.files.folder_lock)

A corrupt file is named (:class:`CorruptFileError`) with what to do about it, never
overwritten or skipped in silence.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image

from bench.core.resumable import FolderError, ResumableFolder
from bench.datasets.imageset import IMAGE_ID, MAX_ID_LENGTH
from bench.run.profile import curve_grid, with_replacements
from common.errors import CorruptFileError
from common.files import atomic_path, file_sha256, write_npy
from methods.registry import NAME_PATTERN
from metrics.perturbation import DEFAULT_REPLACEMENT

RANDOM_ORDER = "random-order"
"""The random-order baseline's name in the store and in curves.csv; method names are
identifiers (methods.registry), so no method can take it."""

RUN_KEYS = ("status", "methods", "image_ids", "metrics_settings", "model_input_size")
"""Keys every run.json has; without them the file is not one this suite wrote whole."""
TIME_SPLIT = "time_split_s"
"""run.json's key for where the computation's wall time went: ``wall`` (summed over the sessions of
a resumed run), ``model_passes`` (the units' model passes at the pass costs measured at the start)
and ``imputation`` (ROAD's imputations, in a background thread); the report gives their shares."""
UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile)
"""What numpy raises on a truncated or garbled .npy/.npz."""


def curve_key(replacement: str, order: str) -> str:
    """A curve's key in a record: ``morf`` for the default replacement, ``road:morf`` for ROAD."""
    return order if replacement == DEFAULT_REPLACEMENT else f"{replacement}:{order}"


MAP_SHA256 = "map_sha256"
"""A record's entry holding its map's sha256 (:func:`map_sha256`)."""
TABLES_SHA256 = "tables_sha256"
"""run.json's entry holding the sha256 of metrics.csv and curves.csv as last written."""


def map_sha256(relevance: np.ndarray) -> str:
    """sha256 of a map's float32 values (C order), whatever file holds them."""
    return hashlib.sha256(np.ascontiguousarray(relevance, dtype=np.float32).tobytes()).hexdigest()


class RunError(FolderError):
    """The run cannot start or continue as asked; the message says what to do."""


class RunFolderError(RunError):
    """A run folder that cannot be used as asked (not a run folder, records missing)."""


FINGERPRINT_KEYS = (
    "model",
    "weights_sha256",
    "image_ids",
    "image_sha256",
    "seed",
    "methods",
    "method_params",
    "metrics_settings",
)


def settings_fingerprint(run: dict) -> dict:
    """What must match for a RUN_DIR to be resumed: everything that decides a record's content,
    the images' pixels included (the same ids can hold other pixels)."""
    return {k: run.get(k) for k in FINGERPRINT_KEYS}


def resume_fingerprint(run: dict) -> dict:
    """The part of a run's fingerprint a resumed run must share: all but the replacements, which a
    resumed run may add to (``--param metrics.replacement=...``)."""
    fingerprint = settings_fingerprint(run)
    return {**fingerprint, "metrics_settings": with_replacements(fingerprint["metrics_settings"] or {}, [DEFAULT_REPLACEMENT])}


def stacked_curves(method: str, records: list[dict]) -> dict[str, np.ndarray]:
    """A reference's curves.npz entries of one method, ``"<method>.<key>"`` -> (images, steps + 1),
    from its records in image order (every record key ending ``_logit`` or ``_prob``)."""
    return {f"{method}.{key}": np.stack([rec[key] for rec in records]) for key in records[0] if key.endswith(("_logit", "_prob"))}


class RunStore(ResumableFolder):
    """A run folder: run.json as its manifest (the fingerprint is part of the settings it holds,
    :func:`resume_fingerprint`), the records as the finished units."""

    def __init__(self, run_dir: str | Path):
        super().__init__(
            run_dir, "run.json", "a run", "the same settings and images", record_patterns=("records/*/*.npz", "baselines/*/*.npz")
        )
        self.refusal = RunError

    # ---------------------------------------------------------------- paths
    @property
    def run_json(self) -> Path:
        return self.manifest_path

    def map_path(self, method: str, image_id: str, suffix: str = ".npy") -> Path:
        return self.root / "maps" / method / f"{image_id}{suffix}"

    def record_dir(self, method: str) -> Path:
        return self.root / ("baselines" if method == RANDOM_ORDER else "records") / method

    def record_path(self, method: str, image_id: str) -> Path:
        return self.record_dir(method) / f"{image_id}.npz"

    # ---------------------------------------------------------------- run.json
    def stored_fingerprint(self, manifest: dict) -> dict:
        if "image_sha256" not in manifest:
            raise RunError(
                f"{self.root} was made by an older version of the suite, which did not record the seed and image content "
                f"that a resumed run must share (run.json has no image_sha256); choose another --out (its report can "
                f"still be rebuilt: python -m bench report {self.root})"
            )
        return resume_fingerprint(manifest)

    def read_manifest(self) -> dict | None:
        return self.read_run()

    def read_run(self) -> dict | None:
        if not self.run_json.is_file():
            return None
        try:
            run = json.loads(self.run_json.read_text())
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
            raise self._bad_run_json(str(err)) from None
        missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
        if missing:
            raise self._bad_run_json(f"no {', '.join(missing)}")
        # ids and method names become file names: refuse any that would reach outside the folder
        bad = [i for i in run["image_ids"] if not isinstance(i, str) or not IMAGE_ID.fullmatch(i) or len(i) > MAX_ID_LENGTH]
        bad += [m for m in run["methods"] if not isinstance(m, str) or not NAME_PATTERN.fullmatch(m)]
        if bad:
            raise self._bad_run_json(f"an image id or method name that is no plain file name: {bad[0]!r}")
        return run

    def _bad_run_json(self, problem: str) -> CorruptFileError:
        return CorruptFileError(
            f"{self.run_json} is unreadable ({problem}): the settings of the run in {self.root} are unknown, so it "
            "can be neither resumed nor reported; choose another --out"
        )

    def write_run(self, run: dict) -> None:
        self.write_manifest(run)

    # ---------------------------------------------------------------- records
    def has(self, method: str, image_id: str) -> bool:
        return self.record_path(method, image_id).is_file()

    def curve_keys(self, method: str, image_id: str) -> set[str]:
        """The curves a stored record holds (``morf``, ``road:lerf``, ...), from its file list alone."""
        path = self.record_path(method, image_id)
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except UNREADABLE as err:
            raise self._unreadable(path, err) from None
        return {name[: -len("_logit.npy")] for name in names if name.endswith("_logit.npy")}

    @staticmethod
    def record_curves(record: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """curve key -> (logits, probabilities) of a record read by :meth:`read_record`."""
        return {
            key[: -len("_logit")]: (record[key], record[key[: -len("_logit")] + "_prob"])
            for key in record
            if key.endswith("_logit")
        }

    def save_map(self, method: str, image_id: str, relevance: np.ndarray, gray: np.ndarray) -> str:
        """Write a map (float32 .npy and its grayscale .png); returns its :func:`map_sha256`,
        which the record keeps so that an edited map is refused when read back."""
        relevance = relevance.astype(np.float32)
        write_npy(self.map_path(method, image_id), relevance)
        with atomic_path(self.map_path(method, image_id, ".png")) as tmp:
            Image.fromarray(gray).save(tmp, format="PNG")
        return map_sha256(relevance)

    def save_record(
        self,
        method: str,
        image_id: str,
        curves: dict[str, tuple[np.ndarray, np.ndarray]],
        values: dict[str, float],
        series: dict[str, np.ndarray] | None = None,
        map_hash: str | None = None,
    ) -> None:
        """``series``: per-image arrays a method reports (e.g. Noise Mask's objective trace),
        kept as ``series_<name>`` for later analysis; ``map_hash``: the map's :func:`map_sha256`."""
        arrays = {
            f"{order}_{kind}": arr
            for order, (logits, probs) in curves.items()
            for kind, arr in (("logit", logits), ("prob", probs))
        }
        arrays.update({f"series_{name}": np.asarray(arr) for name, arr in (series or {}).items()})
        arrays["metric_names"] = np.array(list(values), dtype=str)
        arrays["metric_values"] = np.array([float(v) for v in values.values()], dtype=np.float64)
        if map_hash is not None:
            arrays[MAP_SHA256] = np.array(map_hash)
        with atomic_path(self.record_path(method, image_id)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle

    def load_map(self, method: str, image_id: str, mmap_mode: Literal["r"] | None = None) -> np.ndarray:
        """A stored map. Read whole (no ``mmap_mode``), it is checked against the sha256 its
        record keeps (runs made before records kept one are read unchecked)."""
        path = self.map_path(method, image_id)
        try:
            relevance = np.load(path, mmap_mode=mmap_mode)
        except UNREADABLE as err:
            # the record marks the work done: without deleting it too, a rerun would not recompute the map
            raise self._unreadable(path, err, also=self.record_path(method, image_id)) from None
        if mmap_mode is None and self.has(method, image_id):
            expected = self.read_record(self.record_path(method, image_id)).get(MAP_SHA256)
            if expected is not None and str(expected) != map_sha256(relevance):
                raise CorruptFileError(
                    f"{path} is not the map this run wrote (its sha256 differs from the one in "
                    f"{self.record_path(method, image_id)}); delete both and run again to recompute it"
                )
        return relevance

    def read_record(self, path: Path) -> dict[str, np.ndarray]:
        """Every array of the record at ``path``, read whole (a bad CRC shows only then)."""
        try:
            with np.load(path) as rec:
                arrays = {k: rec[k] for k in rec.files}
        except UNREADABLE as err:
            raise self._unreadable(path, err) from None
        if not {"metric_names", "metric_values"} <= set(arrays):
            raise self._unreadable(path, KeyError("no metric_names or metric_values"))
        return arrays

    def _unreadable(self, path: Path, err: Exception, also: Path | None = None) -> CorruptFileError:
        files = f"it and {also}" if also else "it"
        return CorruptFileError(
            f"{path} is unreadable ({type(err).__name__}: {err}); delete {files} and run again to recompute {'them' if also else 'it'}"
        )

    def verify(self, methods: list[str], image_ids: list[str]) -> None:
        """Read every stored record and map header of this run, so that a resumed run refuses a
        corrupt file before it does any work (a record's presence marks the work done)."""
        for method in [RANDOM_ORDER, *methods]:
            for image_id in image_ids:
                if self.has(method, image_id):
                    self.read_record(self.record_path(method, image_id))
                if method != RANDOM_ORDER and self.map_path(method, image_id).is_file():
                    self.load_map(method, image_id, mmap_mode="r")  # the header, and the size it implies

    def missing_records(self, methods: list[str], image_ids: list[str]) -> list[str]:
        """'records/noise_mask: 3 of 4 images missing' for each method (and the random-order
        baseline) that lacks records of some of ``image_ids``."""
        out = []
        for method in [RANDOM_ORDER, *methods]:
            missing = sum(not self.has(method, i) for i in image_ids)
            if missing:
                out.append(f"{self.record_dir(method).relative_to(self.root)}: {missing} of {len(image_ids)} images missing")
        return out

    def record_values(self, method: str, image_ids: list[str]) -> dict[str, np.ndarray]:
        """metric -> ``method``'s exact per-image values, in the order of ``image_ids``."""
        columns: dict[str, list[float]] = {}
        for image_id in image_ids:
            rec = self.read_record(self.record_path(method, image_id))
            for name, value in zip(rec["metric_names"], rec["metric_values"]):
                columns.setdefault(str(name), []).append(float(value))
        return {name: np.array(v) for name, v in columns.items()}

    def load_series(self, method: str, name: str) -> dict[str, np.ndarray]:
        """image_id -> the stored series ``name`` of ``method`` (e.g. noise_mask's trace)."""
        out = {}
        for path in sorted(self.record_dir(method).glob("*.npz")):
            rec = self.read_record(path)
            if f"series_{name}" in rec:
                out[path.stem] = rec[f"series_{name}"]
        return out

    def record_paths(self) -> list[Path]:
        """Every stored record: the random-order baseline's, then the methods'."""
        return sorted(self.record_dir(RANDOM_ORDER).glob("*.npz")) + sorted((self.root / "records").glob("*/*.npz"))

    def _records(self):
        for path in self.record_paths():
            yield path.parent.name, path.stem, self.read_record(path)

    # ---------------------------------------------------------------- consolidated tables
    def tables(self, metric_settings: dict, num_pixels: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(metrics: image_id, method, metric, value; curves: one row per image, method,
        replacement, order and step, with the fraction of the ``num_pixels`` replaced by then
        under that replacement's grid, :func:`bench.run.profile.curve_grid`)."""
        metric_rows, curve_frames = [], []
        for method, image_id, rec in self._records():
            for name, value in zip(rec["metric_names"], rec["metric_values"]):
                metric_rows.append((image_id, method, str(name), float(value)))
            for key, (logits, probs) in self.record_curves(rec).items():
                replacement, _, order = key.rpartition(":")
                replacement = replacement or DEFAULT_REPLACEMENT
                steps = np.arange(len(logits))
                pixels_per_step = curve_grid(metric_settings, replacement)[1]
                curve_frames.append(
                    pd.DataFrame(
                        {
                            "image_id": image_id,
                            "method": method,
                            "replacement": replacement,
                            "order": order,
                            "step": steps,
                            "fraction_replaced": steps * pixels_per_step / num_pixels,
                            "logit": logits,
                            "prob": probs,
                        }
                    )
                )
        metrics = pd.DataFrame(metric_rows, columns=["image_id", "method", "metric", "value"])
        curves = (
            pd.concat(curve_frames, ignore_index=True)
            if curve_frames
            else pd.DataFrame(
                columns=["image_id", "method", "replacement", "order", "step", "fraction_replaced", "logit", "prob"]
            )
        )
        return metrics, curves

    def write_tables(self, metrics: pd.DataFrame, curves: pd.DataFrame) -> None:
        """Write metrics.csv and curves.csv, and their sha256 into run.json (:meth:`verified_table`
        checks a table against it before it is trusted)."""
        hashes = {}
        for name, frame in (("metrics.csv", metrics), ("curves.csv", curves)):
            with atomic_path(self.root / name) as tmp:
                frame.to_csv(tmp, index=False, float_format="%.7g")
                hashes[name] = file_sha256(tmp)
        run = self.read_run()
        if run is not None:
            self.write_run({**run, TABLES_SHA256: hashes})

    def verified_table(self, name: str) -> Path:
        """``name`` (metrics.csv or curves.csv), checked against the sha256 run.json keeps for it
        (runs made before run.json kept one are read unchecked)."""
        path = self.root / name
        run = self.read_run() or {}
        expected = run.get(TABLES_SHA256, {}).get(name)
        if expected is not None and path.is_file() and file_sha256(path) != expected:
            raise CorruptFileError(
                f"{path} is not the table this run wrote (its sha256 differs from run.json's); rebuild it from the "
                f"records with python -m bench report {self.root}"
            )
        return path


def per_method_values(metrics: pd.DataFrame, metric: str, scale: float = 1.0) -> dict[str, np.ndarray]:
    """method -> its per-image values of ``metric`` from a metrics.csv table (times ``scale``)."""
    part = metrics[metrics["metric"] == metric]
    return {m: g["value"].to_numpy() * scale for m, g in part.groupby("method")}
