"""ROAD's noisy linear imputation (metrics/road.py): what one solve and one curve cost.

In one process, on images of the shared sample at 224x224:

* seconds per imputation at removed fractions 0.1, 0.5 and 0.9, for two kinds of removed
  set (``random``: uniform random pixels, like a noisy map; ``blob``: the top of a smooth
  random field, like a smooth map), with (a) ROAD's plain ``spsolve`` and (b) our fast
  path (``solver="nd"``), and the largest difference between the two (pixel units), in
  the float32 images and in the float64 solutions before the cast;
* (c) the cost of one 100-step MoRF curve (448 pixels per step) of ROAD images scored by
  EfficientNet-Lite0, against one 100-step random-colour curve
  (``metrics.perturbation.CurveEvaluator``), both on the same image and smooth map; the
  unperturbed scores and the model's tracing are done before timing. The ROAD images are
  also built with the plain solve and with the fast path in 2 threads (``workers=2``).

Timings are the least of ``--repeats`` runs (the least disturbed on a shared machine;
the curves' imputations run once: 100 solves each); absolute times are noisy, so compare
the ratios. Usage: ``python benchmarks/bench_road.py
[--out results/benchmarks/bench_road.json] [--images 2] [--repeats 5] [--no-model]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

import metrics
from bench.datasets import load_image_set, shared_sample_dir
from metrics.relevance_maps import pixel_ranking
from metrics.road import ImputationCurve, _solve_nd, _solve_spsolve, noisy_linear_imputation
from models import get_model

ROOT = Path(__file__).resolve().parents[1]
DATA = shared_sample_dir(ROOT)
OUT = ROOT / "results" / "benchmarks" / "bench_road.json"
SIZE = 224
FRACTIONS = (0.1, 0.5, 0.9)
STEPS, PIXELS_PER_STEP = 100, 448
"""100 steps of 448 pixels: 89 % of a 224x224 image at the last step."""


def smooth_map(rng: np.random.Generator, size: int = SIZE, sigma: float = 12.0) -> np.ndarray:
    return gaussian_filter(rng.standard_normal((size, size)), sigma)


def removed_set(kind: str, fraction: float, rng: np.random.Generator) -> np.ndarray:
    n = SIZE * SIZE
    order = rng.permutation(n) if kind == "random" else np.argsort(-smooth_map(rng).ravel(), kind="stable")
    removed = np.zeros(n, bool)
    removed[order[: round(fraction * n)]] = True
    return removed.reshape(SIZE, SIZE)


def seconds(fn, repeats: int, *args, **kwargs) -> tuple[float, object]:
    """Least wall time of ``fn(*args, **kwargs)`` over ``repeats`` calls, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.min(times)), out


def load_images(count: int) -> tuple[list[str], np.ndarray]:
    images = load_image_set(DATA, size=SIZE, limit=count)
    return list(images.ids), images.pixels


def solution(solve, image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """float64 (H*W, 3): a solver's imputed values before the noise and the cast to float32 (0 at kept pixels)."""
    values, where = solve(image.astype(np.float32), removed)
    out = np.zeros((removed.size, 3))
    out[where] = values
    return out


def solve_table(image: np.ndarray, repeats: int) -> list[dict]:
    noisy_linear_imputation(image, removed_set("random", 0.5, np.random.default_rng(0)), np.random.default_rng(0))  # grid cache
    rows = []
    for kind in ("random", "blob"):
        for fraction in FRACTIONS:
            removed = removed_set(kind, fraction, np.random.default_rng(1))
            rng = np.random.default_rng(2)
            plain_s, plain = seconds(noisy_linear_imputation, repeats, image, removed, rng, 0.0, solver="spsolve")
            fast_s, fast = seconds(noisy_linear_imputation, repeats, image, removed, rng, 0.0, solver="nd")
            row = {
                "removed": kind,
                "fraction": fraction,
                "plain_s": plain_s,
                "fast_s": fast_s,
                "speedup": plain_s / fast_s,
                "max_abs_diff": float(np.abs(plain.astype(np.float64) - fast).max()),
                "max_abs_diff_float64": float(
                    np.abs(solution(_solve_spsolve, image, removed) - solution(_solve_nd, image, removed)).max()
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def curve_costs(images: np.ndarray, repeats: int) -> dict:
    model = get_model("efficientnet_lite0")
    if tuple(np.broadcast_to(model.input_size, 2)) != (SIZE, SIZE):
        raise SystemExit(f"efficientnet_lite0 takes {model.input_size}px images; this benchmark assumes {SIZE}")
    model.logits(images[:1], batch_size=32)  # tracing
    per_image = []
    for i, image in enumerate(images):
        relevance = smooth_map(np.random.default_rng(100 + i))[None]
        evaluator = metrics.CurveEvaluator(model, image[None], None, pixels_per_step=PIXELS_PER_STEP, steps=STEPS, seed=0)
        evaluator.unperturbed_logits()
        colour_s, _ = seconds(evaluator.curves, repeats, relevance, "morf")
        ranking = pixel_ranking(relevance[0], "morf", np.random.default_rng(0))
        curve = ImputationCurve(image, ranking, PIXELS_PER_STEP, STEPS, seed=(0, i))
        impute_s, road_images = seconds(curve.images, 1)
        threads_s, threaded = seconds(curve.images, 1, workers=2)
        assert np.array_equal(threaded, road_images)
        plain_curve = ImputationCurve(image, ranking, PIXELS_PER_STEP, STEPS, seed=(0, i), solver="spsolve")
        plain_impute_s, _ = seconds(plain_curve.images, 1)
        score_s, _ = seconds(model.logits, repeats, road_images, batch_size=32)
        row = {
            "image": i,
            "colour_curve_s": colour_s,
            "road_impute_s": impute_s,
            "road_impute_plain_s": plain_impute_s,
            "road_impute_2_threads_s": threads_s,
            "road_score_s": score_s,
            "road_curve_s": impute_s + score_s,
            "ratio_road_to_colour": (impute_s + score_s) / colour_s,
            "ratio_road_plain_to_colour": (plain_impute_s + score_s) / colour_s,
        }
        per_image.append(row)
        print(json.dumps(row), flush=True)
    mean = {k: float(np.mean([r[k] for r in per_image])) for k in per_image[0] if k != "image"}
    return {"model": model.name, "steps": STEPS, "pixels_per_step": PIXELS_PER_STEP, "per_image": per_image, "mean": mean}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--images", type=int, default=2, help="images for the curve costs (the solve table uses the first)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-model", action="store_true", help="skip the curve costs (no TensorFlow)")
    args = parser.parse_args()

    ids, images = load_images(args.images)
    result: dict = {"size": SIZE, "images": ids, "repeats": args.repeats, "solves": solve_table(images[0], args.repeats)}
    if not args.no_model:
        result["curves"] = curve_costs(images, args.repeats)

    print(f"\n{'removed':8} {'fraction':>8} {'plain s':>9} {'fast s':>9} {'speedup':>8} {'|diff| f32':>11} {'|diff| f64':>11}")
    for r in result["solves"]:
        print(
            f"{r['removed']:8} {r['fraction']:8.1f} {r['plain_s']:9.4f} {r['fast_s']:9.4f} {r['speedup']:8.2f} "
            f"{r['max_abs_diff']:11.1e} {r['max_abs_diff_float64']:11.1e}"
        )
    if "curves" in result:
        m = result["curves"]["mean"]
        print(
            f"\none {STEPS}-step curve ({PIXELS_PER_STEP} px/step), mean of {len(ids)} images: random colour "
            f"{m['colour_curve_s']:.2f} s; ROAD {m['road_curve_s']:.2f} s (impute {m['road_impute_s']:.2f} s "
            f"[plain spsolve {m['road_impute_plain_s']:.2f} s; 2 threads {m['road_impute_2_threads_s']:.2f} s] + score {m['road_score_s']:.2f} s); "
            f"ratio ROAD / colour {m['ratio_road_to_colour']:.2f} (plain {m['ratio_road_plain_to_colour']:.2f})"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
