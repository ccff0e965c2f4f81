"""Verdicts at the speed of the model: each costly part of a run as a ratio to the model's own passes.

All figures come from one process, on EfficientNet-Lite0 and the same images, so the ratios hold
when the machine's speed drifts (absolute seconds on shared machines do not):

* ``raw forward``: seconds per image of ``model.logits`` at batch sizes 4-64, the best of them
  (the best batch size on 2 cores moves from run to run, so each is timed ``--repeats`` times
  and the minimum kept);
* ``occlusion / raw``: occlusion's explain (the method's defaults: a 15x15 patch every 4 pixels)
  against the same number of raw forward passes at the best batch size;
* ``Noise Mask iteration / raw forward+backward``: optimisation steps of a batch of images (the
  difference of a run of I and of 3I iterations, so without a call's fixed costs, which are
  printed apart) against a compiled gradient of the same batch (the model's passes alone);
* ``ROAD / random colour``: one MoRF curve per image under ROAD's imputation (the default
  setting, ROAD's own 9 fractions, and the 100-step curve) against the 100-step random-colour
  curve, each also against its raw forward passes;
* ``check / raw`` (``--check``, needs the shared NIPS-2017 sample): ``bench check sensitivity``
  against the shipped ``nips17-ci`` reference, both replacements, against 12,928 raw forward
  passes (32 images x 4 curves x 101 steps, the passes of a check when ROAD's curves had 100
  steps) and against the passes its curves make now; ``--check-also FOLDER`` times a check against
  another reference in the same process (e.g. a copy of the reference before ROAD's own grid).

Measured (issue 32; 4 shared-sample images, 2 quiet cores, raw forward 7.5 ms per image at batch
64): occlusion 1.05x its raw passes; a Noise Mask iteration 0.91x a raw forward+backward of the
same batch (plus 6.1 s of fixed cost per call); one MoRF curve under ROAD's 9 fractions 0.73x the
100-step random-colour curve (100 ROAD steps: 6.65x); ``bench check sensitivity`` against
nips17-ci, both replacements, 94 s = 0.97x of 12,928 raw forward passes.

Usage: ``python benchmarks/bench_speed.py --out results/benchmarks/bench_speed.json [--images 4]
[--check] [--check-also FOLDER]``; ``tox -e bench`` runs it with the other benchmarks.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import metrics
from bench.datasets import embedded_image_set_dir, load_image_set, shared_sample_dir
from bench.run.profile import curve_grid, with_explicit_road_grid
from common.files import write_json
from methods import build_method
from metrics.perturbation import ROAD_PROTOCOL_COVERAGE, ROAD_PROTOCOL_STEPS
from models import get_model

DATA = shared_sample_dir(Path(__file__).resolve().parents[1])
BATCH_SIZES = (4, 8, 16, 32, 64)
CHECK_REFERENCE = "nips17-ci"


def best_of(call, repeats: int) -> float:
    """The smallest of ``repeats`` timings of ``call()`` (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return min(times)


def raw_forward(model, images: np.ndarray, repeats: int) -> tuple[float, int, dict[int, float]]:
    """(seconds per image at the best batch size, that batch size, seconds per image per batch size)."""
    per_batch = {}
    for bs in BATCH_SIZES:
        x = np.resize(images, (max(bs, 64), *images.shape[1:]))
        per_batch[bs] = best_of(lambda x=x, bs=bs: model.logits(x, batch_size=bs), repeats) / len(x)
    best = min(per_batch, key=per_batch.get)
    return per_batch[best], best, per_batch


def raw_gradient(model, images: np.ndarray, repeats: int) -> float:
    """Seconds per call of a compiled gradient of the target logits w.r.t. the pixels of ``images`` (one batch)."""
    import tensorflow as tf  # noqa: PLC0415 - the benchmark's other parts need none

    x = tf.constant(images.astype(np.float32))

    @tf.function
    def gradient(x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(model.forward(x)[:, 0])
        return tape.gradient(total, x)

    return best_of(lambda: gradient(x).numpy(), repeats)


def timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--images", type=int, default=4, help="images for every part (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per raw figure, the minimum kept (default 3)")
    parser.add_argument("--noise-mask-iterations", type=int, default=100, help="I: runs of I and 3I iterations (default 100)")
    parser.add_argument(
        "--parts", default="occlusion,noise_mask,curves", help="which of occlusion,noise_mask,curves to time ('' for none)"
    )
    parser.add_argument("--check", action="store_true", help="also time bench check sensitivity against nips17-ci")
    parser.add_argument(
        "--check-also",
        action="append",
        metavar="REFERENCE",
        help="also time the check against this reference folder (e.g. an older copy)",
    )
    args = parser.parse_args()

    model = get_model("efficientnet_lite0")
    data = DATA if DATA.is_dir() else embedded_image_set_dir()
    images = load_image_set(data, size=model.input_size, limit=args.images)
    pixels, n = images.pixels, len(images)
    targets = model.top1(pixels)
    rows: list[dict] = []

    def row(part: str, seconds: float, raw_seconds: float, raw: str) -> None:
        rows.append({"part": part, "seconds": seconds, "raw_seconds": raw_seconds, "ratio": seconds / raw_seconds, "raw": raw})
        print(f"{part:<44} {seconds:9.2f} s   {raw:<36} {raw_seconds:9.2f} s   {seconds / raw_seconds:6.2f}x", flush=True)

    forward, best_batch, per_batch = raw_forward(model, pixels, args.repeats)
    print(
        f"raw forward: {1e3 * forward:.1f} ms per image at batch {best_batch} "
        f"({', '.join(f'{b}: {1e3 * s:.1f}' for b, s in per_batch.items())} ms)",
        flush=True,
    )

    parts = set(args.parts.split(",")) if args.parts else set()
    if "occlusion" in parts:
        time_occlusion(model, pixels, targets, forward, row)
    if "noise_mask" in parts:
        time_noise_mask(model, pixels, targets, args, row)
    if "curves" in parts:
        time_curves(model, pixels, targets, forward, row)
    for reference in ([CHECK_REFERENCE] if args.check else []) + (args.check_also or []):
        time_check(reference, forward, row)

    write_json(
        Path(args.out),
        {
            "machine": platform.platform(),
            "images": n,
            "data": str(data),
            "raw_forward_s_per_image": forward,
            "best_batch_size": best_batch,
            "forward_s_per_image_by_batch": per_batch,
            "rows": rows,
        },
    )


def time_occlusion(model, pixels, targets, forward, row) -> None:
    """Occlusion's explain (its defaults) against as many raw forward passes as it has patches."""
    n = len(pixels)
    occlusion = build_method("occlusion", {})
    patches = len(occlusion.positions(*model.input_size))
    occlusion.explain(model, pixels[:1], targets[:1])  # warm-up (tracing)
    row(
        "occlusion explain",
        timed(lambda: occlusion.explain(model, pixels, targets)),
        n * patches * forward,
        f"{n * patches} raw forward passes",
    )


def time_noise_mask(model, pixels, targets, args, row) -> None:
    """A run of I and of 3I iterations; their difference is 2I iterations without the fixed costs
    of a call (tracing the step, beta's and the final evaluation's forward passes)."""
    n, iterations = len(pixels), args.noise_mask_iterations
    step = raw_gradient(model, pixels, args.repeats)
    seconds = {}
    for count in (iterations, 3 * iterations):
        noise_mask = build_method("noise_mask", {"preset": "fast", "max_iterations": count, "window": count, "batch_size": n})
        seconds[count] = timed(lambda nm=noise_mask: nm.explain(model, pixels, targets))
    row(
        f"Noise Mask, {2 * iterations} iterations of {n} images",
        seconds[3 * iterations] - seconds[iterations],
        2 * iterations * step,
        f"{2 * iterations} raw forward+backward",
    )
    fixed = seconds[iterations] - (seconds[3 * iterations] - seconds[iterations]) / 2
    print(f"  Noise Mask's fixed cost per call (tracing, beta, final evaluation): {fixed:.1f} s", flush=True)


def time_curves(model, pixels, targets, forward, row) -> None:
    """One MoRF curve per image of a sensitivity map: random colour (100 steps), ROAD on its own 9
    fractions (the default) and on 100 steps; each against its raw passes and ROAD against colour."""
    n = len(pixels)
    relevance = build_method("sensitivity", {}).explain(model, pixels, targets).relevance
    h, w = model.input_size
    settings = {
        "random colour, 100 steps": ("random-colour", 100, metrics.pixels_per_step_for((h, w), 100)),
        f"ROAD, {ROAD_PROTOCOL_STEPS} fractions (the default)": (
            "road",
            ROAD_PROTOCOL_STEPS,
            metrics.pixels_per_step_for((h, w), ROAD_PROTOCOL_STEPS, ROAD_PROTOCOL_COVERAGE),
        ),
        "ROAD, 100 steps": ("road", 100, metrics.pixels_per_step_for((h, w), 100)),
    }
    curve_seconds = {}
    for name, (replacement, steps, pps) in settings.items():
        evaluator = metrics.CurveEvaluator(
            model, pixels, targets, pixels_per_step=pps, steps=steps, seed=0, replacement=replacement
        )
        evaluator.unperturbed_logits()
        curve_seconds[name] = timed(lambda ev=evaluator: ev.curves(relevance, "morf"))
        row(f"MoRF curve, {name}", curve_seconds[name], n * steps * forward, f"{n * steps} raw forward passes")
    colour = curve_seconds["random colour, 100 steps"]
    for name in list(settings)[1:]:
        row(f"{name} / random colour", curve_seconds[name], colour, "random colour, 100 steps")


def time_check(reference: str, forward: float, row) -> None:
    """``bench check sensitivity`` against ``reference`` (a name or a folder) on the shared sample."""
    from bench.regression.check import run_check  # noqa: PLC0415 - loads the reference machinery
    from bench.regression.references import load_reference  # noqa: PLC0415

    ref = load_reference(reference)
    ms = with_explicit_road_grid(ref.fingerprint["metrics_settings"])
    passes = len(ref.image_ids) * (1 + sum(2 * curve_grid(ms, r)[0] for r in ref.replacements))
    grids = ", ".join(f"{r} {curve_grid(ms, r)[0]} steps" for r in ref.replacements)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = timed(
            lambda: run_check("sensitivity", Path(tmp) / "check", reference=str(ref.path), data_dir=DATA, log=lambda _: None)
        )
    row(f"bench check sensitivity vs {ref.name} ({grids})", seconds, 12_928 * forward, "12,928 raw forward passes")
    row(f"  the same, vs its own curves' passes ({passes})", seconds, passes * forward, f"{passes} raw forward passes")


if __name__ == "__main__":
    main()
