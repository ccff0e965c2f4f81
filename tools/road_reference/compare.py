"""Compare metrics/road.py with ROAD's own NoisyLinearImputer on one real image.

ROAD's code (github.com/tleemann/road_evaluation, road/imputations.py) needs torch, which
is not a project dependency, so this script runs in a separate environment with torch,
numpy, scipy and pillow, and loads both sides by file path (``metrics/road.py`` needs only
numpy and scipy; the suite's packages are not imported). ROAD's module imports
``road.gisp.models.gsmv`` for its GAIN imputer only; a stub stands in for it.

What is compared, on one image resized to 224x224 (bilinear, as the suite loads images)
and two masks with 50 % of the pixels removed (``random``: uniform random pixels;
``blob``: the top half of a smooth random field):

1. noise 0, ROAD on a ToTensor image in [0, 1] (how ``run_road`` uses it), times 255,
   against ours in pixel units: max abs difference;
2. noise 0, ROAD on the ImageNet-normalised tensor, un-normalised: the imputation commutes
   with the per-channel affine normalisation;
3. noise 0.01 (ROAD's default) on [0, 1] images: the std of ROAD's noise times 255 against
   ours (``ROAD_NOISE_STD``), and that ROAD leaves the kept pixels unchanged.

Usage (from the repository root; see tools/road_reference/README.md for the environment):
``python tools/road_reference/compare.py --road-code /tmp/road_evaluation/road/imputations.py
[--image PATH.png] [--out results/road_reference.json]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE_DIR = ROOT.parent / "shared" / "data" / "nips17-dev-sample" / "images"
SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_road(path: Path):
    """ROAD's imputations module, with a stub for the GAIN network it imports but we do not use."""
    for name in ("road", "road.gisp", "road.gisp.models"):
        sys.modules.setdefault(name, types.ModuleType(name))
    gsmv = types.ModuleType("road.gisp.models.gsmv")
    gsmv.GNet_ResNet = None
    sys.modules["road.gisp.models.gsmv"] = gsmv
    return load_by_path("road.imputations", path)


def load_image(path: Path | None) -> tuple[str, np.ndarray]:
    if path is None:
        path = sorted(DEFAULT_IMAGE_DIR.glob("*.png"))[0]
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
    return path.name, pixels.astype(np.float32)


def masks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = SIZE * SIZE
    random = np.zeros(n, bool)
    random[rng.permutation(n)[: n // 2]] = True
    field = gaussian_filter(rng.standard_normal((SIZE, SIZE)), 12).ravel()
    blob = np.zeros(n, bool)
    blob[np.argsort(-field, kind="stable")[: n // 2]] = True
    return {"random": random.reshape(SIZE, SIZE), "blob": blob.reshape(SIZE, SIZE)}


def road_impute(road, torch, chw: np.ndarray, removed: np.ndarray, noise: float) -> np.ndarray:
    """ROAD's imputer on a (C, H, W) array; its mask is uint8, 1 = kept, 0 = removed (as ImputedDataset builds it)."""
    bitmask = torch.tensor((~removed).astype(np.uint8))
    out = road.NoisyLinearImputer(noise=noise)(torch.tensor(chw, dtype=torch.float32), bitmask)
    return out.numpy().astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--road-code", required=True, type=Path, help="road/imputations.py of road_evaluation")
    parser.add_argument("--image", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch  # noqa: PLC0415 - not a project dependency; this script's own environment has it

    torch.manual_seed(0)
    road = load_road(args.road_code)
    ours = load_by_path("suite_metrics_road", ROOT / "metrics" / "road.py")
    name, image = load_image(args.image)
    unit = image.astype(np.float64).transpose(2, 0, 1) / 255.0  # ToTensor
    normalised = (unit - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    result = {"image": name, "size": SIZE, "road_code": str(args.road_code), "masks": {}}
    for kind, removed in masks().items():
        mine = ours.noisy_linear_imputation(image, removed, np.random.default_rng(0), noise_std=0.0).astype(np.float64)
        theirs = road_impute(road, torch, unit, removed, 0.0).transpose(1, 2, 0) * 255.0
        theirs_norm = road_impute(road, torch, normalised, removed, 0.0)
        theirs_norm = (theirs_norm * IMAGENET_STD[:, None, None] + IMAGENET_MEAN[:, None, None]).transpose(1, 2, 0) * 255.0
        noisy = road_impute(road, torch, unit, removed, 0.01).transpose(1, 2, 0) * 255.0
        mine_noisy = ours.noisy_linear_imputation(image, removed, np.random.default_rng(1)).astype(np.float64)
        row = {
            "removed_fraction": float(removed.mean()),
            "max_abs_diff_pixels": float(np.abs(mine - theirs).max()),
            "max_abs_diff_pixels_removed_only": float(np.abs(mine - theirs)[removed].max()),
            "max_abs_diff_pixels_normalised_input": float(np.abs(mine - theirs_norm).max()),
            "road_noise_std_pixels": float((noisy - theirs)[removed].std()),
            "our_noise_std_pixels": float((mine_noisy - mine)[removed].std()),
            "road_kept_pixels_max_change": float(np.abs(noisy - image)[~removed].max()),
        }
        result["masks"][kind] = row
        print(kind, json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
