"""The embedded default image set: natural colour photos shipped inside scikit-image's wheel.

Used when no NIPS-2017 data has been fetched, so that a fresh offline machine still runs
the whole benchmark on real photographs. The photos are centre-cropped to squares and
written once, at 299x299 like the NIPS-2017 images, to the user cache in the same folder
layout, so they load through :func:`bench.datasets.load_image_set` like fetched data.

Labels: only where an ImageNet class names the photo's subject exactly (Chelsea is a
tabby cat, 281; the coffee photo is a cup of espresso, 967). The astronaut (no person
class), the rocket (a launch vehicle, not a missile) and the motorcycle (ImageNet has
only moped and motor scooter) are unlabelled (TrueLabel 0): methods explain the top-1
class anyway, and accuracy is computed over labelled images only.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from common.files import cache_dir, replace_dir

from .imageset import CSV_COLUMNS, CSV_NAME, IMAGES_DIR, resize_image

VERSION = "v1"
NIPS_SIZE = 299

# id, scikit-image loader, TrueLabel (ImageNet index + 1; 0 = no fitting class), author, licence
PHOTOS = [
    ("astronaut", "astronaut", 0, "NASA (Eileen Collins portrait)", "public domain"),
    ("chelsea", "chelsea", 282, "Stefan van der Walt", "CC0"),
    ("coffee", "coffee", 968, "Rachel Michetti", "CC0"),
    ("rocket", "rocket", 0, "SpaceX", "public domain"),
    (
        "motorcycle",
        "stereo_motorcycle",
        0,
        "Middlebury 2014 stereo benchmark (Scharstein et al.)",
        "research use, see scikit-image docs",
    ),
]


def _load_photo(loader: str) -> np.ndarray:
    import skimage.data  # noqa: PLC0415 - heavy, and only to build the embedded set once

    img = getattr(skimage.data, loader)()
    if isinstance(img, tuple):  # stereo pair: take the left view
        img = img[0]
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize_image(np.ascontiguousarray(img[top : top + side, left : left + side, :3]), NIPS_SIZE)


def embedded_image_set_dir() -> Path:
    """Folder of the embedded set (created on first use, atomically)."""
    target = cache_dir() / f"embedded-{VERSION}"
    if (target / CSV_NAME).is_file():
        return target
    with tempfile.TemporaryDirectory(prefix=".embedded-", dir=target.parent) as tmp:
        staged = Path(tmp) / "set"
        (staged / IMAGES_DIR).mkdir(parents=True)
        rows = []
        for image_id, loader, label, author, licence in PHOTOS:
            Image.fromarray(_load_photo(loader)).save(staged / IMAGES_DIR / f"{image_id}.png")
            row: dict[str, object] = dict.fromkeys(CSV_COLUMNS, "")
            row.update(
                ImageId=image_id,
                TrueLabel=label,
                TargetClass=0,
                License=licence,
                Author=author,
                URL=f"skimage.data.{loader}",
                x1=0,
                y1=0,
                x2=NIPS_SIZE,
                y2=NIPS_SIZE,
            )
            rows.append(row)
        pd.DataFrame(rows, columns=CSV_COLUMNS).to_csv(staged / CSV_NAME, index=False)
        if not (target / CSV_NAME).is_file():
            if target.exists():
                shutil.rmtree(target)
            replace_dir(staged, target)
    return target
