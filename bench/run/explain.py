"""``python -m bench explain``: maps, raw attributions, parameters and a grid per image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.core.plotting import maps_grid
from bench.datasets import ImageSet
from common.files import write_json, write_npy
from common.progress import progress
from methods import build_method

if TYPE_CHECKING:
    from models.keras_classifier import ModelWrapper


def explain_to_folder(model: ModelWrapper, images: ImageSet, method_names: list[str], params: dict, out: str | Path) -> Path:
    out = Path(out)
    methods = {name: build_method(name, params.get(name, {})) for name in method_names}  # fail early on bad names
    targets = model.top1(images.pixels)
    relevance = {}
    record = {"model": model.name, "weights": model.weights, "image_ids": images.ids, "targets": targets.tolist(), "methods": {}}
    for name, method in progress(methods.items(), desc="methods", total=len(methods)):
        result = method.explain(model, images.pixels, targets)
        relevance[name] = result.relevance
        for i, image_id in enumerate(images.ids):
            write_npy(out / "maps" / name / f"{image_id}.npy", result.relevance[i])
            write_npy(out / "attributions" / name / f"{image_id}.npy", result.attributions[i])
        record["methods"][name] = {
            "params": result.params,
            "seconds": result.seconds,
            "seconds_per_image": result.seconds / len(images),
        }
    for i, image_id in enumerate(images.ids):
        maps_grid(
            images.pixels[i : i + 1],
            [images.attribution(i)],
            {m: r[i : i + 1] for m, r in relevance.items()},
            out / "grids" / f"{image_id}.png",
            {m: method.signed for m, method in methods.items()},
        )
    write_json(out / "params.json", record)
    return out
