"""Where a result came from: the versions of the packages that computed it and the content of
its input images, stored with every run, reference and study folder."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

import numpy as np

PACKAGES = (
    "noise-mask-bench",
    "tensorflow-cpu",
    "tensorflow",
    "tf-keras",
    "numpy",
    "pandas",
    "scikit-image",
    "innvestigate",
    "quantus",
)
"""The packages whose versions a result records (those installed)."""


def package_versions() -> dict[str, str]:
    """The Python version and the installed versions of :data:`PACKAGES`."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def image_sha256(ids: Iterable[str], pixels: Iterable[np.ndarray]) -> dict[str, str]:
    """image id -> sha256 of its pixels as loaded (resized to the model's input)."""
    return {i: hashlib.sha256(np.ascontiguousarray(p).tobytes()).hexdigest() for i, p in zip(ids, pixels)}


def jsonable(obj):
    """``obj`` with numpy scalars and arrays turned into Python numbers and lists (dict keys into str)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
