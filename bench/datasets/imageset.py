"""An image set is a value: ids, uint8 pixels (N, H, W, 3), labels and attribution.

Every image set, fetched NIPS-2017 data or the embedded default, is a folder in the
NIPS-2017 layout (``images.csv`` + ``images/<ImageId>.png``) and is read by
:func:`load_image_set`; there is no second loading path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CSV_NAME = "images.csv"
IMAGES_DIR = "images"
CSV_COLUMNS = [
    "ImageId",
    "URL",
    "x1",
    "y1",
    "x2",
    "y2",
    "TrueLabel",
    "TargetClass",
    "OriginalLandingURL",
    "License",
    "Author",
    "AuthorProfileURL",
]
NO_LABEL = -1


@dataclass
class ImageSet:
    ids: list[str]
    pixels: np.ndarray
    """uint8, (N, H, W, 3)."""
    labels: np.ndarray
    """ImageNet class index (0..999) per image, or -1 where none fits."""
    authors: list[str]
    licenses: list[str]
    source: str
    """Where the set came from (a folder path, or 'embedded: ...')."""

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index) -> ImageSet:
        index = np.asarray(index)
        pick = lambda seq: [seq[i] for i in index]  # noqa: E731
        return ImageSet(
            pick(self.ids), self.pixels[index], self.labels[index], pick(self.authors), pick(self.licenses), self.source
        )

    def attribution(self, i: int) -> str:
        """Credit line for figures: id, author and a short licence name."""
        return f"{self.ids[i]}\n{self.authors[i] or 'unknown author'}; {licence_label(self.licenses[i])}"


def licence_label(licence: str) -> str:
    """'https://creativecommons.org/licenses/by-sa/2.0/' -> 'CC BY-SA 2.0'; other text as is."""
    match = re.search(r"creativecommons\.org/licenses/([a-z-]+)/([0-9.]+)", licence or "")
    if match:
        return f"CC {match.group(1).upper()} {match.group(2)}"
    return licence or "licence unknown"


def resize_image(pixels: np.ndarray, size: tuple[int, int] | int) -> np.ndarray:
    """Resize a whole uint8 RGB image to ``size`` (H, W) with PIL's bilinear filter.

    The NIPS-2017 images are object-centred 299x299 crops, so the full image is resized
    (no centre crop). PIL's bilinear filter antialiases when it shrinks.
    """
    h, w = (size, size) if isinstance(size, int) else size
    if pixels.shape[:2] == (h, w):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((w, h), Image.BILINEAR))


def read_png_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        img.load()
        if img.mode != "RGB":
            raise ValueError(f"{path}: expected an RGB image, got mode {img.mode}")
        return np.asarray(img)


def read_csv(data_dir: Path) -> pd.DataFrame:
    path = Path(data_dir) / CSV_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not an image set folder (expected {CSV_NAME} and {IMAGES_DIR}/)")
    return pd.read_csv(path, dtype={"ImageId": str}, keep_default_na=False)


def load_image_set(
    data_dir: str | Path,
    size: tuple[int, int] | int | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
) -> ImageSet:
    """Read an image-set folder, optionally resized to ``size`` and cut to ``limit`` images.

    Images are taken in ``images.csv`` order, or in the order of ``ids`` if given.
    """
    data_dir = Path(data_dir)
    table = read_csv(data_dir)
    if ids is not None:
        known = set(table["ImageId"])
        missing = [i for i in ids if i not in known]
        if missing:
            raise KeyError(f"{data_dir / CSV_NAME}: no rows for image ids {missing[:5]}")
        table = table.set_index("ImageId").loc[ids].reset_index()
    if limit is not None:
        table = table.iloc[:limit]
    pixels = []
    for image_id in table["ImageId"]:
        img = read_png_rgb(data_dir / IMAGES_DIR / f"{image_id}.png")
        pixels.append(resize_image(img, size) if size is not None else img)
    labels = pd.to_numeric(table["TrueLabel"], errors="coerce").fillna(0).astype(int).to_numpy() - 1
    labels[labels < 0] = NO_LABEL
    return ImageSet(
        ids=list(table["ImageId"]),
        pixels=np.stack(pixels) if pixels else np.zeros((0, 0, 0, 3), np.uint8),
        labels=labels,
        authors=list(table.get("Author", [""] * len(table))),
        licenses=list(table.get("License", [""] * len(table))),
        source=str(data_dir),
    )
