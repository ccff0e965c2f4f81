"""The sanity check's tables and summary: the per-image similarities of every step
(:data:`CSV_COLUMNS`), and per method the similarity after full randomisation with its
bootstrap CI and verdict (:data:`NEAR_ZERO`, :data:`STAYS_SIMILAR`), the numbers a dashboard
charts and ``bench check`` compares (:data:`SUMMARY_METRICS`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import CorruptFileError
from metrics import summarise
from metrics.per_image import MetricInfo

SANITY_FOLDER = "sanity"
"""A run's (and a check's) sanity folder, shown in its report and export, frozen into its
reference: ``python -m bench sanity ... --out RUN_DIR/sanity``."""
CSV_COLUMNS = ["method", "image_id", "step", "layer", "spearman", "ssim"]
CSV_NAMES = {"cascading": "randomisation.csv", "independent": "randomisation-independent.csv"}
NEAR_ZERO = 0.2
"""A method "falls to about 0" when the 95% bootstrap CI of its mean Spearman after full
randomisation lies inside (-NEAR_ZERO, NEAR_ZERO)."""
STAYS_SIMILAR = 0.5
"""... and "stays similar" (fails the test) when the CI's lower end is at least this."""
N_BOOT = 2000
SUMMARY_METRICS = {
    column: MetricInfo(
        f"randomisation_{column}",
        "1",
        False,
        f"mean {label} between a map and the map of the fully randomised model (cascading MPRT); a method that explains "
        "the model falls to about 0",
    )
    for column, label in (("spearman", "Spearman rank correlation of abs relevance"), ("ssim", "SSIM of the normalised abs maps"))
}
"""The summary numbers a dashboard charts (``bench export``) and ``bench check`` compares:
lower is better, the test's pass is about 0."""


def read_table(folder: Path, mode: str = "cascading") -> pd.DataFrame:
    """A finished sanity folder's table for ``mode`` (:data:`CSV_COLUMNS`), values exact."""
    path = Path(folder) / CSV_NAMES[mode]
    try:
        return pd.read_csv(path, dtype={"image_id": str, "method": str}, float_precision="round_trip")
    except (OSError, ValueError) as err:
        raise CorruptFileError(f"{path} is unreadable ({err}); rerun the bench sanity command that made it") from None


def final_values(table: pd.DataFrame, method: str, metric: str, image_ids: list[str]) -> np.ndarray:
    """Per image (in ``image_ids`` order): ``method``'s similarity ``metric`` (a
    :data:`SUMMARY_METRICS` name) after full randomisation, from a cascading table."""
    (column,) = [c for c, info in SUMMARY_METRICS.items() if info.name == metric]
    part = table[(table["method"] == method) & (table["step"] == table["step"].max())]
    return part.set_index("image_id")[column].reindex(image_ids).to_numpy(np.float64)


def randomisation_table(results: list, image_ids: list[str], mode: str = "cascading") -> pd.DataFrame:
    """The rows of :data:`CSV_COLUMNS` for ``mode`` (step 0 rows included), by method then step,
    from :class:`bench.studies.sanity.units.StepResult` objects (or anything with their fields)."""
    rows = []
    for r in results:
        if r.mode not in (mode, "original"):
            continue
        for k, image_id in enumerate(image_ids):
            rows.append([r.method, image_id, r.step, r.layer, float(r.spearman[k]), float(r.ssim[k])])
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    order = {m: k for k, m in enumerate(dict.fromkeys(r.method for r in results))}
    table["_m"] = table["method"].map(order)
    table["_i"] = table["image_id"].map({i: k for k, i in enumerate(image_ids)})
    return table.sort_values(["_m", "step", "_i"], kind="stable").drop(columns=["_m", "_i"]).reset_index(drop=True)


def _finite(values) -> np.ndarray:
    v = np.asarray(values, np.float64)
    return v[np.isfinite(v)]


def _stats(final: pd.DataFrame, column: str, seed: int) -> dict | None:
    """Mean, 95% bootstrap CI, min, max and counts of ``column``'s finite values (None: none)."""
    v = _finite(final[column])
    if len(v) == 0:
        return None
    s = summarise(v, n_boot=N_BOOT, seed=seed)
    return {
        "mean": s.mean,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": len(v),
        "nan": int(len(final) - len(v)),
    }


def summary(table: pd.DataFrame, seed: int = 0) -> dict[str, dict]:
    """Per method: mean, 95% bootstrap CI, min and max over images of Spearman and SSIM at the
    last step (full randomisation, in cascading mode), the number of NaN values, and a verdict
    (:data:`NEAR_ZERO`, :data:`STAYS_SIMILAR`)."""
    out = {}
    last = int(table["step"].max())
    for method, part in table.groupby("method", sort=False):
        final = part[part["step"] == last]
        entry: dict[str, Any] = {"step": last, "layer": str(final["layer"].iloc[0]) if len(final) else None}
        entry["nan"] = {c: int(final[c].isna().sum()) for c in ("spearman", "ssim")}
        for column in ("spearman", "ssim"):
            entry[column] = _stats(final, column, seed)
        entry["verdict"] = verdict(entry["spearman"])
        out[str(method)] = entry
    return out


def verdict(stats: dict | None) -> str:
    """The test's verdict on a method from its Spearman statistics after full randomisation."""
    if stats is None:
        return "n/a (no finite similarity)"
    if -NEAR_ZERO < stats["ci_low"] and stats["ci_high"] < NEAR_ZERO:
        return "falls to ~0 (passes)"
    if stats["ci_low"] >= STAYS_SIMILAR:
        return "stays similar (fails)"
    return "drops only partly"
