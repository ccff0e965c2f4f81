"""What the meta-evaluation reads of a run or a reference: its model, images, methods, per-image
metric values and each method's early MoRF drop per image (from its curves).

A run folder is read through its store (:class:`bench.run.store.RunStore`, the values the
report reads); a reference is handed over by its caller as plain tables (the reference layer
sits above this one: ``bench/cli/meta.py`` loads and verifies it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from bench.datasets.imageset import CSV_NAME
from bench.run.store import RANDOM_ORDER, RunFolderError, RunStore
from bench.studies.meta.settings import META_FOLDER
from common.errors import InputError
from metrics.perturbation import DEFAULT_REPLACEMENT

Window = Callable[[int], tuple[int, int]]
"""Steps of a curve -> the first and last step (inclusive) of its early part."""


@dataclass(frozen=True)
class MetaSource:
    name: str
    model: str
    image_ids: list[str]
    methods: list[str]
    """The saliency methods (the random-order baseline excluded)."""
    metrics: pd.DataFrame
    """image_id, method, metric, value."""
    early_drop: pd.DataFrame
    """image_id, method, replacement, value: the target logit at step 0 minus its mean over the
    early MoRF steps (claim 3's window): how steeply the MoRF curve falls first."""
    settings: dict
    """What a recomputation needs: ``seed``, ``targets``, ``metrics_settings``, ``method_params``."""
    image_sha256: dict[str, str] = field(default_factory=dict)
    """image id -> sha256 of its pixels at the model's input size (run.json's, the fingerprint's)."""
    input_size: tuple[int, int] | None = None
    data_dir: str | None = None
    """The run's data folder, as its run.json records it (a reference records none)."""
    path: str | None = None
    """The run or reference folder read (bench meta writes nothing into it)."""
    reference: bool = False

    def table(self, metric: str, methods: list[str] | None = None) -> pd.DataFrame:
        """Images (index) x methods: ``metric``'s values, images lacking a method's value dropped."""
        return pivot(self.metrics, metric, methods or self.methods)

    def early_table(self, replacement: str, methods: list[str] | None = None) -> pd.DataFrame:
        part = self.early_drop[self.early_drop["replacement"] == replacement]
        wide = part.pivot_table(index="image_id", columns="method", values="value", aggfunc="mean")
        chosen = [m for m in (methods or self.methods) if m in wide.columns]
        return wide[chosen].dropna()


def pivot(metrics: pd.DataFrame, metric: str, methods: list[str]) -> pd.DataFrame:
    part = metrics[(metrics["metric"] == metric) & metrics["method"].isin(methods)]
    wide = part.pivot_table(index="image_id", columns="method", values="value", aggfunc="mean")
    return wide[[m for m in methods if m in wide.columns]].dropna()


def _drop(logits: np.ndarray, window: Window) -> np.ndarray:
    """Per row (an image's MoRF logits, step 0 first): step 0 minus the mean over the early window."""
    first, last = window(logits.shape[1] - 1)
    return logits[:, 0] - logits[:, first : last + 1].mean(axis=1)


def from_run(folder: str | Path, window: Window) -> MetaSource:
    """A finished or partial run folder (its records, as the report reads them)."""
    store = RunStore(folder)
    run = store.read_run()
    if run is None:
        raise RunFolderError(f"{store.run_json} not found: {folder} is not a run folder (nor a reference)")
    h, w = run["model_input_size"]
    metrics, curves = store.tables(run["metrics_settings"], h * w)
    morf = curves[(curves["order"] == "morf") & (curves["method"] != RANDOM_ORDER)]
    rows = []
    for (method, replacement), part in morf.groupby(["method", "replacement"]):
        wide = part.pivot_table(index="image_id", columns="step", values="logit")
        rows += [(i, method, replacement, v) for i, v in zip(wide.index, _drop(wide.to_numpy(), window))]
    return MetaSource(
        name=Path(folder).name,
        model=run["model"],
        image_ids=list(run["image_ids"]),
        methods=[m for m in run["methods"] if m in set(metrics["method"])],
        metrics=metrics,
        early_drop=pd.DataFrame(rows, columns=["image_id", "method", "replacement", "value"]),
        settings=_settings(run),
        image_sha256=dict(run.get("image_sha256") or {}),
        input_size=tuple(run["model_input_size"]),
        data_dir=run.get("data_dir"),
        path=str(folder),
    )


def from_reference_tables(
    name: str,
    fingerprint: dict,
    metrics: pd.DataFrame,
    curves: Mapping[str, np.ndarray],
    window: Window,
    path: str | Path | None = None,
) -> MetaSource:
    """A reference's fingerprint, metrics.csv and curves.npz (``<method>.<order>_logit`` arrays,
    rows in the fingerprint's image order; ``road:morf`` for ROAD's); ``path``: its folder."""
    ids = list(fingerprint["image_ids"])
    rows = []
    for key, values in curves.items():
        method, _, curve = key.partition(".")
        replacement, _, order = curve.removesuffix("_logit").rpartition(":")
        if method == RANDOM_ORDER or order != "morf" or not curve.endswith("_logit"):
            continue
        rows += [(i, method, replacement or DEFAULT_REPLACEMENT, v) for i, v in zip(ids, _drop(np.asarray(values), window))]
    return MetaSource(
        name=name,
        model=fingerprint["model"],
        image_ids=ids,
        methods=list(fingerprint["methods"]),
        metrics=metrics,
        early_drop=pd.DataFrame(rows, columns=["image_id", "method", "replacement", "value"]),
        settings=_settings(fingerprint),
        image_sha256=dict(fingerprint.get("image_sha256") or {}),
        input_size=tuple(fingerprint["model_input_size"]) if fingerprint.get("model_input_size") else None,
        path=None if path is None else str(path),
        reference=True,
    )


def _settings(run: dict) -> dict:
    return {k: run.get(k) for k in ("seed", "targets", "metrics_settings", "method_params", "image_ids", "weights")}


class PairingError(InputError):
    """Two sources that do not hold the same images (by id and pixels); the message says which."""


def _listed(ids: list[str], limit: int = 10) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def paired_images(source: MetaSource, other: MetaSource, data_dir: str | Path | None = None) -> list[str]:
    """The images ``source`` and ``other`` (another model's run or reference) share: the same id
    and the same pixels. Every image of each must pair, else :class:`PairingError` says which
    ids do not (in one source only, or with other pixels): an agreement measured on a part, or
    on other pictures under the same names, is no agreement of the two models.

    The pixels are compared by the sha256 each source recorded (run.json's ``image_sha256``,
    a reference's fingerprint), which is taken at the model's input size. Sources of one input
    size compare them directly; of two sizes, the images are read once from ``data_dir`` (default:
    ``source``'s recorded data folder, else the default data folder), resized to each size and
    hashed, and must give both sources' hashes."""
    theirs = set(other.image_ids)
    common = [i for i in source.image_ids if i in theirs]
    only_first = [i for i in source.image_ids if i not in set(common)]
    only_second = [i for i in other.image_ids if i not in set(common)]
    for s in (source, other):
        unhashed = [i for i in s.image_ids if i not in s.image_sha256]
        if unhashed:
            raise PairingError(
                f"{s.name} records no pixel sha256 (image_sha256) for {_listed(unhashed)}, so its images cannot be paired "
                "with the other SOURCE's; make it again with this version"
            )
    if common and source.input_size is not None and source.input_size == other.input_size:
        differ = [i for i in common if source.image_sha256[i] != other.image_sha256[i]]
    elif common:
        differ = _differ_resized(source, other, common, data_dir)
    else:
        differ = []
    if differ or only_first or only_second or not common:
        what = [
            f"{len(differ)} share an id but not the pixels ({_listed(differ)})" if differ else "",
            f"{len(only_first)} are only in {source.name} ({_listed(only_first)})" if only_first else "",
            f"{len(only_second)} are only in {other.name} ({_listed(only_second)})" if only_second else "",
        ]
        paired = len(common) - len(differ)
        raise PairingError(
            f"bench meta: the two SOURCEs pair on {paired} of {len(source.image_ids)} images of {source.name} and "
            f"{len(other.image_ids)} of {other.name} (same id and pixels): {'; '.join(w for w in what if w)}. The "
            "inter-model agreement compares two models on the same images: give a second run on exactly the first's images"
        )
    return common


def _differ_resized(source: MetaSource, other: MetaSource, ids: list[str], data_dir) -> list[str]:
    """The ids of ``ids`` whose pixels (read from the data folder, resized to each source's size)
    give ``source``'s hash but not ``other``'s; a folder that does not give ``source``'s is refused."""
    from bench.core.provenance import image_sha256  # noqa: PLC0415
    from bench.datasets import load_images  # noqa: PLC0415 - the data layer, only for sources of two sizes

    if data_dir is None and source.data_dir and (Path(source.data_dir) / CSV_NAME).is_file():
        data_dir = source.data_dir
    hashes = []
    for s in (source, other):
        try:
            size = cast("tuple[int, int]", tuple(s.input_size or ()))
            images, folder, _ = load_images(data_dir, size, ids=ids)
        except InputError as err:
            raise PairingError(
                f"bench meta: {source.name} and {other.name} have different input sizes, so their pixel hashes are "
                f"compared on the images read again, which failed: {err}. Pass --data-dir with the images they ran on"
            ) from None
        hashes.append(image_sha256(images.ids, images.pixels))
    wrong = [i for i in ids if hashes[0][i] != source.image_sha256[i]]
    if wrong:
        raise PairingError(
            f"bench meta: the images in {folder} are not those {source.name} ran on ({_listed(wrong)} differ); pass "
            "--data-dir with the images of the runs, to compare the two SOURCEs' pixels"
        )
    return [i for i in ids if hashes[1][i] != other.image_sha256[i]]


def require_outside_sources(out: str | Path, sources: list[MetaSource]) -> None:
    """Refuse (:class:`InputError`) an output folder that is a SOURCE's folder or inside one:
    bench meta never writes into its input (a reference given files its reference.json does not
    list is refused by every later check; a run's figures/ is its report's). The one place
    inside a run it writes is the run's own ``meta/`` (:data:`META_FOLDER`), which the run's
    report and ``bench reference`` read."""
    target = Path(out).resolve()
    for s in sources:
        if s.path is None:
            continue
        folder = Path(s.path).resolve()
        own = not s.reference and target == folder / META_FOLDER
        if target.is_relative_to(folder) and not own:
            hint = "" if s.reference else f" (a run's own meta-evaluation goes to {Path(s.path) / META_FOLDER})"
            raise InputError(
                f"--out {out} is inside the SOURCE {s.path}: bench meta never writes into its input{hint}; choose a "
                "folder outside it. Nothing was written"
            )
