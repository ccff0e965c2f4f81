"""Data layer: image sets (NIPS-2017 or the embedded default) and the fetcher."""
from __future__ import annotations

from pathlib import Path

from .embedded import embedded_image_set_dir
from .imageset import ImageSet, load_image_set, resize_image

DEFAULT_DATA_DIR = Path("data") / "nips17"


def resolve_data_dir(data_dir: str | Path | None = None) -> tuple[Path, str]:
    """Which image set to use: ``data_dir`` if given, else the fetched NIPS-2017 set at
    ``data/nips17`` when present, else the embedded default. Returns (folder, description)."""
    if data_dir is not None:
        path = Path(data_dir)
        if not (path / "images.csv").is_file():
            raise FileNotFoundError(
                f"--data-dir {path}: no images.csv there. Fetch the data first: python -m bench fetch --data-dir {path}"
            )
        return path, f"image set at {path}"
    if (DEFAULT_DATA_DIR / "manifest.json").is_file():
        return DEFAULT_DATA_DIR, f"NIPS-2017 development set at {DEFAULT_DATA_DIR}"
    return embedded_image_set_dir(), "embedded default (scikit-image photos; no NIPS-2017 data fetched)"


__all__ = ["DEFAULT_DATA_DIR", "ImageSet", "embedded_image_set_dir", "load_image_set", "resize_image", "resolve_data_dir"]
