"""Stored references: a finished run frozen into a compact folder that ``bench check``
compares new methods against, without rerunning the baselines.

Layout of a reference folder::

    reference.json   name, how it was made, the fingerprint (model and weights sha256,
                     image ids and each image's pixel sha256, targets, seed, method and
                     metric settings), package versions
    metrics.csv      image_id, method, metric, value (every per-image value, exact)
    curves.npz       "<method>.<order>_<logit|prob>": (images, steps + 1) on that replacement's grid, rows in the
                     order of the fingerprint's image_ids; the random-order baseline too
    meta.csv         only when the run held a meta-evaluation (RUN_DIR/meta/meta.csv, written by
                     ``bench meta RUN_DIR --out RUN_DIR/meta``) or one was attached later
                     (``bench meta REFERENCE --attach``): bench check prints its trust grades
                     beside the verdicts (:attr:`Reference.meta`)
    sanity.csv       only when the run held a finished randomisation test (RUN_DIR/sanity):
                     its cascading table (bench.studies.sanity.CSV_COLUMNS); reference.json's
                     "sanity" holds its fingerprint, methods and summary, and bench check
                     then runs the test on the checked method and compares it too

The suite ships two (``bench/regression/shipped/<name>/``; how each was made is in its
reference.json and in ``bench/regression/shipped/README.md``), each with its curves under both
replacements (random colour and ROAD), so a check compares both unless told otherwise
(:meth:`Reference.restricted_to`). They are read-only: ``bench reference --out`` into them and
``bench meta --attach`` to them are refused (copy one first) unless :data:`MAINTAINER_ENV` is 1.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.fingerprint import fingerprint_sha256
from bench.core.jsonfiles import read_json_file
from bench.run.profile import replacements, with_replacements
from bench.run.store import RANDOM_ORDER, RunFolderError, RunStore, stacked_curves
from bench.studies.meta.settings import META_CSV, META_FOLDER
from bench.studies.sanity import SANITY_FOLDER, final_values, read_table
from common.errors import CorruptFileError, InputError, UnknownNameError
from common.files import file_sha256, replace_dir, write_json
from metrics.per_image import CURVE_METRICS, curve_metric_name

REFERENCE_JSON = "reference.json"
SANITY_CSV = "sanity.csv"
SHIPPED_DIR = files("bench.regression") / "shipped"
SHIPPED = ("nips17-ci", "embedded-ci")
"""The shipped references, in the order ``bench check`` tries them for a data folder."""
FORMAT = 1
FILES = "files"
"""reference.json's entry: data file name -> sha256, verified whenever the reference is loaded."""

FINGERPRINT_KEYS = (
    "model",
    "model_input_size",
    "preprocessing",
    "weights_sha256",
    "image_ids",
    "image_sha256",
    "targets",
    "labels",
    "seed",
    "methods",
    "method_params",
    "method_metadata",
    "metrics_settings",
)
MATCHED_BY_CHECK = ("model", "weights_sha256", "image_ids", "image_sha256", "targets", "seed", "metrics_settings")
"""What a method checked against a reference must share with it: the same model and weights,
the same images (pixel for pixel) and targets, the seed behind the random colours of the
curves, and every metric setting."""


class ReferenceInputError(InputError):
    """A reference that cannot be made or used as asked."""


MAINTAINER_ENV = "BENCH_MAINTAINER"
"""Environment variable: ``1`` lets the maintainers refresh the shipped references in place
(``bench reference ... --out bench/regression/shipped/NAME``, ``bench meta NAME ... --attach``);
without it they are read-only (:func:`require_writable_reference`)."""


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` is (or is inside) the shipped references' folder."""
    shipped = Path(str(SHIPPED_DIR)).resolve()
    return Path(path).resolve().is_relative_to(shipped)


def require_writable_reference(path: str | Path, action: str) -> None:
    """Refuse (:class:`ReferenceInputError`) to ``action`` a shipped reference: every user's
    checks compare against it, so it changes only when the maintainers refresh it, with
    :data:`MAINTAINER_ENV` set to 1."""
    if not is_shipped(path) or os.environ.get(MAINTAINER_ENV) == "1":
        return
    name = Path(path).name
    raise ReferenceInputError(
        f"{path} is a reference shipped with the suite ({name}); it is read-only: {action} a copy of your own, e.g. "
        f"cp -r {path} my-{name} (then name my-{name} instead of {name}), or freeze a run of your own with python -m bench "
        f"reference RUN_DIR --out DIR. (Maintainers refreshing the shipped references: set {MAINTAINER_ENV}=1, "
        "bench/regression/shipped/README.md.) Nothing was written"
    )


@dataclass(frozen=True)
class Reference:
    path: Path
    info: dict

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def fingerprint(self) -> dict:
        return self.info["fingerprint"]

    @property
    def fingerprint_sha256(self) -> str:
        return fingerprint_sha256(self.fingerprint)

    @property
    def methods(self) -> list[str]:
        return self.fingerprint["methods"]

    @property
    def image_ids(self) -> list[str]:
        return self.fingerprint["image_ids"]

    @cached_property
    def metrics(self) -> pd.DataFrame:
        path = self.path / "metrics.csv"
        try:
            return pd.read_csv(
                path, dtype={"image_id": str, "method": str, "metric": str, "value": np.float64}, float_precision="round_trip"
            )
        except (OSError, ValueError) as err:
            raise CorruptFileError(f"{path} is unreadable ({err}); the reference {self.path} is incomplete") from None

    @cached_property
    def metric_names(self) -> set[str]:
        """The metrics the reference holds (its curve metrics depend on its ``metrics.replacement``)."""
        return set(self.metrics["metric"])

    @property
    def replacements(self) -> list[str]:
        """The pixel replacements of the reference's curves (``metrics.replacement``)."""
        return replacements(self.fingerprint["metrics_settings"])

    def restricted_to(self, chosen: list[str]) -> Reference:
        """This reference with the curves of the replacements ``chosen`` only, and its metric
        settings saying so: what ``bench check --replacement random-colour`` compares against
        when ROAD's curves (several times the cost of the random-colour ones) are not wanted."""
        unknown = [r for r in chosen if r not in self.replacements]
        if not chosen or unknown:
            raise ReferenceInputError(
                f"--replacement {','.join(unknown or chosen) or '(none)'}: the reference {self.name} ({self.path}) holds "
                f"curves under {', '.join(self.replacements)}; choose among those"
            )
        info = copy.deepcopy(self.info)
        info["fingerprint"]["metrics_settings"] = with_replacements(self.fingerprint["metrics_settings"], chosen)
        dropped = {curve_metric_name(i.name, r) for r in self.replacements if r not in chosen for i in CURVE_METRICS}
        narrowed = Reference(self.path, info)
        narrowed.__dict__["metrics"] = self.metrics[~self.metrics["metric"].isin(dropped)]  # fills the cached property
        return narrowed

    def values(self, method: str, metric: str) -> np.ndarray:
        """Per-image values of ``method``'s ``metric``, in the order of :attr:`image_ids`."""
        part = self.metrics[(self.metrics["method"] == method) & (self.metrics["metric"] == metric)]
        series = part.set_index("image_id")["value"].reindex(self.image_ids)
        return series.to_numpy()

    def curves(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "curves.npz") as data:
            return {k: data[k] for k in data.files}

    @cached_property
    def meta(self) -> pd.DataFrame | None:
        """The meta-evaluation of the reference's metrics (meta.csv: metric, measure, value,
        ci_low, ci_high, n), or None when it has none; its sha256 was checked on loading."""
        path = self.path / META_CSV
        if META_CSV not in self.info.get(FILES, {}):
            return None
        try:
            return pd.read_csv(path, float_precision="round_trip")
        except (OSError, ValueError) as err:
            raise CorruptFileError(f"{path} is unreadable ({err}); the reference {self.path} is incomplete") from None

    @property
    def sanity(self) -> dict | None:
        """The randomisation test frozen with the run (fingerprint, methods, summary), or None."""
        return self.info.get("sanity")

    @property
    def sanity_test(self) -> dict:
        """:attr:`sanity`, for a caller that needs one: a reference without is refused."""
        if self.sanity is None:
            raise ReferenceInputError(f"{self.path} holds no randomisation test")
        return self.sanity

    @cached_property
    def sanity_table(self) -> pd.DataFrame:
        path = self.path / SANITY_CSV
        try:
            return pd.read_csv(path, dtype={"image_id": str, "method": str}, float_precision="round_trip")
        except (OSError, ValueError) as err:
            raise CorruptFileError(f"{path} is unreadable ({err}); the reference {self.path} is incomplete") from None

    def sanity_values(self, method: str, metric: str) -> np.ndarray:
        """Per image of the test (its fingerprint's order): ``method``'s ``metric``
        (:data:`bench.studies.sanity.SUMMARY_METRICS`) after full randomisation."""
        return final_values(self.sanity_table, method, metric, self.sanity_test["fingerprint"]["image_ids"])


def freeze_run(run_dir: str | Path, out: str | Path, name: str | None = None, command: str | None = None) -> Reference:
    """Write the reference of the finished run in ``run_dir`` to ``out`` (replacing a reference
    there, never anything else), from its records: values are exact, not the rounded CSV. The
    data folder is named, not its path on this machine: references are shipped."""
    store = RunStore(run_dir)
    run = store.read_run()
    if run is None:
        raise RunFolderError(f"{store.run_json} not found: {store.root} is not a run folder")
    if run.get("status") != "complete" or store.missing_records(run["methods"], run["image_ids"]):
        missing = "; ".join(store.missing_records(run["methods"], run["image_ids"])) or f"status {run.get('status')!r}"
        raise RunFolderError(f"{store.root} is not a finished run ({missing}); finish it first (rerun the same command)")
    out = Path(out)
    require_writable_reference(out, "freeze into")
    if out.exists() and not (out / REFERENCE_JSON).is_file():
        raise ReferenceInputError(f"{out} exists and is not a reference folder; choose another --out (nothing was written)")
    store.verify(run["methods"], run["image_ids"])
    sanity = frozen_sanity(store.root / SANITY_FOLDER, run)
    ids = run["image_ids"]
    metric_rows: list[tuple[str, str, str, float]] = []
    curves: dict[str, np.ndarray] = {}
    for method in [RANDOM_ORDER, *run["methods"]]:
        records = [store.read_record(store.record_path(method, i)) for i in ids]
        for image_id, rec in zip(ids, records):
            metric_rows += [(image_id, method, str(n), float(v)) for n, v in zip(rec["metric_names"], rec["metric_values"])]
        curves |= stacked_curves(method, records)
    info = {
        "format": FORMAT,
        "name": name or out.name,
        "description": run.get("description", ""),
        "command": command,
        "profile": run.get("profile"),
        "data": run.get("data") if run.get("embedded_data") else f"image set in a folder named {Path(run['data_dir']).name}",
        "fingerprint": {k: run.get(k) for k in FINGERPRINT_KEYS},
        "versions": run.get("versions", {}),
        "timings_s": run.get("timings_s", {}),
    }
    if sanity is not None:
        info["sanity"] = sanity[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        # no float_format: pandas writes the shortest repr that reads back to the same float
        pd.DataFrame(metric_rows, columns=["image_id", "method", "metric", "value"]).to_csv(staged / "metrics.csv", index=False)
        np.savez_compressed(staged / "curves.npz", **curves)  # type: ignore[arg-type]  # numpy's stub: **kwds as allow_pickle
        if sanity is not None:
            sanity[1].to_csv(staged / SANITY_CSV, index=False)
        if (store.root / META_FOLDER / META_CSV).is_file():
            shutil.copyfile(store.root / META_FOLDER / META_CSV, staged / META_CSV)
        info[FILES] = data_file_hashes(staged)
        write_json(staged / REFERENCE_JSON, info)
        staged.chmod(0o755)
        replace_dir(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return load_reference(out)


def frozen_sanity(folder: Path, run: dict) -> tuple[dict, pd.DataFrame] | None:
    """What a reference keeps of the run's randomisation test in ``folder``: (reference.json's
    "sanity", the cascading table), or None when there is none. A test that is unfinished, or
    was made with another model or weights or on other images than the run's, is refused."""
    path = folder / "sanity.json"
    if not path.is_file():
        return None
    test = read_json_file(path)
    if test is None or test.get("status") != "complete" or "cascading" not in test.get("modes", []):
        raise ReferenceInputError(
            f"{folder} holds an unfinished randomisation test, or one without the cascading mode; finish it (rerun its "
            "bench sanity command) or move it out of the run folder"
        )
    fingerprint = test["fingerprint"]
    weights = run.get("weights_sha256") or run.get("weights")
    if fingerprint["model"] != run["model"] or fingerprint["weights_sha256"] != weights:
        raise ReferenceInputError(
            f"{folder}: the randomisation test was made with {fingerprint['model']} ({fingerprint['weights_sha256']}), "
            f"the run with {run['model']} ({weights}); a reference holds one model's results. Move it out of the run folder"
        )
    outside = [i for i in fingerprint["image_ids"] if i not in set(run["image_ids"])]
    if outside:
        raise ReferenceInputError(f"{folder}: the randomisation test used images the run has not: {', '.join(outside[:5])}")
    return {"fingerprint": fingerprint, "methods": test["methods"], "summary": test["summary"]["cascading"]}, read_table(folder)


def attach_meta(folder: str | Path, meta_csv: str | Path) -> Reference:
    """Add (or replace) ``meta_csv`` as the reference's meta.csv and record its sha256 in
    reference.json, the reference staged whole and moved into place (as :func:`freeze_run`)."""
    ref = load_reference(folder)
    require_writable_reference(ref.path, "attach to")
    columns = {"metric", "measure", "value", "ci_low", "ci_high", "n"}
    try:
        found = set(pd.read_csv(meta_csv, nrows=1).columns)
    except (OSError, ValueError) as err:
        raise ReferenceInputError(f"{meta_csv} is unreadable ({err}); make it with python -m bench meta") from None
    if not columns <= found:
        raise ReferenceInputError(
            f"{meta_csv} lacks the columns {', '.join(sorted(columns - found))}: not a meta.csv of bench meta"
        )
    staged = Path(tempfile.mkdtemp(prefix=f".{ref.path.name}.", dir=ref.path.parent))
    try:
        for name in ref.info.get(FILES, {}):
            shutil.copyfile(ref.path / name, staged / name)
        shutil.copyfile(meta_csv, staged / META_CSV)
        info = dict(ref.info)
        info[FILES] = data_file_hashes(staged)
        write_json(staged / REFERENCE_JSON, info)
        staged.chmod(0o755)
        replace_dir(staged, ref.path)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return load_reference(ref.path)


def load_reference(name_or_path: str | Path) -> Reference:
    """A shipped reference by name (``nips17-ci``) or a reference folder by path."""
    path = Path(name_or_path)
    if not (path / REFERENCE_JSON).is_file():
        if str(name_or_path) not in SHIPPED:
            raise UnknownNameError(
                f"no reference {str(name_or_path)!r}: not a folder with {REFERENCE_JSON}, nor a shipped reference "
                f"({', '.join(SHIPPED)}); make one with python -m bench reference RUN_DIR --out DIR"
            )
        path = Path(str(SHIPPED_DIR / str(name_or_path)))
    info = read_json_file(path / REFERENCE_JSON)
    if not isinstance(info, dict) or info.get("format") != FORMAT or "fingerprint" not in info:
        raise CorruptFileError(f"{path / REFERENCE_JSON} is not a reference of format {FORMAT} made by this suite")
    verify_files(path, info)
    return Reference(path, info)


def data_file_hashes(folder: Path) -> dict[str, str]:
    """file name -> sha256 of each data file of a reference folder (all but reference.json)."""
    return {p.name: file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != REFERENCE_JSON}


def verify_files(path: Path, info: dict) -> None:
    """Refuse a reference whose data files differ from the sha256 its reference.json records
    (an edited value would change every verdict checked against it), or that lacks one. A
    reference made before the hashes were recorded is read unchecked."""
    recorded = info.get(FILES)
    if recorded is None:
        return
    for name, expected in recorded.items():
        file = path / name
        if not file.is_file():
            raise CorruptFileError(f"{file}: listed in {path / REFERENCE_JSON} but missing; the reference is incomplete")
        if file_sha256(file) != expected:
            raise CorruptFileError(
                f"{file} differs from the sha256 {path / REFERENCE_JSON} records for it: the reference was changed after "
                "it was frozen, so no verdict against it can be trusted; freeze it again from its run (python -m bench "
                "reference RUN_DIR --out DIR) or restore the file"
            )


def shipped_reference_for(image_ids: list[str], data_description: str) -> Reference:
    """The first shipped reference whose images are all in ``image_ids`` (a data folder's)."""
    present = set(image_ids)
    for name in SHIPPED:
        reference = load_reference(name)
        if set(reference.image_ids) <= present:
            return reference
    raise ReferenceInputError(
        f"no shipped reference ({', '.join(SHIPPED)}) has all its images in {data_description}; pass --data-dir with "
        "the NIPS-2017 development set or the embedded default, or --reference DIR (python -m bench reference makes one)"
    )
