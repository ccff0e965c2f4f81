"""The discovery's figures: ``figures/masks_<image_id>.png`` (models x layers, as thesis
Figures 9-11) and ``figures/by_layer.png`` (loss term, spread and r by layer position)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from bench.core.plotting import plt, save_figure
from bench.studies.discovery.records import safe_name


def discovery_masks_figure(rows: list[tuple], path: Path, credit: str = "") -> None:
    """Model discovery (thesis Figs 9-11) for one image: a row per model with the image, then
    the Noise Mask of each examined layer (grey, 0 black to 1 white) titled with its loss term.
    ``rows``: (model name, image pixels, [mask per position], [title per position])."""
    cols = 1 + max(len(masks) for _, _, masks, _ in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.75 * cols, 2.3 * len(rows)), squeeze=False)
    for r, (model, image, masks, titles) in enumerate(rows):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(model, fontsize=8)
        for c, (mask, title) in enumerate(zip(masks, titles), start=1):
            axes[r, c].imshow(mask, cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_title(title, fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if credit:
        fig.suptitle(credit, fontsize=7)
    fig.tight_layout(h_pad=1.2)
    save_figure(fig, path)


def discovery_by_layer_figure(table: pd.DataFrame, path: Path) -> None:
    """Model discovery: loss term %, spread and r to the logits' mask by layer position, one
    line per model (mean over images), each image's values as faint lines."""
    columns = [
        ("loss_term_pct", "loss term (%)"),
        ("spread", "spread (fraction of the side)"),
        ("r_to_logits", "r to the logits' mask"),
    ]
    models = list(dict.fromkeys(table["model"]))
    palette = dict(zip(models, sns.color_palette("tab10", len(models))))
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.6))
    for ax, (column, label) in zip(axes, columns):
        for model in models:
            part = table[table["model"] == model]
            per_image = part.pivot(index="image_id", columns="position", values=column)
            for _, values in per_image.iterrows():
                ax.plot(values.index, values.to_numpy(), color=palette[model], alpha=0.25, lw=0.8)
            mean = per_image.mean(axis=0)
            ax.plot(mean.index, mean.to_numpy(), "o-", color=palette[model], lw=1.8, label=model)
        ax.set_xticks(range(1, 7))
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        ax.set_xlabel("layer position (6 = logits)")
        ax.set_ylabel(label)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle("Noise Mask by layer (mean over images; faint: each image)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def write_figures(out: Path, run: dict, table: pd.DataFrame, masks: dict, pixels: dict) -> None:
    """Every image's masks figure and the by-layer figure, into ``out/figures``. ``pixels``:
    model -> the images (N, H, W, 3) as that model loaded them."""
    figures = out / "figures"
    for k, image_id in enumerate(run["image_ids"]):
        rows = []
        for name, model_info in run["models"].items():
            part = table[(table["model"] == name) & (table["image_id"] == image_id)].set_index("position")
            titles = [
                f"{p}: {layer}\nloss {part.loc[p, 'loss_term_pct']:.0f}%" for p, layer in enumerate(model_info["layers"], start=1)
            ]
            rows.append((name, pixels[name][k], [masks[name, p][k] for p in range(1, 7)], titles))
        credit = f"{image_id}: {run['authors'][k] or 'unknown author'}; {run['licenses'][k] or 'licence unknown'}"
        discovery_masks_figure(rows, figures / f"masks_{safe_name(image_id)}.png", credit)
    discovery_by_layer_figure(table, figures / "by_layer.png")
