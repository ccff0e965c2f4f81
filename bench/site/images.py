"""The site's pictures: each image once (JPEG), and each stored map in the renderings the image
explorer offers, as files beside the pages (never inlined). The maps are read as the run stored
them; nothing is recomputed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from bench.run.store import RunStore

RENDERINGS = {
    "grayscale": "the stored grayscale map (the suite's rendering, abs-p99.5: what PNG size and SSIM measure)",
    "heatmap": "signed maps red (positive) and blue (negative), as the run report's map grid draws them, unsigned ones "
    "in inferno (dark to bright), each to the 99.5th percentile of |relevance|",
}
"""The explorer's renderings of a map."""


def write_picture(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, np.uint8)).save(path, format="JPEG", quality=88)


def heatmap(relevance: np.ndarray, signed: bool) -> Image.Image:
    """A map as a palette image (a colormap's 256 colours: a third of an RGB PNG's size): signed
    as :func:`bench.core.plotting.maps_grid` draws it (bwr), unsigned in inferno (a colour scale,
    so that it differs from the stored grayscale); both to the 99.5th percentile of |relevance|."""
    lim = float(np.percentile(np.abs(relevance), 99.5)) or 1.0
    scaled = (np.clip(relevance / lim, -1, 1) + 1) / 2 if signed else np.clip(np.abs(relevance) / lim, 0, 1)
    image = Image.fromarray(np.rint(scaled * 255).astype(np.uint8), mode="P")
    palette = colormaps["bwr" if signed else "inferno"](np.arange(256), bytes=True)[:, :3]
    image.putpalette(palette.ravel().tolist())
    return image


def write_map(store: RunStore, method: str, image_id: str, signed: bool, out_dir: Path) -> dict[str, str] | None:
    """``out_dir/<method>-<rendering>.png`` for every :data:`RENDERINGS`; returns rendering -> file
    name, or None when the run stored no map of the image. The map is checked against the sha256
    its record keeps (:meth:`RunStore.load_map`)."""
    png = store.map_path(method, image_id, ".png")
    if not store.map_path(method, image_id).is_file() or not png.is_file():
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: f"{method}-{name}.png" for name in RENDERINGS}
    shutil.copyfile(png, out_dir / files["grayscale"])
    heatmap(store.load_map(method, image_id), signed).save(out_dir / files["heatmap"], format="PNG", optimize=True)
    return files
