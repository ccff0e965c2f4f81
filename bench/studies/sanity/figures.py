"""The sanity check's figures: ``figures/randomisation.png`` (mean similarity per step, band =
min..max over images) and ``figures/maps_<image_id>.png`` (the first image's maps at every
step), with ``-independent`` versions for the independent mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.plotting import plt, save_figure
from bench.datasets import load_image_set
from metrics.similarity import prepare


def curves_figure(table: pd.DataFrame, path: Path, title: str = "") -> None:
    """Two panels (Spearman, SSIM) of mean similarity to the original map vs step, one line per
    method, band = min..max over images; the x axis names the group randomised last."""
    methods = list(dict.fromkeys(table["method"]))
    steps = sorted(table["step"].unique())
    labels = table.drop_duplicates("step").set_index("step")["layer"].reindex(steps).tolist()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharex=True)
    colors = plt.get_cmap("tab10")
    for ax, column, name in zip(
        axes, ("spearman", "ssim"), ("Spearman rank correlation of abs maps", "SSIM of normalised abs maps")
    ):
        for k, method in enumerate(methods):
            part = table[table["method"] == method].groupby("step")[column]
            mean, lo, hi = part.mean(), part.min(), part.max()
            ax.plot(mean.index, mean.values, "-o", ms=3, lw=1.6, color=colors(k % 10), label=method)
            ax.fill_between(mean.index, lo.values, hi.values, color=colors(k % 10), alpha=0.12, lw=0)
        ax.axhline(0, color="0.5", lw=0.8, ls="--")
        ax.set_xticks(steps)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(-0.35, 1.05)
        ax.set_ylabel(name)
        ax.set_xlabel("randomised down to (cascading, top first)" if "independent" not in title else "group randomised alone")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(title or "Model-parameter randomisation: similarity to the original map (band: min..max over images)")
    fig.tight_layout()
    save_figure(fig, path)


def _stored_map(out: Path, mode: str, method: str, step: int, image: int) -> np.ndarray:
    """One image's stored map at ``step``, as abs(map) / max."""
    if step == 0:
        return prepare(np.load(out / "maps" / method / "original.npy")[image])
    return np.load(out / "maps" / mode / method / f"step{step:02d}.npy")[image].astype(np.float32)


def maps_figure(out: Path, run: dict, mode: str, path: Path, image: int = 0) -> None:
    """One image's maps (abs, normalised), rows = methods, columns = steps."""
    steps = run["steps"][mode]
    methods = run["methods"]
    fig, axes = plt.subplots(len(methods), len(steps) + 1, figsize=(1.25 * (len(steps) + 1), 1.35 * len(methods) + 0.4))
    axes = np.atleast_2d(axes)
    try:
        pixels = load_image_set(run["data_dir"], size=tuple(run["input_size"]), ids=[run["image_ids"][image]]).pixels[0]
    except Exception:  # any failure: the figure is still useful without the photo
        pixels = None
    for r, method in enumerate(methods):
        ax = axes[r, 0]
        if pixels is not None:
            ax.imshow(pixels)
        ax.set_ylabel(method, fontsize=7)
        for c, info in enumerate(steps, start=1):
            m = _stored_map(out, mode, method, info["step"], image)
            axes[r, c].imshow(m, cmap="gray", vmin=0, vmax=max(float(np.nanmax(m)), 1e-12))
            if r == 0:
                axes[r, c].set_title(info["group"], fontsize=6.5, rotation=45, ha="left")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{run['image_ids'][image]}: abs(map) / max, {mode} randomisation (columns: randomised down to)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def write_figures(out: Path, run: dict, tables: dict[str, pd.DataFrame]) -> None:
    """Every mode's curves and the first image's maps, into ``out/figures``."""
    for mode, table in tables.items():
        suffix = "" if mode == "cascading" else "-independent"
        title = f"{run['model']}, {len(run['image_ids'])} images, {mode} randomisation ({run['randomisation']['rule']})"
        curves_figure(table, out / "figures" / f"randomisation{suffix}.png", title)
        maps_figure(out, run, mode, out / "figures" / f"maps{suffix}_{run['image_ids'][0]}.png")
