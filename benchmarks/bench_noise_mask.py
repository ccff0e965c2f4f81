"""Convergence benchmark of Noise Mask: objective gap and blurred r against converged
faithful reference masks, versus passes per image, for the faithful setting and the named
fast setting (methods.noise_mask.FAST), on EfficientNet-Lite0 and the shared images.

* reference: ``ref.npz`` holding V of two faithful seeds run to convergence (rows 0..n-1
  = seed 0, n..2n-1 = seed 1) and the image ids. Either from the GPU port
  (tools/noise_mask_reference/torch_noise_mask.py, NOTES.md) or made here with
  ``--make-reference`` (the suite's own NoiseMask, seeds 0 and 1, faithful, until the
  convergence rule holds or ``--reference-steps``; about 20,000 steps per image, so
  roughly 25 minutes per image on 2 CPU cores). Looked up at ``--reference``,
  ``$BENCH_NOISE_MASK_REFERENCE``, ``data/noise_mask_reference/ref.npz``, then
  ``.device/noise_mask_reference/ref.npz`` (both git-ignored). Without one the benchmark
  writes a JSON that says it was skipped and why.
* for every setting and every ``--passes`` value, the suite's TF NoiseMask (noise seed 2,
  independent of both reference seeds) runs exactly that many steps (window = max_iterations: no early stop) on the first ``--images``
  images; objective = preservation + loss term on the method's 32 fixed evaluation draws
  with the method's beta; the reference masks are evaluated on the same draws and beta.
  gap = (objective - objective_ref) / objective_ref; r = Pearson r of the sigma-2-px
  Gaussian-blurred masks (scipy, mode 'reflect'); the seed-to-seed ceiling is the same two
  numbers for reference seed 1 against seed 0.
* wall time per image per setting and pass count (this machine, one run).

Usage:
    python benchmarks/bench_noise_mask.py --out results/benchmarks/noise_mask.json \
        [--images 2] [--passes 100 400 3200 | preset] [--make-reference] [--reference PATH] [--plot PATH.png]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

import methods
from bench.datasets import load_image_set, shared_sample_dir
from bench.report.convergence import convergence_figure
from common.files import atomic_path, write_json
from methods.noise_mask import PRESETS, NoiseMask, evaluate_mask
from metrics import blurred_r
from models import get_model

REPO = Path(__file__).resolve().parents[1]
DATA = shared_sample_dir(Path(__file__).resolve().parents[1])
REFERENCES = [REPO / "data" / "noise_mask_reference" / "ref.npz", REPO / ".device" / "noise_mask_reference" / "ref.npz"]
RUN_SEED = 2  # the reference seeds are 0 and 1: a shared noise path would inflate r


def make_reference(path: Path, data: str, n_images: int, max_steps: int) -> None:
    """Faithful NoiseMask, seeds 0 and 1, each image until the convergence rule holds."""
    sample = load_image_set(data, size=224, limit=n_images)
    model = get_model("efficientnet_lite0")
    runs = [
        methods.explain("noise_mask", model, sample.pixels, batch_size=len(sample), seed=seed, max_iterations=max_steps)
        for seed in (0, 1)
    ]
    mask = np.clip(np.concatenate([r.relevance for r in runs]).astype(np.float64), 1e-7, 1 - 1e-7)
    iterations = np.concatenate([r.diagnostics["iterations"] for r in runs])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                v=np.log(mask / (1 - mask)).astype(np.float32),
                ids=np.array(sample.ids),
                iterations=iterations,
                converged=np.concatenate([r.diagnostics["converged"] for r in runs]),
                seconds=np.array([r.seconds for r in runs]),
            )
    print(
        f"reference: {path}; iterations {iterations.tolist()} (cap {max_steps}), "
        f"{sum(r.seconds for r in runs) / (2 * len(sample)):.0f} s per image and seed"
    )


def summarise(results: dict) -> dict:
    """Means per (setting, passes) in the layout of bench/report/noise_mask_convergence.json."""
    variants = {}
    for run in results["runs"]:
        v = variants.setdefault(
            run["setting"],
            {
                "name": run["setting"],
                "label": f"{run['setting']} (Adam lr {run['lr']:g})",
                "lr": run["lr"],
                "schedule": "const",
                "plain": True,
                "full_resolution": True,
                "points": [],
            },
        )
        v["points"].append(
            {
                "passes": run["passes"],
                "gap_mean": float(np.mean(run["gap"])),
                "gap_max": float(np.max(run["gap"])),
                "r_mean": float(np.mean(run["r"])),
                "r_min": float(np.min(run["r"])),
            }
        )
    summary = {"variants": list(variants.values())}
    if "ceiling" in results:
        gap, r = np.abs(results["ceiling"]["gap"]), np.asarray(results["ceiling"]["r"])
        summary["ceiling"] = {
            "gap_abs_mean": float(gap.mean()),
            "gap_abs_max": float(gap.max()),
            "r_mean": float(r.mean()),
            "r_min": float(r.min()),
        }
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "noise_mask.json"))
    ap.add_argument("--plot", help="PNG path (default: --out with .png)")
    ap.add_argument("--reference", default=os.environ.get("BENCH_NOISE_MASK_REFERENCE"))
    ap.add_argument("--make-reference", action="store_true", help="first run the faithful reference here (slow)")
    ap.add_argument("--reference-steps", type=int, default=25000, help="cap for --make-reference")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument(
        "--passes",
        nargs="+",
        default=["100", "400", "3200"],
        help="step counts, each run exactly (no early stop); 'preset' = the setting's own "
        "schedule and stopping rule (faithful: up to 15,000 steps, stops when converged)",
    )
    ap.add_argument("--settings", nargs="+", default=["faithful", "fast"])
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    candidates = [Path(args.reference)] if args.reference else REFERENCES
    if args.make_reference:
        make_reference(candidates[0], args.data, args.images, args.reference_steps)
    ref_path = next((p for p in candidates if p.is_file()), candidates[0])
    if not ref_path.is_file():
        msg = (
            f"SKIPPED: no reference masks at {' or '.join(map(str, candidates))} (make them with --make-reference, "
            "or on a GPU with tools/noise_mask_reference/torch_noise_mask.py; see tools/noise_mask_reference/NOTES.md)"
        )
        print(msg)
        write_json(out, {"skipped": msg})
        return 0

    ref = np.load(ref_path)
    ref_ids = [str(i) for i in ref["ids"]]
    n_ref = len(ref_ids)
    ref_masks = 1.0 / (1.0 + np.exp(-ref["v"].astype(np.float64)))
    sample = load_image_set(args.data, size=224, limit=max(16, n_ref))
    index = {str(i): k for k, i in enumerate(sample.ids)}
    pick = [i for i in ref_ids if i in index][: args.images]
    if not pick:
        raise SystemExit(f"none of the reference's image ids are in {args.data}")
    images = sample.pixels[[index[i] for i in pick]]
    ref0 = ref_masks[[ref_ids.index(i) for i in pick]]
    ref1 = ref_masks[[n_ref + ref_ids.index(i) for i in pick]] if len(ref_masks) >= 2 * n_ref else None
    model = get_model("efficientnet_lite0")
    seed = RUN_SEED
    draws = NoiseMask.defaults["eval_draws"]

    results = {
        "benchmark": "noise_mask_convergence",
        "model": "efficientnet_lite0",
        "images": pick,
        "reference": str(ref_path),
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "presets": {k: PRESETS[k] for k in args.settings},
        "runs": [],
    }
    beta = None
    for setting in args.settings:
        for passes in args.passes:
            params = {**PRESETS[setting], "batch_size": len(images), "seed": RUN_SEED}
            if passes != "preset":
                params.update(max_iterations=int(passes), window=int(passes))
            t0 = time.perf_counter()
            res = methods.explain("noise_mask", model, images, **params)
            secs = time.perf_counter() - t0
            beta = res.diagnostics["beta"]
            obj = res.diagnostics["preservation"] + res.diagnostics["loss_term_pct"] / 100
            if "ref_objective" not in results:
                results["ref_objective"] = sum(evaluate_mask(model, images, ref0, beta, seed, draws)).tolist()
                if ref1 is not None:
                    o1 = sum(evaluate_mask(model, images, ref1, beta, seed, draws))
                    r0 = np.array(results["ref_objective"])
                    results["ceiling"] = {"gap": ((o1 - r0) / r0).tolist(), "r": [blurred_r(a, b) for a, b in zip(ref1, ref0)]}
            r0 = np.array(results["ref_objective"])
            passes = int(np.mean(res.diagnostics["iterations"])) if passes == "preset" else int(passes)
            run = {
                "setting": setting,
                "passes": passes,
                "iterations": res.diagnostics["iterations"].tolist(),
                "lr": params.get("learning_rate", NoiseMask.defaults["learning_rate"]),
                "gap": ((obj - r0) / r0).tolist(),
                "r": [blurred_r(a, b) for a, b in zip(res.relevance, ref0)],
                "seconds_per_image": secs / len(images),
                "ms_per_pass": 1000 * secs / len(images) / passes,
            }
            results["runs"].append(run)
            print(
                f"{setting:>9} {passes:>6} passes: gap {np.mean(run['gap']):+.3f}  blurred r {np.mean(run['r']):.3f}  "
                f"{run['seconds_per_image']:.1f} s/image ({run['ms_per_pass']:.0f} ms/pass)",
                flush=True,
            )
            write_json(out, results)
    if "ceiling" in results:
        print(
            f"seed-to-seed ceiling: gap {np.mean(results['ceiling']['gap']):+.3f}, blurred r {np.mean(results['ceiling']['r']):.3f}"
        )
    results["summary"] = summarise(results)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    convergence_figure(
        results["summary"], plot, title=f"Noise Mask convergence on this machine: EfficientNet-Lite0, {len(pick)} images"
    )
    results["plot"] = str(plot)
    write_json(out, results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
