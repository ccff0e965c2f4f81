"""What ``bench site`` reads: the stored results of run, reference, check, sanity, discovery,
export and meta folders, sorted into boards, checks and studies. Nothing is recomputed: values,
curves and maps are read as the commands wrote them, and the means and CIs are those ``bench
export`` gives (:func:`bench.regression.export.summaries`).

* a **board** is a set of methods scored on the same images: a reference or a run folder;
* a **check** is a ``bench check`` folder; it joins the board whose fingerprint it was checked
  against, and its run (``run/``) holds its maps, curves and the images' pixels;
* the **studies** are sanity and discovery folders (also a run's ``sanity/``);
* an **export** (``bench export``'s bencher.json) and a check are points of a method's history;
* **meta.csv** (``bench meta``; graded by :func:`bench.studies.meta.grades.grade_table`) in a
  board's folder (or its ``meta/``) grades that board's metrics; in a folder of its own, every board's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.fingerprint import fingerprint_sha256
from bench.core.jsonfiles import read_json_object
from bench.datasets import DEFAULT_DATA_DIR, embedded_image_set_dir
from bench.regression import references
from bench.regression.check import CHECK_JSON
from bench.regression.export import BENCHER, sanity_summaries, summaries
from bench.report.rendering_search import load_run_images
from bench.run.store import RANDOM_ORDER, RunStore, stacked_curves
from bench.studies.sanity import SANITY_FOLDER
from common import thesis
from common.errors import InputError

META_CSV = "meta.csv"
DISCOVERY_JSON = "discovery.json"
DISCOVERY_CSV = "discovery.csv"


class SiteInputError(InputError):
    """A folder ``bench site`` cannot read, or an output folder it must not replace."""


def slug(text: str) -> str:
    """A file-name-safe form of a name (reference, folder, image id)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def ordered(methods: list[str]) -> list[str]:
    """Methods in the thesis's order, then the others as given."""
    return [m for m in thesis.METHOD_ORDER if m in methods] + [m for m in methods if m not in thesis.METHOD_ORDER]


@dataclass(eq=False)
class Board:
    """Methods scored on the same images: a reference (``kind`` "reference") or a run folder."""

    kind: str
    name: str
    path: Path
    fingerprint_sha256: str
    run: dict
    """The run's settings (a reference's fingerprint): metrics_settings, model, method_metadata."""
    image_ids: list[str]
    methods: list[str]
    metrics: pd.DataFrame
    summaries: list[dict]
    curves: dict[str, np.ndarray]
    """"<method>.<curve key>_logit" -> (images, steps + 1), rows in :attr:`image_ids`' order."""
    maps: dict[str, RunStore] = field(default_factory=dict)
    """method -> the run folder holding its maps; references hold none."""
    pictures: dict[str, np.ndarray] | None = None
    meta: pd.DataFrame | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def signed(self) -> dict[str, bool]:
        recorded = self.run.get("method_metadata") or {}
        return {m: bool(recorded.get(m, {}).get("signed", True)) for m in self.methods}


@dataclass(eq=False)
class Check:
    """A ``bench check`` folder: check.json, and its run's maps and curves."""

    name: str
    path: Path
    result: dict
    created: datetime
    summaries: list[dict]
    curves: dict[str, np.ndarray]
    maps: dict[str, RunStore]
    pictures: dict[str, np.ndarray] | None

    @property
    def method(self) -> str:
        return self.result["method"]

    @property
    def fingerprint_sha256(self) -> str:
        return self.result["reference"]["fingerprint_sha256"]

    @property
    def label(self) -> str:
        return f"{self.method} ({self.created:%Y-%m-%d %H:%M})"


@dataclass
class Export:
    """``bench export``'s bencher.json: {method: {metric: {value, lower_value, upper_value}}}, dated by the file."""

    path: Path
    values: dict
    created: datetime


@dataclass
class Results:
    boards: list[Board] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    sanity: list[tuple[Path, list[dict]]] = field(default_factory=list)
    discovery: list[tuple[Path, pd.DataFrame]] = field(default_factory=list)
    meta: list[pd.DataFrame] = field(default_factory=list)
    """meta.csv tables of folders of their own: they grade every board."""
    sources: list[dict] = field(default_factory=list)

    def checks_of(self, board: Board) -> list[Check]:
        """The checks made against ``board``, oldest first: those of the same fingerprint, and for
        a reference those naming it (a check of some of its replacements only, ``--replacement``,
        has the fingerprint of that part)."""
        return sorted(
            (
                c
                for c in self.checks
                if c.fingerprint_sha256 == board.fingerprint_sha256
                or (board.kind == "reference" and c.result["reference"]["name"] == board.name)
            ),
            key=lambda c: c.created,
        )

    def meta_of(self, board: Board) -> pd.DataFrame | None:
        return board.meta if board.meta is not None else (self.meta[-1] if self.meta else None)


def collect(folders: list[str | Path]) -> Results:
    """Read every folder (a shipped reference may be given by name); unknown folders are refused."""
    results = Results()
    for given in folders:
        folder = Path(given)
        if not folder.is_dir() and str(given) in references.SHIPPED:
            folder = references.load_reference(str(given)).path
        if not folder.is_dir():
            raise SiteInputError(f"{given}: no such folder (give run, reference, check, sanity, discovery or export folders)")
        kinds = _read_folder(folder, results)
        if not kinds:
            raise SiteInputError(
                f"{folder}: not a run, reference, check, sanity, discovery, export or meta folder (it holds none of "
                f"run.json, {references.REFERENCE_JSON}, {CHECK_JSON}, sanity.json, {DISCOVERY_JSON}, {BENCHER}, {META_CSV})"
            )
        results.sources.append({"folder": str(given), "kinds": kinds})
    return results


def _read_folder(folder: Path, results: Results) -> list[str]:
    kinds = []
    meta = _read_meta(folder)
    if (folder / references.REFERENCE_JSON).is_file():
        results.boards.append(reference_board(folder, meta))
        kinds.append("reference")
    elif (folder / CHECK_JSON).is_file():
        results.checks.append(read_check(folder))
        kinds.append("check")
    elif (folder / "run.json").is_file():
        results.boards.append(run_board(folder, meta))
        kinds.append("run")
    elif meta is not None:
        results.meta.append(meta)
        kinds.append("meta")
    for sanity in (folder, folder / SANITY_FOLDER):
        if (sanity / "sanity.json").is_file():
            results.sanity.append((sanity, sanity_summaries(sanity)))
            kinds.append("sanity")
    if (folder / DISCOVERY_CSV).is_file() and (folder / DISCOVERY_JSON).is_file():
        results.discovery.append((folder, pd.read_csv(folder / DISCOVERY_CSV, dtype={"image_id": str})))
        kinds.append("discovery")
    if (folder / BENCHER).is_file():
        values = read_json_object(folder / BENCHER)
        created = datetime.fromtimestamp((folder / BENCHER).stat().st_mtime, UTC)
        results.exports.append(Export(folder, values, created))
        kinds.append("export")
    return kinds


def _read_meta(folder: Path) -> pd.DataFrame | None:
    """meta.csv of a reference, of ``bench meta --out`` or of a run (``meta/meta.csv``)."""
    path = next((p for p in (folder / META_CSV, folder / "meta" / META_CSV) if p.is_file()), None)
    if path is None:
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise SiteInputError(f"{path} is unreadable ({err}); rebuild it with python -m bench meta") from None


def reference_board(folder: Path, meta: pd.DataFrame | None) -> Board:
    ref = references.load_reference(folder)
    return Board(
        kind="reference",
        name=ref.name,
        path=ref.path,
        fingerprint_sha256=ref.fingerprint_sha256,
        run=ref.fingerprint,
        image_ids=ref.image_ids,
        methods=ordered(ref.methods),
        metrics=ref.metrics,
        summaries=summaries(ref.path),
        curves=ref.curves(),
        pictures=reference_pictures(ref.fingerprint),
        meta=meta,
    )


def reference_pictures(fingerprint: dict) -> dict[str, np.ndarray] | None:
    """A reference's images, where a data folder here holds them with the same pixels (its
    fingerprint's sha256 of each): the fetched NIPS-2017 set (data/nips17), else the embedded
    photos; None when neither does (a reference stores no pixels)."""
    for folder in (DEFAULT_DATA_DIR, embedded_image_set_dir()):
        found = load_run_images(fingerprint, fingerprint["image_ids"], folder)
        if found is not None:
            return found
    return None


def run_board(folder: Path, meta: pd.DataFrame | None) -> Board:
    store = RunStore(folder)
    run = store.read_run()
    assert run is not None  # run.json exists: read_run names an unreadable one
    methods = ordered(run["methods"])
    ids = run["image_ids"]
    return Board(
        kind="run",
        name=folder.name,
        path=folder,
        fingerprint_sha256=fingerprint_sha256({k: run.get(k) for k in references.FINGERPRINT_KEYS}),
        run=run,
        image_ids=ids,
        methods=methods,
        metrics=pd.read_csv(store.verified_table("metrics.csv"), dtype={"image_id": str}),
        summaries=summaries(folder),
        curves=stored_curves(store, [RANDOM_ORDER, *methods], ids),
        maps={m: store for m in methods if store.map_path(m, "x").parent.is_dir()},
        pictures=load_run_images(run, ids),
        meta=meta,
    )


def stored_curves(store: RunStore, methods: list[str], ids: list[str]) -> dict[str, np.ndarray]:
    """A reference's curves.npz layout ("<method>.<key>_logit" -> (images, steps + 1)) from a
    run's records; a method without every image's record is left out."""
    out: dict[str, np.ndarray] = {}
    for method in methods:
        if not all(store.has(method, i) for i in ids):
            continue
        out |= stacked_curves(method, [store.read_record(store.record_path(method, i)) for i in ids])
    return out


def read_check(folder: Path) -> Check:
    result = read_json_object(folder / CHECK_JSON)
    try:
        created = datetime.fromisoformat(result["created"])
        method, ids = result["method"], result["images"]
    except (KeyError, TypeError, ValueError) as err:
        raise SiteInputError(f"{folder / CHECK_JSON} is not a check made by this suite ({err!r})") from None
    store = RunStore(folder / "run")
    run = store.read_run() if store.run_json.is_file() else None
    return Check(
        name=slug(f"{folder.name}-{created:%Y%m%d%H%M%S}"),
        path=folder,
        result=result,
        created=created,
        summaries=summaries(folder),
        curves=stored_curves(store, [method], ids) if run is not None else {},
        maps={method: store} if store.map_path(method, "x").parent.is_dir() else {},
        pictures=load_run_images(run, ids) if run is not None else None,
    )
