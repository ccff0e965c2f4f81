"""Matplotlib on the Agg backend (no display needed), the one way a figure is saved (atomically,
as PNG, so a killed process never leaves half a figure), and the grid of images and their maps
that ``bench explain`` and the run report both draw."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common.files import atomic_path

__all__ = ["maps_grid", "plt", "save_figure"]


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` (PNG, 110 dpi) atomically and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


CAPTION_POINTS = 8
"""The maps grid's image credits: 8 pt, about 12 px tall at the saved 110 dpi."""


def wrapped(caption: str, width: int = 30) -> str:
    """``caption``'s lines wrapped at ``width`` characters (a credit fits under its image)."""
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) for line in caption.splitlines())


def maps_grid(images: np.ndarray, captions: list[str], maps: dict[str, np.ndarray], path: Path, signed: dict[str, bool]) -> None:
    """Rows: images; columns: the image, then each method's relevance map: a signed method's
    in red (positive) and blue (negative), as in the thesis's figures, an unsigned one in grey."""
    methods = list(maps)
    n = len(images)
    fig, axes = plt.subplots(n, len(methods) + 1, figsize=(1.9 * (len(methods) + 1), 2.6 * n), squeeze=False)
    for r in range(n):
        axes[r, 0].imshow(images[r])
        axes[r, 0].set_xlabel(wrapped(captions[r]), fontsize=CAPTION_POINTS)
        for c, method in enumerate(methods, start=1):
            rel = maps[method][r]
            if signed[method]:
                lim = np.percentile(np.abs(rel), 99.5) or 1.0
                axes[r, c].imshow(rel, cmap="bwr", vmin=-lim, vmax=lim)
            else:
                lim = np.percentile(np.abs(rel), 99.5) or 1.0
                axes[r, c].imshow(np.abs(rel), cmap="gray", vmin=0, vmax=lim)
            if r == 0:
                axes[r, c].set_title(method, fontsize=9)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, path)
