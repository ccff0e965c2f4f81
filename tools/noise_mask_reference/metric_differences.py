"""Image-level metrics of Noise Mask maps: converged faithful references vs a named setting.

For the 16 shared images of the reference (``ref.npz``, see NOTES.md), computes with the
suite's own metrics (grayscale map, PNG size, SSIM to the image, MoRF/LeRF curves and
ABPC) the values of: reference seed 0, reference seed 1 (the seed-to-seed ceiling), and
the suite's TF NoiseMask run with a preset (default ``fast``). Prints per-setting means
and the mean differences to reference seed 0; writes JSON.

Run from the repository root with the project installed (``pip install -e .``):

    python tools/noise_mask_reference/metric_differences.py --out results/benchmarks/noise_mask_metrics.json \
        [--reference .device/noise_mask_reference/ref.npz] [--data data/nips17]

``--data`` is any image-set folder that holds the reference's 16 image ids (the NOTES.md
numbers were made with the 100-image NIPS-2017 development sample).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import methods
import metrics
from bench.datasets import load_image_set
from bench.run.planning import image_seed
from methods.noise_mask import PRESETS
from models import get_model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--reference",
        default=str(Path(".device") / "noise_mask_reference" / "ref.npz"),
        help="torch_noise_mask.py's ref.npz (default: %(default)s, relative to the repo root)",
    )
    ap.add_argument(
        "--data",
        default=str(Path("data") / "nips17"),
        help="image-set folder (images.csv) that holds the reference's image ids (default: %(default)s)",
    )
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--steps", type=int, default=200, help="curve steps (same 89.5%% coverage)")
    ap.add_argument("--iterations", type=int, help="override the preset's step count (e.g. for a smoke run)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    ref = np.load(args.reference)
    ids = [str(i) for i in ref["ids"]]
    n = len(ids)
    masks = 1.0 / (1.0 + np.exp(-ref["v"].astype(np.float64)))
    images = load_image_set(args.data, size=224, ids=ids)
    model = get_model("efficientnet_lite0")
    pps = metrics.pixels_per_step_for(224, steps=args.steps)
    evaluator = metrics.CurveEvaluator(
        model, images.pixels, None, pixels_per_step=pps, steps=args.steps, seed=[image_seed(0, i) for i in ids]
    )
    params = dict(PRESETS[args.preset])
    if args.iterations:
        params.update(max_iterations=args.iterations, window=args.iterations)
    t0 = time.perf_counter()
    run = methods.explain("noise_mask", model, images.pixels, batch_size=n, **params)
    seconds = time.perf_counter() - t0
    maps = {"reference_seed0": masks[:n], "reference_seed1": masks[n : 2 * n], args.preset: run.relevance}

    out = {
        "images": ids,
        "preset": params,
        "preset_seconds_per_image": seconds / n,
        "curve_steps": args.steps,
        "pixels_per_step": pps,
        "values": {},
    }
    for name, rel in maps.items():
        morf, lerf = evaluator.curves(rel, "morf"), evaluator.curves(rel, "lerf")
        grays = [metrics.grayscale_map(r) for r in rel]
        out["values"][name] = {
            "png_bytes": [metrics.png_size(g) for g in grays],
            "ssim": [metrics.ssim_to_image(g, img) for g, img in zip(grays, images.pixels)],
            "abpc_sum_logit": metrics.abpc(lerf.logits, morf.logits).sum.tolist(),
            "preservation": rel.mean(axis=(1, 2)).tolist(),
        }
    base = out["values"]["reference_seed0"]
    print(f"{'setting':>16} {'PNG KiB':>8} {'SSIM':>7} {'ABPC':>8} {'mean M':>7}")
    for name, vals in out["values"].items():
        print(
            f"{name:>16} {np.mean(vals['png_bytes']) / 1024:8.1f} {np.mean(vals['ssim']):7.3f} "
            f"{np.mean(vals['abpc_sum_logit']):8.1f} {np.mean(vals['preservation']):7.3f}"
        )
        out.setdefault("mean_difference_to_seed0", {})[name] = {k: float(np.mean(np.subtract(vals[k], base[k]))) for k in vals}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"{args.preset}: {seconds / n:.1f} s per image (batch of {n}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
