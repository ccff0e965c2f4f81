"""An image set is a value: ids, uint8 pixels (N, H, W, 3), labels and attribution.

Every image set, fetched NIPS-2017 data or the embedded default, is a folder in the
NIPS-2017 layout (``images.csv`` + ``images/<ImageId>.png``) and is read by
:func:`load_image_set`; there is no second loading path.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from common.errors import DataFileError, DataFileMissing, ParameterError

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
IMAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""An ImageId names ``images/<ImageId>.png`` and every output file of the image, so it must be a
plain file stem: no path separator, not ``.`` or ``..``, never leading to another folder."""
MAX_LABEL = 1000


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


def missing_reason(path: Path, kind: str = "file") -> str:
    """Why ``path`` cannot be opened as a ``kind`` ('file' or 'folder'), for messages that name it."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symlink loop (too many levels of symbolic links)"
        if os.path.islink(path):
            return f"is a broken symbolic link (to {os.readlink(path)})"
        return "not found"
    return f"is not a {kind}"


def read_png_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            mode, pixels = img.mode, np.asarray(img)
    except Exception as err:  # any failure to decode means a bad file; name it
        if not path.is_file():
            raise DataFileMissing(f"{path} {missing_reason(path)} (its id is listed in {CSV_NAME})") from None
        raise DataFileError(f"{path}: not a readable PNG image ({type(err).__name__}: {err})") from None
    if mode != "RGB":
        raise DataFileError(f"{path}: expected an RGB image, got mode {mode}")
    return pixels


def read_csv(data_dir: Path) -> pd.DataFrame:
    """The image set's table; every ImageId and TrueLabel checked (:func:`check_table`)."""
    path = Path(data_dir) / CSV_NAME
    if not path.is_file():
        raise DataFileMissing(f"{path} {missing_reason(path)}: not an image set folder (expected {CSV_NAME} and {IMAGES_DIR}/)")
    try:
        table = pd.read_csv(path, dtype={"ImageId": str}, keep_default_na=False)
    except (OSError, ValueError) as err:  # pandas' parser and decoding errors are ValueErrors
        raise DataFileError(f"{path}: unreadable CSV ({type(err).__name__}: {err})") from None
    check_table(table, path)
    return table


def check_table(table: pd.DataFrame, path: Path) -> None:
    """Refuse ids that could name a file outside ``images/`` (or an output folder), and labels that are no class."""
    missing = [c for c in ("ImageId", "TrueLabel") if c not in table.columns]
    if missing:
        raise DataFileError(
            f"{path}: the header has no column {', '.join(missing)} (columns: {', '.join(map(str, table.columns))})"
        )
    ids = table["ImageId"]
    lines = [int(i) + 2 for i in table.index[ids == ""]]  # line 1 is the header
    if lines:
        raise DataFileError(f"{path}: rows without an ImageId (lines {lines[:5]})")
    bad = [i for i in ids if not IMAGE_ID.fullmatch(i)]
    if bad:
        raise DataFileError(
            f"{path}: ImageId {bad[0]!r} is not a plain file name (letters, digits, '.', '_', '-', "
            f"starting with a letter or digit; no path); {len(bad)} such id(s)"
        )
    dup = ids[ids.duplicated()].tolist()
    if dup:
        raise DataFileError(f"{path}: duplicate ImageId {dup[:5]}")
    labels = pd.to_numeric(table["TrueLabel"], errors="coerce")
    bad = ids[~labels.between(0, MAX_LABEL) | (labels % 1 != 0)].tolist()
    if bad:
        raise DataFileError(
            f"{path}: TrueLabel must be an integer in 0..{MAX_LABEL} (ImageNet index + 1; 0 = no label); bad for ids {bad[:5]}"
        )


def load_image_set(
    data_dir: str | Path,
    size: tuple[int, int] | int | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
) -> ImageSet:
    """Read an image-set folder, optionally resized to ``size`` and cut to ``limit`` images.

    Images are taken in ``images.csv`` order, or in the order of ``ids`` if given.
    """
    if limit is not None and limit < 1:
        raise ParameterError(f"limit must be at least 1 (a number of images), got {limit}")
    data_dir = Path(data_dir)
    table = read_csv(data_dir)
    if table.empty:
        raise DataFileError(f"{data_dir / CSV_NAME}: lists no images")
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
    labels = pd.to_numeric(table["TrueLabel"]).astype(int).to_numpy() - 1
    labels[labels < 0] = NO_LABEL
    return ImageSet(
        ids=list(table["ImageId"]),
        pixels=np.stack(pixels) if pixels else np.zeros((0, 0, 0, 3), np.uint8),
        labels=labels,
        authors=list(table.get("Author", [""] * len(table))),
        licenses=list(table.get("License", [""] * len(table))),
        source=str(data_dir),
    )
