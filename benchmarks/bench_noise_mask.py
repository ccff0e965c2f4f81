"""Convergence benchmark of Noise Mask: objective gap and blurred r against converged
faithful reference masks, versus passes per image, for the faithful setting and the named
fast setting (methods.noise_mask.FAST), on EfficientNet-Lite0 and the shared images.

* reference: ``ref.npz`` written by tools/noise_mask_reference/torch_noise_mask.py (V of
  two faithful seeds run to convergence, rows 0..n-1 = seed 0, n..2n-1 = seed 1, and the
  image ids). Default path: ``.device/noise_mask_reference/ref.npz`` (git-ignored; see
  tools/noise_mask_reference/NOTES.md for how to regenerate it). Skipped with a message
  when absent.
* for every setting and every ``--passes`` value, the suite's TF NoiseMask runs exactly
  that many steps (window = max_iterations: no early stop) on the first ``--images``
  images; objective = preservation + loss term on the method's 32 fixed evaluation draws
  with the method's beta; the reference masks are evaluated on the same draws and beta.
  gap = (objective - objective_ref) / objective_ref; r = Pearson r of the sigma-2-px
  Gaussian-blurred masks (scipy, mode 'reflect'); the seed-to-seed ceiling is the same two
  numbers for reference seed 1 against seed 0.
* wall time per image per setting and pass count (this machine, one run).

Usage:
    python benchmarks/bench_noise_mask.py --out results/benchmarks/noise_mask.json \
        [--images 2] [--passes 100 400] [--reference PATH] [--plot PATH.png]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "nips17-dev-sample"
DEFAULT_REF = REPO / ".device" / "noise_mask_reference" / "ref.npz"


def blurred_r(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.ndimage import gaussian_filter

    a = gaussian_filter(a.astype(np.float64), 2.0).ravel()
    b = gaussian_filter(b.astype(np.float64), 2.0).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def evaluate(model, images, masks, beta, seed, draws):
    """objective = mean(M) + beta * MSE on the NoiseMask's fixed evaluation draws."""
    import tensorflow as tf

    from methods.noise_mask import _EVAL, _NoiseSource

    noise = _NoiseSource(images, seed)
    x = tf.constant(images.astype(np.float32))
    f_x = model.forward(x, None)
    m = tf.constant(masks[..., None].astype(np.float32))
    losses = []
    for d in range(draws):
        f_hat = model.forward(x * m + noise.draw(_EVAL, d) * (1.0 - m), None)
        losses.append(tf.reduce_mean(tf.square(f_x - f_hat), axis=1).numpy())
    return masks.mean(axis=(1, 2)) + beta * np.mean(losses, axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "noise_mask.json"))
    ap.add_argument("--plot", help="PNG path (default: --out with .png)")
    ap.add_argument("--reference", default=os.environ.get("BENCH_NOISE_MASK_REFERENCE", str(DEFAULT_REF)))
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--passes", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--settings", nargs="+", default=["faithful", "fast"])
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ref_path = Path(args.reference)
    if not ref_path.is_file():
        msg = (f"SKIPPED: no reference masks at {ref_path} (make them with "
               "tools/noise_mask_reference/torch_noise_mask.py run ...; see tools/noise_mask_reference/NOTES.md)")
        print(msg)
        out.write_text(json.dumps({"skipped": msg}, indent=1))
        return 0

    import methods
    from bench.datasets import load_image_set
    from bench.models import get_model
    from methods.noise_mask import PRESETS, NoiseMask

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
    seed = NoiseMask.defaults["seed"]
    draws = NoiseMask.defaults["eval_draws"]

    results = {"benchmark": "noise_mask_convergence", "model": "efficientnet_lite0", "images": pick,
               "reference": str(ref_path), "machine": platform.platform(), "cpu_count": os.cpu_count(),
               "presets": {k: PRESETS[k] for k in args.settings}, "runs": []}
    beta = None
    for setting in args.settings:
        for passes in args.passes:
            params = {**PRESETS[setting], "max_iterations": passes, "window": passes, "batch_size": len(images)}
            t0 = time.perf_counter()
            res = methods.explain("noise_mask", model, images, **params)
            secs = time.perf_counter() - t0
            beta = res.info["beta"]
            obj = res.info["preservation"] + res.info["loss_term"]
            if "ref_objective" not in results:
                results["ref_objective"] = evaluate(model, images, ref0, beta, seed, draws).tolist()
                if ref1 is not None:
                    o1 = evaluate(model, images, ref1, beta, seed, draws)
                    r0 = np.array(results["ref_objective"])
                    results["ceiling"] = {"gap": ((o1 - r0) / r0).tolist(),
                                          "r": [blurred_r(a, b) for a, b in zip(ref1, ref0)]}
            r0 = np.array(results["ref_objective"])
            run = {"setting": setting, "passes": passes, "lr": params.get("learning_rate", NoiseMask.defaults["learning_rate"]),
                   "gap": ((obj - r0) / r0).tolist(), "r": [blurred_r(a, b) for a, b in zip(res.relevance, ref0)],
                   "seconds_per_image": secs / len(images), "ms_per_pass": 1000 * secs / len(images) / passes}
            results["runs"].append(run)
            print(f"{setting:>9} {passes:>6} passes: gap {np.mean(run['gap']):+.3f}  blurred r {np.mean(run['r']):.3f}  "
                  f"{run['seconds_per_image']:.1f} s/image ({run['ms_per_pass']:.0f} ms/pass)", flush=True)
            out.write_text(json.dumps(results, indent=1))
    if "ceiling" in results:
        print(f"seed-to-seed ceiling: gap {np.mean(results['ceiling']['gap']):+.3f}, blurred r {np.mean(results['ceiling']['r']):.3f}")
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for setting in args.settings:
            rows = [r for r in results["runs"] if r["setting"] == setting]
            p = [r["passes"] for r in rows]
            axes[0].plot(p, [np.mean(r["gap"]) * 100 for r in rows], "o-", label=setting)
            axes[1].plot(p, [np.mean(r["r"]) for r in rows], "o-", label=setting)
        if "ceiling" in results:
            axes[0].axhline(np.mean(np.abs(results["ceiling"]["gap"])) * 100, ls="--", c="grey", label="seed-to-seed |gap|")
            axes[1].axhline(np.mean(results["ceiling"]["r"]), ls="--", c="grey", label="seed-to-seed r")
        for ax, lab in zip(axes, ["objective gap to reference (%)", "blurred r (sigma 2 px) to reference"]):
            ax.set_xscale("log")
            ax.set_xlabel("passes per image")
            ax.set_ylabel(lab)
            ax.legend()
        fig.suptitle(f"Noise Mask convergence, EfficientNet-Lite0, {len(pick)} images")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        results["plot"] = str(plot)
        out.write_text(json.dumps(results, indent=1))
    except Exception as exc:  # the JSON is the primary output
        print(f"plot not written: {exc!r}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
