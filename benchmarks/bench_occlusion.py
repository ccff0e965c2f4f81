"""Occlusion settings: what each (patch, stride) costs and what its maps look like.

The thesis's occlusion maps are "blurred" (Table 1: 32.3 KB, about 3 bits per pixel), as
overlapping windows averaged per pixel give (DeepExplain's ``Occlusion``, whose Inception
example uses a 15x15 window at step 4). A stride equal to the patch gives block maps of a
few hundred bytes. For each setting, on the same images and model in one process: seconds
per image (and the ratio to the first setting), PNG size (KiB and bits per pixel) and SSIM
under the spec's map and DeepExplain's heatmap, ABPC on the run's curve settings, and a
figure of the maps (``--figure``).

Usage: ``python benchmarks/bench_occlusion.py --out results/benchmarks/bench_occlusion.json
[--images 4] [--settings 16x16,16x8,15x4] [--figure results/benchmarks/occlusion_maps.png]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import metrics
from bench.datasets import load_image_set, shared_sample_dir
from methods import build_method
from models import get_model

DATA = shared_sample_dir(Path(__file__).resolve().parents[1])
SETTINGS = "16x16,16x8,24x8,15x4"
"""patch x stride: the quick profile's old setting, the paper profile's, a wider window, DeepExplain's example."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--settings", default=SETTINGS)
    parser.add_argument("--figure")
    args = parser.parse_args()

    model = get_model("efficientnet_lite0")
    images = load_image_set(DATA, size=model.input_size, limit=args.images)
    targets = model.top1(images.pixels)
    steps = 100
    pps = metrics.pixels_per_step_for(model.input_size, steps=steps)
    evaluator = metrics.CurveEvaluator(model, images.pixels, targets, pixels_per_step=pps, steps=steps, seed=0)
    rows, maps = [], {}
    for setting in args.settings.split(","):
        patch, stride = map(int, setting.split("x"))
        method = build_method("occlusion", {"patch_size": patch, "stride": stride})
        method.explain(model, images.pixels[:1], targets[:1])  # warm-up (tracing)
        start = time.perf_counter()
        explanation = method.explain(model, images.pixels, targets)
        seconds = (time.perf_counter() - start) / len(images)
        relevance = explanation.relevance
        morf, lerf = evaluator.curves(relevance, "morf"), evaluator.curves(relevance, "lerf")
        per_image = []
        for k in range(len(images)):
            row = {}
            for rendering in ("abs-p99.5", "deepexplain-heatmap"):
                gray = metrics.render_map(relevance[k], images.pixels[k], rendering)
                size = metrics.png_size(gray)
                row[rendering] = (size, metrics.bits_per_pixel(size, gray.shape), metrics.ssim_to_image(gray, images.pixels[k]))
            row["abpc"] = float(metrics.abpc(lerf.logits[k], morf.logits[k]).sum)
            per_image.append(row)
        summary = {
            "setting": setting,
            "patch_size": patch,
            "stride": stride,
            "patches_per_image": explanation.info["patches_per_image"],
            "seconds_per_image": seconds,
            "abpc_sum_logit": float(np.mean([r["abpc"] for r in per_image])),
        }
        for rendering in ("abs-p99.5", "deepexplain-heatmap"):
            sizes = np.array([r[rendering] for r in per_image])
            summary[rendering] = {
                "kib": sizes[:, 0].mean() / 1024,
                "bits_per_pixel": sizes[:, 1].mean(),
                "ssim": sizes[:, 2].mean(),
            }
        rows.append(summary)
        maps[setting] = relevance
        print(json.dumps(summary), flush=True)
    base = rows[0]["seconds_per_image"]
    for row in rows:
        row["time_ratio_to_first"] = row["seconds_per_image"] / base
    result = {"model": model.name, "images": images.ids, "curve_steps": steps, "settings": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.figure:
        figure(images, maps, Path(args.figure))


def figure(images, maps: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only for --figure; the Agg backend is chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - as above

    n = len(images)
    fig, axes = plt.subplots(len(maps) + 1, n, figsize=(2.2 * n, 2.2 * (len(maps) + 1)), squeeze=False)
    for k in range(n):
        axes[0, k].imshow(images.pixels[k])
        axes[0, k].set_title(images.ids[k], fontsize=7)
        for row, (setting, relevance) in enumerate(maps.items(), start=1):
            r = relevance[k]
            lim = np.abs(r).max() or 1.0
            axes[row, k].imshow(r, cmap="RdBu_r", vmin=-lim, vmax=lim)
            if k == 0:
                axes[row, k].set_ylabel(f"patch x stride\n{setting}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
