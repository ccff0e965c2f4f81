"""Do two software stacks (e.g. TF 2.14 + numpy 1.26 and TF 2.21 + tf_keras + numpy 2) give
the same numbers?

``dump`` runs, on the current stack, EfficientNet-Lite0 on the first N shared images:
logits, every method's relevance map (Noise Mask with a short fixed run), and the MoRF /
LeRF curves and per-image metrics of each map, and writes them to one .npz with the
stack's versions. ``compare`` reads two dumps and prints, per quantity, the largest
absolute difference, the largest difference relative to the quantity's scale, and the
fraction of top-1 classes (or of the curves' pixel rankings) that agree::

    python benchmarks/stack_agreement.py dump --out /tmp/stack-a.npz        # in one venv
    python benchmarks/stack_agreement.py dump --out /tmp/stack-b.npz        # in the other
    python benchmarks/stack_agreement.py compare /tmp/stack-a.npz /tmp/stack-b.npz
"""

from __future__ import annotations

import argparse
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

import methods
import metrics
from bench.datasets import load_image_set, shared_sample_dir
from models import get_model

DATA = shared_sample_dir(Path(__file__).resolve().parents[1])
METHODS = {
    "deeplift": {},
    "intgrad": {"steps": 32},
    "elrp": {},
    "sensitivity": {},
    "occlusion": {"patch_size": 16, "stride": 16},
    "noise_mask": {"preset": "fast", "max_iterations": 300, "window": 300},
}
CURVE_STEPS = 50


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("tensorflow", "tensorflow-cpu", "tf-keras", "keras", "numpy", "scikit-image", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def dump(images: int, out: Path, data: Path) -> None:
    model = get_model("efficientnet_lite0")
    image_set = load_image_set(data, size=model.input_size, limit=images)
    pixels = image_set.pixels
    logits = model.logits(pixels)
    targets = logits.argmax(axis=1)
    arrays = {"logits": logits, "targets": targets}
    pps = metrics.pixels_per_step_for(model.input_size, steps=CURVE_STEPS)
    evaluator = metrics.CurveEvaluator(model, pixels, targets, pixels_per_step=pps, steps=CURVE_STEPS, seed=0)
    for name, params in METHODS.items():
        result = methods.explain(name, model, pixels, targets, **params)
        arrays[f"{name}/relevance"] = result.relevance
        morf, lerf = evaluator.curves(result.relevance, "morf"), evaluator.curves(result.relevance, "lerf")
        arrays[f"{name}/morf"], arrays[f"{name}/lerf"] = morf.logits, lerf.logits
        signed = methods.get_method(name).signed
        per_image = [
            metrics.image_metrics(
                metrics.grayscale_map(r, signed=signed), img, morf.logits[i], lerf.logits[i], morf.probs[i], lerf.probs[i], 9
            )
            for i, (r, img) in enumerate(zip(result.relevance, pixels))
        ]
        for key in per_image[0]:
            arrays[f"{name}/{key}"] = np.array([v[key] for v in per_image])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, versions=json.dumps(_versions()), image_ids=np.array(image_set.ids), **arrays)
    print(f"wrote {out}: {len(pixels)} images, {json.dumps(_versions())}")


def compare(a_path: Path, b_path: Path) -> list[dict]:
    a, b = np.load(a_path), np.load(b_path)
    print("A:", a["versions"].item())
    print("B:", b["versions"].item())
    if list(a["image_ids"]) != list(b["image_ids"]):
        raise SystemExit("the two dumps are of different images")
    rows = []
    for key in a.files:
        if key in ("versions", "image_ids"):
            continue
        x, y = a[key].astype(np.float64), b[key].astype(np.float64)
        diff = np.abs(x - y)
        scale = max(np.abs(x).max(), 1e-12)
        row = {"quantity": key, "max_abs": float(diff.max()), "max_rel_to_scale": float(diff.max() / scale)}
        if key == "logits" or key == "targets":
            row["agree"] = float(np.mean(a["logits"].argmax(1) == b["logits"].argmax(1)))
        rows.append(row)
    print("| quantity | max abs diff | max diff / max abs value |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['quantity']} | {row['max_abs']:.3g} | {row['max_rel_to_scale']:.3g} |")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="compute on this stack and write an .npz")
    d.add_argument("--images", type=int, default=8)
    d.add_argument("--data", type=Path, default=DATA)
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare", help="compare two dumps")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.command == "dump":
        dump(args.images, args.out, args.data)
    else:
        rows = compare(args.a, args.b)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
