"""An image set is a value: ids, uint8 pixels (N, H, W, 3), labels and attribution.

Every image set, fetched NIPS-2017 data or the embedded default, is a folder in the
NIPS-2017 layout (``images.csv`` + ``images/<ImageId>.png``) and is read by
:func:`load_image_set`; there is no second loading path.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
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
MAX_ID_LENGTH = 128
"""The longest ImageId. Every file the suite writes for an image is named after its id with a
short prefix and suffix: ``maps/<method>/<id>.npy``, ``records/<method>/<id>.npz``, figures such
as ``maps-independent_<id>.png``, and the temporary file of each (``.<name>.<8 random>[suffix].tmp``,
:func:`common.files.atomic_path`), up to about 40 characters more than the id. 128 leaves that
with room to spare under NAME_MAX (255 bytes on Linux, macOS and Windows file systems); the
NIPS-2017 ids are 16 characters, the embedded ones under 12."""
IMAGE_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}")
"""An ImageId names ``images/<ImageId>.png`` and every output file of the image, so it must be a
plain file stem: no path separator, not ``.`` or ``..``, never leading to another folder, and at
most :data:`MAX_ID_LENGTH` characters (ASCII, so as many bytes)."""
MAX_LABEL = 1000
MAX_ROWS = 1_000_000
MAX_CSV_BYTES = 512 << 20
"""Bounds on ``images.csv``: 1,000 times the NIPS-2017 set (1,000 rows of ~300 bytes), 20 times
ImageNet's validation set. The whole table is read and checked on every load (its ids and labels;
only the images a command uses are decoded), so these bound that time and memory (200,000 rows:
about 0.5 s and 60 MB)."""
USED_COLUMNS = ("ImageId", "TrueLabel", "TargetClass", "Author", "License")
"""The columns the suite reads; the others (URLs, boxes) are kept in the file but never loaded."""


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
        pick = lambda seq: [seq[i] for i in index]
        return ImageSet(
            pick(self.ids), self.pixels[index], self.labels[index], pick(self.authors), pick(self.licenses), self.source
        )

    def attribution(self, i: int) -> str:
        """Credit line for figures: id, author and a short licence name."""
        return credit_line(self.ids[i], self.authors[i], self.licenses[i])


def credit_line(image_id: str, author: str, licence: str) -> str:
    """An image's credit for figures: its id, author and a short licence name."""
    return f"{image_id}\n{author or 'unknown author'}; {licence_label(licence)}"


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


FILE_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def require_regular_file(path: Path, listed_in: str | None = None) -> None:
    """Refuse, before anything opens it, a ``path`` that is not a regular file (a symbolic link to
    one is fine): opening a named pipe or a device can block forever. :class:`DataFileMissing` or
    :class:`DataFileError` naming it; ``listed_in``: where its name came from, for the message."""
    where = f" (its id is listed in {listed_in})" if listed_in else ""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise DataFileMissing(f"{path} {missing_reason(path)}{where}") from None
    if not stat.S_ISREG(mode):
        kind = FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise DataFileError(f"{path}: is {kind}, not a regular file{where}; refused without opening it")


def read_png_rgb(path: Path) -> np.ndarray:
    require_regular_file(path, CSV_NAME)
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
    """The image set's table (the :data:`USED_COLUMNS` there are); every ImageId and TrueLabel
    checked (:func:`check_table`). A file over :data:`MAX_CSV_BYTES` or :data:`MAX_ROWS` rows is
    refused before it is read whole."""
    path = Path(data_dir) / CSV_NAME
    if not path.exists() or path.is_dir():
        raise DataFileMissing(f"{path} {missing_reason(path)}: not an image set folder (expected {CSV_NAME} and {IMAGES_DIR}/)")
    require_regular_file(path)
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise DataFileError(f"{path}: {size:,} bytes; an image set's table may be at most {MAX_CSV_BYTES:,} bytes")
    try:
        table = pd.read_csv(
            path, dtype={"ImageId": str}, keep_default_na=False, usecols=lambda c: c in USED_COLUMNS, nrows=MAX_ROWS + 1
        )
    except (OSError, ValueError) as err:  # pandas' parser and decoding errors are ValueErrors
        raise DataFileError(f"{path}: unreadable CSV ({type(err).__name__}: {err})") from None
    if len(table) > MAX_ROWS:
        raise DataFileError(f"{path}: more than {MAX_ROWS:,} rows; an image set may list at most {MAX_ROWS:,} images")
    check_table(table, path)
    return table


def _header(path: Path) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (OSError, ValueError):
        return []


def check_table(table: pd.DataFrame, path: Path) -> None:
    """Refuse ids that could name a file outside ``images/`` (or an output folder), and labels that are no class."""
    missing = [c for c in ("ImageId", "TrueLabel") if c not in table.columns]
    if missing:
        columns = _header(path) if path.is_file() else list(map(str, table.columns))
        raise DataFileError(f"{path}: the header has no column {', '.join(missing)} (columns: {', '.join(columns)})")
    ids = table["ImageId"]
    lines = [int(i) + 2 for i in table.index[ids == ""]]  # line 1 is the header
    if lines:
        raise DataFileError(f"{path}: rows without an ImageId (lines {lines[:5]})")
    long = [k for k, i in enumerate(ids) if len(i) > MAX_ID_LENGTH]
    if long:
        first = ids.iloc[long[0]]
        raise DataFileError(
            f"{path}: ImageId {first[:40]!r}... is {len(first)} characters; at most {MAX_ID_LENGTH} (every file written "
            f"for an image is named after its id); {len(long)} such id(s), the first on line {table.index[long[0]] + 2}"
        )
    bad = [k for k, i in enumerate(ids) if not IMAGE_ID.fullmatch(i)]
    if bad:
        raise DataFileError(
            f"{path}: ImageId {ids.iloc[bad[0]]!r} is not a plain file name (letters, digits, '.', '_', '-', starting "
            f"with a letter or digit; no path); {len(bad)} such id(s), the first on line {table.index[bad[0]] + 2}"
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
    select: Callable[[list[str]], list[str]] | None = None,
) -> ImageSet:
    """Read an image-set folder, optionally resized to ``size`` and cut to ``limit`` images.

    Images are taken in ``images.csv`` order, or in the order of ``ids`` if given; ``select``
    then picks from those candidate ids the ones to load (e.g. a seeded random choice), and
    ``limit`` keeps the first of them. The whole table is read and checked (:func:`read_csv`),
    but only the images chosen are opened and decoded: a run of 2 images from a set of
    200,000 reads 2 PNGs.
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
    if select is not None:
        chosen = select(list(table["ImageId"]))
        table = table.set_index("ImageId").loc[chosen].reset_index()
    if limit is not None:
        table = table.iloc[:limit]
    labels = pd.to_numeric(table["TrueLabel"]).astype(int).to_numpy() - 1
    labels[labels < 0] = NO_LABEL
    return ImageSet(
        ids=list(table["ImageId"]),
        pixels=_decode(data_dir, list(table["ImageId"]), size),
        labels=labels,
        authors=list(table.get("Author", [""] * len(table))),
        licenses=list(table.get("License", [""] * len(table))),
        source=str(data_dir),
    )


def _decode(data_dir: Path, ids: list[str], size: tuple[int, int] | int | None) -> np.ndarray:
    """The images ``ids`` of ``data_dir``, decoded (and resized) one at a time into one array."""
    pixels: np.ndarray | None = None
    for k, image_id in enumerate(ids):
        img = read_png_rgb(data_dir / IMAGES_DIR / f"{image_id}.png")
        img = resize_image(img, size) if size is not None else img
        if pixels is None:
            pixels = np.empty((len(ids), *img.shape), np.uint8)
        if img.shape != pixels.shape[1:]:
            raise DataFileError(
                f"{data_dir / IMAGES_DIR / (image_id + '.png')}: {img.shape[0]}x{img.shape[1]} pixels, unlike the "
                f"{pixels.shape[1]}x{pixels.shape[2]} of {ids[0]}.png (load the set at one size)"
            )
        pixels[k] = img
    return pixels if pixels is not None else np.zeros((0, 0, 0, 3), np.uint8)
