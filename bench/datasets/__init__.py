"""Data layer: image sets (NIPS-2017 or the embedded default) and the fetcher."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from common.errors import DataFileMissing, InputError

from .embedded import embedded_image_set_dir
from .imageset import CSV_NAME, ImageSet, load_image_set, missing_reason, resize_image

DEFAULT_DATA_DIR = Path("data") / "nips17"
SHARED_DIR_ENV = "BENCH_SHARED_DIR"


def shared_sample_dir(checkout: Path) -> Path:
    """The 100-image NIPS-2017 sample shared beside a checkout of this project (for tests and
    benchmarks): ``$BENCH_SHARED_DIR/data/nips17-dev-sample``, by default with
    ``BENCH_SHARED_DIR`` = the folder ``shared`` beside ``checkout``. It may not exist."""
    return Path(os.environ.get(SHARED_DIR_ENV, Path(checkout).parent / "shared")) / "data" / "nips17-dev-sample"


def credits_line(image_ids: list[str], authors: list[str], licenses: list[str]) -> str:
    """ "Images: ID by AUTHOR (LICENCE); ..." for a report's footer."""
    return "Images: " + "; ".join(
        f"{i} by {a or 'unknown author'} ({lic or 'licence unknown'})" for i, a, lic in zip(image_ids, authors, licenses)
    )


def resolve_data_dir(data_dir: str | Path | None = None) -> tuple[Path, str]:
    """Which image set to use: ``data_dir`` if given, else the fetched NIPS-2017 set at
    ``data/nips17`` when present, else the embedded default. Returns (folder, description)."""
    if data_dir is not None:
        path = Path(data_dir)
        csv = path / CSV_NAME
        if not csv.is_file():
            what = f"{path} {missing_reason(path, 'folder')}" if not path.is_dir() else f"{csv} {missing_reason(csv)}"
            raise DataFileMissing(f"--data-dir {what}. Fetch the data first: python -m bench fetch --data-dir {path}")
        return path, f"image set at {path}"
    if (DEFAULT_DATA_DIR / "manifest.json").is_file():
        return DEFAULT_DATA_DIR, f"NIPS-2017 development set at {DEFAULT_DATA_DIR}"
    return embedded_image_set_dir(), "embedded default (scikit-image photos; no NIPS-2017 data fetched)"


def load_images(
    data_dir: str | Path | None,
    size: tuple[int, int],
    limit: int | None = None,
    ids: list[str] | None = None,
    select: Callable[[list[str]], list[str]] | None = None,
) -> tuple[ImageSet, Path, str]:
    """The images a command works on, at the model's input ``size``: (images, folder, description).
    The folder is :func:`resolve_data_dir`'s; ``limit``, ``ids`` and ``select`` choose the images
    before any is decoded (:func:`load_image_set`). An unknown id, a bad row or an empty set is an
    :class:`InputError` naming it (the data layer's own KeyError/ValueError made the user's)."""
    folder, description = resolve_data_dir(data_dir)
    try:
        images = load_image_set(folder, size=size, limit=limit, ids=ids, select=select)
    except (FileNotFoundError, KeyError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(str(err.args[0]) if err.args else str(err)) from None
    if len(images) == 0:
        raise InputError(f"{folder} holds no images")
    return images, folder, description


__all__ = [
    "DEFAULT_DATA_DIR",
    "SHARED_DIR_ENV",
    "ImageSet",
    "credits_line",
    "embedded_image_set_dir",
    "load_image_set",
    "load_images",
    "resize_image",
    "resolve_data_dir",
    "shared_sample_dir",
]
