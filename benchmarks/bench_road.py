"""ROAD's noisy linear imputation (metrics/road.py): what one solve and one curve cost.

In one process, on images of the shared sample at 224x224:

* seconds per imputation at removed fractions 0.1, 0.5 and 0.9, for two kinds of removed
  set (``random``: uniform random pixels, like a noisy map; ``blob``: the top of a smooth
  random field, like a smooth map), with (a) ROAD's plain ``spsolve`` and (b) our fast
  path (``solver="nd"``), and the largest difference between the two (pixel units), in
  the float32 images and in the float64 solutions before the cast;
* (c) per image, for a smooth map and a noisy one (white noise): one 100-step MoRF curve
  (448 pixels per step) scored by EfficientNet-Lite0 with random colours and with ROAD
  (``CurveEvaluator(replacement="road")``, imputation overlapped with the forward passes),
  and ROAD's own protocol (:data:`metrics.perturbation.ROAD_PROTOCOL_STEPS`: 9 fractions,
  10 %..90 %); for the smooth map also the ROAD images built in line (fast path, plain
  solve, 2 threads) and scored separately. The model is traced for every batch shape first.
* ``--protocol`` (no model): on the shipped 32-image ``nips17-ci`` reference, ABPC from
  ROAD's 9 fractions (the stored 100-step curves at the nearest steps) against the 100-step
  ABPC: claim verdict, ranking, and every pairwise ``compare_paired`` verdict.

Timings are medians of ``--repeats`` runs (the ROAD curves run once: 100 solves each); the
machine is shared (2 cores, load 3-4 while measured), so compare ratios measured side by
side. Usage: ``python benchmarks/bench_road.py [--out results/benchmarks/bench_road.json]
[--images 2] [--repeats 5] [--no-model] [--protocol]``

Notes (issue 24; seconds, medians of 3 images, one process, 2 shared cores):

=======================================  ==============  =========  =========  ======
one MoRF curve                            random colour   ROAD      ROAD 9-pt  ratios
=======================================  ==============  =========  =========  ======
before (in-line imputation), smooth map   1.38            6.82       -          4.96x
after (imputation ahead), smooth map      1.37            6.98       0.73       4.82x / 0.51x
after, noisy map                          1.38            5.53       0.61       4.00x / 0.45x
=======================================  ==============  =========  =========  ======

Per solve (nd, unchanged): random 10/50/90 % 4.4 / 55 / 130 ms, blob 8.9 / 61 / 124 ms
(plain spsolve 4.8 / 68 / 608 and 13 / 100 / 296 ms); float32 images identical to spsolve's.
Imputation of a 100-step smooth-map curve: 5.97 s in line (10.3 s plain, 5.67 s in 2 threads);
scoring its 100 images 1.40 s. 2x needs the imputation under ~1.4 s: it misses by ~4x.

Ideas measured (same removed sets, float64 agreement with the exact solve in brackets):

* pyamg 5.4.1 smoothed aggregation + CG (tol 1e-10), per solve: random 10/50/90 %
  131 / 1256 / 1939 ms, blob 170 / 1264 / 2214 ms (5-12 iterations, 1e-8); its setup
  alone 16-490 ms, above the direct solve everywhere: 10-30x slower. Not used.
* CHOLMOD (supernodal Cholesky, via cvxopt 1.3.3's bundled SuiteSparse, 21 MB wheel) with our
  nested-dissection order: 0.5x / 0.65x / 0.5x of SuperLU at 50 / 90 % (58 vs 110 ms at
  90 % random; 4e-13): about 2x on the large solves, so a curve would still be ~3x.
  Not added (a heavy dependency for less than the target).
* SuperLU's relax / panel_size (40/20, 100/40): no gain or slower.
* Connected components: in blob-shaped sets (smooth maps, the benchmark's case) the removed
  set is a few large components; nested dissection already keeps separate components from
  filling in, so splitting only saves the small early solves, which cost little. Not done.
* Warm start from the previous step: the correction from 448 new pixels spreads over a whole
  hole (2-D Green's function), so only an iterative solver could use it, and those are slower.
* Imputing the next batch while the model scores (``CurveEvaluator``, one background
  thread): 5-6 % per curve here (6.61 vs 7.09 s, 6.98 vs 7.37 s): the 2 cores are busy.
  Kept (images bit-identical, tests/test_road.py).
* ROAD's protocol, 9 fractions: 0.45-0.51x the random-colour curve. On ``nips17-ci``
  its ABPC gives the same claim verdict ("undecided") and the same ranking of the 6 methods
  as the 100 steps; of 120 pairwise verdicts (30 method pairs x 4 ABPC metrics) 8 differ,
  all borderline and none reversed: deeplift vs intgrad (logit) and elrp vs perturbation
  (probability) are decided at 100 steps, indistinguishable at 9 points.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

import metrics
from bench.datasets import load_image_set, shared_sample_dir
from bench.regression.references import load_reference
from bench.report.claims import evaluate_claims
from metrics.perturbation import ROAD_PROTOCOL_COVERAGE, ROAD_PROTOCOL_STEPS, pixels_per_step_for
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
    """Median wall time of ``fn(*args, **kwargs)`` over ``repeats`` calls, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


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


def noisy_map(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    return rng.standard_normal((size, size))


def road_curve_s(model, image: np.ndarray, relevance: np.ndarray, steps: int, pixels_per_step: int) -> float:
    """Seconds of one MoRF curve through ``CurveEvaluator(replacement="road")`` (imputation
    overlapped with the forward passes), step 0 scored before timing."""
    evaluator = metrics.CurveEvaluator(
        model, image[None], None, pixels_per_step=pixels_per_step, steps=steps, seed=0, replacement="road"
    )
    evaluator.unperturbed_logits()
    return seconds(evaluator.curves, 1, relevance, "morf")[0]


def curve_costs(images: np.ndarray, repeats: int) -> dict:
    model = get_model("efficientnet_lite0")
    if tuple(np.broadcast_to(model.input_size, 2)) != (SIZE, SIZE):
        raise SystemExit(f"efficientnet_lite0 takes {model.input_size}px images; this benchmark assumes {SIZE}")
    for n in sorted({1, STEPS % 32, ROAD_PROTOCOL_STEPS}):  # tracing, for every batch shape timed below
        model.logits(np.repeat(images[:1], n, axis=0), batch_size=32)
    protocol_k = pixels_per_step_for(SIZE, ROAD_PROTOCOL_STEPS, ROAD_PROTOCOL_COVERAGE)
    per_image = []
    for i, image in enumerate(images):
        row: dict = {"image": i}
        for kind, make in (("smooth", smooth_map), ("noisy", noisy_map)):
            relevance = make(np.random.default_rng(100 + i))[None]
            evaluator = metrics.CurveEvaluator(model, image[None], None, pixels_per_step=PIXELS_PER_STEP, steps=STEPS, seed=0)
            evaluator.unperturbed_logits()
            colour_s, _ = seconds(evaluator.curves, repeats, relevance, "morf")
            road_s = road_curve_s(model, image, relevance, STEPS, PIXELS_PER_STEP)
            protocol_s = road_curve_s(model, image, relevance, ROAD_PROTOCOL_STEPS, protocol_k)
            row |= {
                f"{kind}_colour_curve_s": colour_s,
                f"{kind}_road_curve_s": road_s,
                f"{kind}_ratio": road_s / colour_s,
                f"{kind}_road_protocol_s": protocol_s,
                f"{kind}_protocol_ratio": protocol_s / colour_s,
            }
            if kind != "smooth":
                continue
            ranking = pixel_ranking(relevance[0], "morf", np.random.default_rng(0))
            curve = ImputationCurve(image, ranking, PIXELS_PER_STEP, STEPS, seed=(0, i))
            impute_s, road_images = seconds(curve.images, 1)
            threads_s, threaded = seconds(curve.images, 1, workers=2)
            assert np.array_equal(threaded, road_images)
            plain_curve = ImputationCurve(image, ranking, PIXELS_PER_STEP, STEPS, seed=(0, i), solver="spsolve")
            plain_impute_s, _ = seconds(plain_curve.images, 1)
            score_s, _ = seconds(model.logits, repeats, road_images, batch_size=32)
            row |= {
                "smooth_road_impute_s": impute_s,
                "smooth_road_impute_plain_s": plain_impute_s,
                "smooth_road_impute_2_threads_s": threads_s,
                "smooth_road_score_s": score_s,
                "smooth_road_in_line_s": impute_s + score_s,
            }
        per_image.append(row)
        print(json.dumps(row), flush=True)
    median = {k: float(np.median([r[k] for r in per_image])) for k in per_image[0] if k != "image"}
    return {
        "model": model.name,
        "steps": STEPS,
        "pixels_per_step": PIXELS_PER_STEP,
        "road_protocol": {"steps": ROAD_PROTOCOL_STEPS, "pixels_per_step": protocol_k},
        "per_image": per_image,
        "median": median,
    }


def protocol_verdicts(reference: str = "nips17-ci", points: int = ROAD_PROTOCOL_STEPS) -> dict:
    """ABPC of ROAD's protocol (``points`` removal fractions, 10 %..90 % for 9) against the
    100-step ABPC, both from the reference's stored 100-step ROAD curves (the step nearest each
    fraction): the ABPC claim's verdict (``evaluate_claims``), the ranking of the methods by
    mean ABPC, and every pairwise ``compare_paired`` verdict on the 4 ROAD ABPC metrics (each
    method against the others as ``bench check`` compares a method with its baselines; one
    Holm family per checked method)."""
    ref = load_reference(reference)
    curves, ids, methods = ref.curves(), ref.image_ids, ref.methods
    steps = curves[f"{methods[0]}.road:morf_logit"].shape[1] - 1
    k = ref.fingerprint["metrics_settings"]["pixels_per_step"]
    h, w = ref.fingerprint["model_input_size"]
    fractions = np.arange(1, points + 1) * ROAD_PROTOCOL_COVERAGE / points
    chosen = np.unique(np.minimum(np.round(fractions * h * w / k).astype(int), steps))
    names = [f"abpc_{agg}_{unit}_road" for agg in ("mean", "sum") for unit in ("logit", "prob_pct")]

    def values(at: np.ndarray) -> dict:
        cols = np.concatenate([[0], at])
        out = {}
        for m in methods:
            for unit, key, scale in (("logit", "logit", 1.0), ("prob_pct", "prob", 100.0)):
                lerf, morf = (curves[f"{m}.road:{o}_{key}"].astype(np.float64) * scale for o in ("lerf", "morf"))
                area = metrics.abpc(lerf[:, cols], morf[:, cols])
                out[m, f"abpc_mean_{unit}_road"], out[m, f"abpc_sum_{unit}_road"] = area.mean, area.sum
        return out

    def verdicts(vals: dict) -> dict:
        claim_rows = [
            {"image_id": im, "method": m, "metric": n, "value": v[j]} for (m, n), v in vals.items() for j, im in enumerate(ids)
        ]
        table = pd.concat([ref.metrics[~ref.metrics["metric"].isin(names)], pd.DataFrame(claim_rows)])
        claims = {c.claim: c.verdict for c in evaluate_claims(table, None, methods, replacement="road")}
        pairwise = {}
        for m in methods:
            pairs = [(b, n) for b in methods if b != m for n in names]
            found = metrics.compare_paired(
                [(vals[m, n], vals[b, n], metrics.PER_IMAGE_METRICS[n].higher_is_better) for b, n in pairs], 0.05, 2000, 0
            )
            pairwise |= {f"{m} vs {b}: {n}": c.verdict for (b, n), c in zip(pairs, found)}
        ranks = {n: sorted(methods, key=lambda m, n=n: -float(vals[m, n].mean())) for n in names[:2]}
        return {"claims": claims, "ranks": ranks, "pairwise": pairwise}

    full, protocol = verdicts(values(np.arange(1, steps + 1))), verdicts(values(chosen))
    differ = {key: [full["pairwise"][key], v] for key, v in protocol["pairwise"].items() if v != full["pairwise"][key]}
    return {
        "reference": ref.name,
        "images": len(ids),
        "protocol_steps": chosen.tolist(),
        "protocol_fractions": [round(float(t * k / (h * w)), 3) for t in chosen],
        "claims_equal": full["claims"] == protocol["claims"],
        "claims": {"100 steps": full["claims"], "protocol": protocol["claims"]},
        "ranks_equal": full["ranks"] == protocol["ranks"],
        "ranks": {"100 steps": full["ranks"], "protocol": protocol["ranks"]},
        "pairwise_compared": len(full["pairwise"]),
        "pairwise_differ": differ,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--images", type=int, default=2, help="images for the curve costs (the solve table uses the first)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-model", action="store_true", help="skip the curve costs (no TensorFlow)")
    parser.add_argument("--protocol", action="store_true", help="only ROAD's protocol vs 100 steps on nips17-ci's curves")
    args = parser.parse_args()

    if args.protocol:
        result = protocol_verdicts()
        print(json.dumps(result, indent=2))
        return
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
        m = result["curves"]["median"]
        print(f"\none MoRF curve, median of {len(ids)} images (seconds; ratio to the random-colour curve):")
        for kind in ("smooth", "noisy"):
            print(
                f"  {kind} map: random colour {STEPS} steps {m[f'{kind}_colour_curve_s']:.2f}; ROAD {STEPS} steps "
                f"{m[f'{kind}_road_curve_s']:.2f} ({m[f'{kind}_ratio']:.2f}x); ROAD protocol {ROAD_PROTOCOL_STEPS} steps "
                f"{m[f'{kind}_road_protocol_s']:.2f} ({m[f'{kind}_protocol_ratio']:.2f}x)"
            )
        print(
            f"  smooth map, ROAD {STEPS} steps in line: impute {m['smooth_road_impute_s']:.2f} [plain spsolve "
            f"{m['smooth_road_impute_plain_s']:.2f}; 2 threads {m['smooth_road_impute_2_threads_s']:.2f}] + score "
            f"{m['smooth_road_score_s']:.2f} = {m['smooth_road_in_line_s']:.2f}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
