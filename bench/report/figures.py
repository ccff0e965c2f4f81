"""Report figures: mean perturbation curves (thesis Figs 7-8), map grids (Figs 5-6),
and the distributions of PNG size and SSIM, Noise Mask's trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from bench.core.plotting import plt, save_figure
from bench.run.store import RANDOM_ORDER
from metrics.perturbation import DEFAULT_REPLACEMENT


def curves_figure(
    curves: pd.DataFrame, order: str, path: Path, methods: list[str], replacement: str = DEFAULT_REPLACEMENT
) -> None:
    """Mean target logit vs fraction of pixels replaced, one line per method, 95% band
    (mean +- 1.96 standard errors over images), with the random-order baseline; the curves of
    ``replacement`` (curves.csv from before ROAD holds the default's only)."""
    if "replacement" in curves.columns:
        curves = curves[curves["replacement"] == replacement]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    palette = dict(zip(methods, sns.color_palette("tab10", len(methods))))
    for method, sel_order, style in [(m, order, "-") for m in methods] + [(RANDOM_ORDER, "random", "--")]:
        part = curves[(curves["method"] == method) & (curves["order"] == sel_order)]
        if part.empty:
            continue
        grouped = part.groupby("step")
        mean, sem = grouped["logit"].mean(), grouped["logit"].sem().fillna(0.0)
        frac = grouped["fraction_replaced"].first()
        color = palette.get(method, "0.3")
        ax.plot(frac, mean, style, color=color, label=method, lw=1.6)
        ax.fill_between(frac, mean - 1.96 * sem, mean + 1.96 * sem, color=color, alpha=0.15, lw=0)
    ax.set_xlabel("fraction of pixels replaced")
    ax.set_ylabel("target-class logit")
    how = "" if replacement == DEFAULT_REPLACEMENT else f", {replacement.upper()} imputation"
    ax.set_title(f"{order.upper()} (mean over images, 95% band{how})")
    ax.legend(frameon=False, fontsize=8)
    save_figure(fig, path)


def distributions_figure(metrics_df: pd.DataFrame, path: Path, methods: list[str]) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (metric, label, scale) in zip(
        axes, [("png_bytes", "PNG size of the grayscale map (KiB)", 1 / 1024), ("ssim", "SSIM to the grayscale image", 1.0)]
    ):
        part = metrics_df[(metrics_df["metric"] == metric) & np.isfinite(metrics_df["value"])].copy()
        part["value"] *= scale
        if not part.empty:  # no finite value of this metric: an empty panel, not a crash
            sns.boxplot(data=part, x="method", y="value", order=methods, ax=ax, color="0.85", fliersize=0)
        ax.set_xticks(range(len(methods)), methods)
        rng = np.random.default_rng(0)  # seaborn's stripplot jitters from numpy's global state: not repeatable
        for k, method in enumerate(methods):
            values = part.loc[part["method"] == method, "value"].to_numpy()
            ax.scatter(k + rng.uniform(-0.1, 0.1, len(values)), values, s=9, color="0.2", alpha=0.6, zorder=3)
        ax.set_ylabel(label)
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelrotation=20)
    save_figure(fig, path)


LEGEND_IMAGES = 20
"""Up to this many images, the trace figure's legend names every line's image; above, only the
lines that end highest and lowest are named, at their ends."""


def trace_figure(traces: dict[str, np.ndarray], path: Path) -> None:
    """Noise Mask's stochastic objective per iteration, one line per image, each named by its
    image id: in a legend (up to :data:`LEGEND_IMAGES` images), else the lines that end highest
    and lowest (five of each) at their ends."""
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = {}
    for image_id, trace in traces.items():
        (lines[image_id],) = ax.plot(np.arange(1, len(trace) + 1), trace, lw=0.9, alpha=0.8, label=image_id)
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective: mean(M) + β·MSE")
    if len(traces) <= LEGEND_IMAGES:
        ax.set_title(f"Noise Mask optimisation ({len(traces)} images)")
        ax.legend(title="image", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ends = sorted(traces, key=lambda i: traces[i][-1])
        named = [*ends[:5], *ends[-5:]]
        ax.set_title(f"Noise Mask optimisation ({len(traces)} images; the 5 ending highest and lowest named)")
        for image_id in named:
            trace = traces[image_id]
            ax.annotate(
                image_id,
                (len(trace), trace[-1]),
                xytext=(3, 0),
                textcoords="offset points",
                fontsize=7,
                va="center",
                color=lines[image_id].get_color(),
            )
    save_figure(fig, path)
