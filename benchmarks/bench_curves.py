"""Throughput of perturbation-curve evaluation against the model's raw forward pass.

Measured in one process, on the same model, images and batch size:

* ``raw``: ``model.logits`` on a float32 stack of as many images as the curves score:
  the original images repeated, and (``raw_perturbed``) the very perturbed images the
  curves score, materialised beforehand;
* ``curves``: ``CurveEvaluator.curves(relevance, "morf")`` for ``--steps`` steps (step 0
  precomputed, as it is shared by every method), counted as perturbed images per second;
* ``quantus``: Quantus 0.6.0 ``PixelFlipping`` with the same colour fields and ranking
  (it always covers the whole image: H*W / k steps), next to our evaluator on exactly
  the same H*W / k steps (``curves_full``), with the maximum difference of the curves.

Usage: ``python benchmarks/bench_curves.py --out results/bench_curves.json [--steps 100]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np

import metrics
import models as bm
from bench.datasets import load_image_set, shared_sample_dir
from metrics.perturbation import CurveEvaluator

DATA = shared_sample_dir(Path(__file__).resolve().parents[1])


def pick_model(name: str):
    if name in bm.MODELS:
        return bm.get_model(name), None
    note = f"model {name!r} is not registered in models (have: {', '.join(bm.MODELS)}); falling back to 'tiny'"
    print("NOTE:", note)
    return bm.get_model("tiny"), note


def pick_images(model, n: int, data: Path):
    if (data / "images.csv").is_file():
        return load_image_set(data, size=model.input_size, limit=n).pixels, str(data)
    print(f"NOTE: {data} not found; using random uint8 images")
    h, w = model.input_size
    return np.random.default_rng(0).integers(0, 256, (n, h, w, 3), dtype=np.uint8), "random uint8"


def perturbed_stack(ev, relevance, order: str) -> np.ndarray:
    """float32 (N*T, H, W, 3): every image the curves score, built directly (not incrementally)."""
    n, h, w, _ = ev.images.shape
    k, T = ev.pixels_per_step, ev.steps
    out = np.empty((n, T, h * w, 3), np.float32)
    ranking = ev.ranking(relevance, order)
    for i in range(n):
        field = ev.colour_field(i).reshape(-1, 3)
        step_of = np.full(h * w, T + 1)
        step_of[ranking[i, : k * T]] = np.arange(k * T) // k + 1
        replaced = step_of[None, :, None] <= np.arange(1, T + 1)[:, None, None]
        out[i] = np.where(replaced, field[None], ev.images[i].reshape(1, -1, 3).astype(np.float32))
    return out.reshape(n * T, h, w, 3)


def largest_divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, k + 1) if n % d == 0)


def best_of(fns, repeats: int) -> list[float]:
    """Best time of each function over ``repeats`` rounds, the functions interleaved per round."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for j, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[j] = min(best[j], time.perf_counter() - start)
    return best


def load_quantus_support():
    """The Quantus adapter the tests use (tests/quantus_support.py), loaded from its file."""
    path = Path(__file__).resolve().parents[1] / "tests" / "quantus_support.py"
    spec = importlib.util.spec_from_file_location("quantus_support", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--images", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings per measurement")
    ap.add_argument("--no-quantus", action="store_true")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)

    model, note = pick_model(args.model)
    h, w = model.input_size
    all_images, image_source = pick_images(model, max(args.images), args.data)
    # whole-image Quantus runs need k | H*W: take the largest divisor not above the profile's value
    k = largest_divisor_at_most(h * w, metrics.pixels_per_step_for((h, w), steps=args.steps))
    full_steps = h * w // k
    bs = args.batch_size
    result = {
        "model": model.name,
        "note": note,
        "input_size": [h, w],
        "image_source": image_source,
        "steps": args.steps,
        "pixels_per_step": k,
        "quantus_steps": full_steps,
        "batch_size": bs,
        "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": os.getloadavg()},
        "runs": [],
    }
    print(f"model {model.name} {h}x{w}, {args.steps} steps of {k} pixels, batch {bs}, images from {image_source}")

    warm = np.zeros((bs, h, w, 3), np.float32)
    model.logits(warm, batch_size=bs)  # trace the compiled forward for full and partial batches
    model.logits(warm[: max(1, bs // 2)], batch_size=bs)

    for n in args.images:
        images = all_images[:n]
        rng = np.random.default_rng(1)
        relevance = rng.normal(size=(n, h, w)).astype(np.float32)
        ev = CurveEvaluator(model, images, None, pixels_per_step=k, steps=args.steps, seed=0, batch_size=bs)
        ev.unperturbed_logits()
        count = n * args.steps
        stack = np.repeat(images.astype(np.float32), args.steps, axis=0)
        perturbed = perturbed_stack(ev, relevance, "morf")
        t_raw, t_raw_p, t_curve = best_of(
            [
                partial(model.logits, stack, batch_size=bs),
                partial(model.logits, perturbed, batch_size=bs),
                partial(ev.curves, relevance, "morf"),
            ],
            args.repeats,
        )
        check = model.logits(perturbed, batch_size=bs)[np.arange(count), np.repeat(ev.targets, args.steps)]
        same = float(np.abs(check.reshape(n, args.steps) - ev.curves(relevance, "morf").logits[:, 1:]).max())
        del stack, perturbed
        run = {
            "images": n,
            "scored": count,
            "raw_seconds": t_raw,
            "raw_images_per_s": count / t_raw,
            "raw_perturbed_seconds": t_raw_p,
            "raw_perturbed_images_per_s": count / t_raw_p,
            "curve_seconds": t_curve,
            "curve_images_per_s": count / t_curve,
            "curve_over_raw": t_raw / t_curve,
            "curve_over_raw_perturbed": t_raw_p / t_curve,
            "max_abs_diff_curve_vs_perturbed_stack": same,
        }
        print(
            f"[{n} image(s)] raw forward: originals {count / t_raw:7.1f} img/s, the perturbed images "
            f"{count / t_raw_p:7.1f} img/s | curves {count / t_curve:7.1f} img/s | ratio {t_raw / t_curve:.3f} "
            f"/ {t_raw_p / t_curve:.3f} (curve logits vs stack: max |diff| {same:.3g})"
        )
        if not args.no_quantus:
            try:
                import quantus  # noqa: F401, PLC0415 - optional (the test extra); its comparison is skipped without it
            except ImportError as err:
                run["quantus"] = f"not importable: {err}"
                print("  quantus not importable:", err)
            else:
                support = load_quantus_support()
                quantus_keras_model, quantus_pixel_flipping = support.quantus_keras_model, support.quantus_pixel_flipping

                evf = CurveEvaluator(
                    model,
                    images,
                    ev.targets,
                    pixels_per_step=k,
                    steps=full_steps,
                    seed=0,
                    batch_size=bs,
                    unperturbed_logits=ev.unperturbed_logits(),
                )
                qmodel = quantus_keras_model(model)
                qmodel.predict(np.zeros((bs, 1, h, 3 * w), np.float32), batch_size=bs, verbose=0)
                (t_full,) = best_of([partial(evf.curves, relevance, "morf")], args.repeats)
                ours = evf.curves(relevance, "morf").logits[:, 1:]
                start = time.perf_counter()
                q = quantus_pixel_flipping(evf, relevance, "morf", keras_model=qmodel)
                t_q = time.perf_counter() - start
                qcount = n * full_steps
                run.update(
                    {
                        "quantus_scored": qcount,
                        "curves_full_seconds": t_full,
                        "curves_full_images_per_s": qcount / t_full,
                        "quantus_seconds": t_q,
                        "quantus_images_per_s": qcount / t_q,
                        "quantus_max_abs_logit_diff": float(np.abs(q - ours).max()),
                        "quantus_bit_identical": bool(np.array_equal(q, ours.astype(np.float64))),
                    }
                )
                print(
                    f"  whole image ({full_steps} steps): ours {qcount / t_full:8.1f} img/s | quantus "
                    f"{qcount / t_q:8.1f} img/s ({t_q / t_full:.2f}x our time) | max |diff| "
                    f"{run['quantus_max_abs_logit_diff']:.3g}"
                )
        result["runs"].append(run)

    result["machine"]["loadavg_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("wrote", out)
    return result


if __name__ == "__main__":
    main()
