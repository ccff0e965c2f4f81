"""``figures/meta.png``: every measure of every metric with its 95 % interval, one panel per measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.plotting import plt, save_figure
from bench.studies.meta.report import SHOWN


def meta_figure(meta: pd.DataFrame, path: Path) -> None:
    """One panel per measure (metrics on the y axis): point = value, bar = 95% bootstrap interval."""
    measures = [m for m in SHOWN if m in set(meta["measure"])]
    if not measures:
        return
    metrics = list(dict.fromkeys(meta["metric"]))
    cols = min(4, len(measures))
    rows = int(np.ceil(len(measures) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.28 * len(metrics) * rows + 1.5), sharey=True, squeeze=False)
    for ax, measure in zip(axes.ravel(), measures):
        part = meta[meta["measure"] == measure].set_index("metric").reindex(metrics)
        y = np.arange(len(metrics))
        err = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]])
        ax.errorbar(part["value"], y, xerr=np.abs(err), fmt="o", ms=3, lw=1, capsize=2)
        ax.axvline(0, color="0.6", lw=0.8, ls="--")
        ax.set_title(measure, fontsize=8)
        ax.set_yticks(y)
        ax.set_yticklabels(metrics, fontsize=7)
        ax.set_xlim(-0.05, 2.05) if measure.startswith("adversary_reactivity") else ax.set_xlim(-1.05, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(measures) :]:
        ax.axis("off")
    fig.suptitle("Meta-evaluation of the metrics (95% bootstrap intervals over images)", fontsize=10)
    save_figure(fig, path)
