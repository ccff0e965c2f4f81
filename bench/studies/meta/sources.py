"""What the meta-evaluation reads of a run or a reference: its model, images, methods, per-image
metric values and each method's early MoRF drop per image (from its curves).

A run folder is read through its store (:class:`bench.run.store.RunStore`, the values the
report reads); a reference is handed over by its caller as plain tables (the reference layer
sits above this one: ``bench/cli/meta.py`` loads and verifies it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.run.store import RANDOM_ORDER, RunFolderError, RunStore
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
    )


def from_reference_tables(
    name: str, fingerprint: dict, metrics: pd.DataFrame, curves: Mapping[str, np.ndarray], window: Window
) -> MetaSource:
    """A reference's fingerprint, metrics.csv and curves.npz (``<method>.<order>_logit`` arrays,
    rows in the fingerprint's image order; ``road:morf`` for ROAD's)."""
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
    )


def _settings(run: dict) -> dict:
    return {k: run.get(k) for k in ("seed", "targets", "metrics_settings", "method_params", "image_ids", "weights")}
