"""Speed of the suite's models: forward and forward+backward images/s, plus weight loading.

Measured in one process, on the same images (batch 32 by default, 224x224):

* ``forward``: pre-softmax logits from pixels (preprocessing included), a ``tf.function``;
* ``gradient``: forward + backward, the gradient of each image's target logit (its top-1
  class) with respect to the input pixels, as gradient-based saliency methods need;
* for ``efficientnet_lite0`` (the offline default), and for
  ``keras.applications.MobileNetV2(weights=None)`` as a yardstick of a well-known
  Keras network of similar size;
* ``loading``: building ``efficientnet_lite0`` with an empty weight cache (reads and
  converts the PyTorch checkpoint) against a later build (reads the converted cache), in
  a temporary cache folder.

Each figure is the best of ``--repeats`` timed rounds after one warm-up call.

Usage: ``python benchmarks/bench_models.py [--batch-size 32] [--repeats 5] [--out FILE.json]``
Prints the JSON summary; ``--out`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.datasets import load_image_set, shared_sample_dir
from common.files import write_text
from models import efficientnet_lite as lite
from models import from_keras, get_model, scale_preprocess
from models.keras_api import keras

DATA = shared_sample_dir(Path(__file__).resolve().parents[1])


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up: tracing, allocation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def images_for(size: tuple[int, int], n: int, data: Path):
    if (data / "images.csv").is_file():
        pixels = load_image_set(data, size=size, limit=n).pixels
        if len(pixels) == n:
            return pixels, str(data)
    return np.random.default_rng(0).integers(0, 256, (n, *size, 3), dtype=np.uint8), "random uint8"


def measure(model, pixels: np.ndarray, repeats: int) -> dict:
    x = tf.constant(pixels, tf.float32)
    forward = tf.function(lambda x: model.forward(x))
    targets = tf.constant(forward(x).numpy().argmax(axis=1), tf.int32)

    @tf.function
    def gradient(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model.forward(x)
            picked = tf.gather(logits, targets, axis=1, batch_dims=1)
        return tape.gradient(picked, x)

    n = len(pixels)
    t_fwd = best_time(lambda: forward(x).numpy(), repeats)
    t_grad = best_time(lambda: gradient(x, targets).numpy(), repeats)
    params = int(sum(w.shape.num_elements() for w in model.keras_model.trainable_weights))
    return {
        "params": params,
        "input_size": list(model.input_size),
        "forward_images_per_s": round(n / t_fwd, 2),
        "gradient_images_per_s": round(n / t_grad, 2),
        "forward_s_per_batch": round(t_fwd, 4),
        "gradient_s_per_batch": round(t_grad, 4),
    }


def loading_times() -> dict:
    """Build efficientnet_lite0 with an empty cache, then twice more with the cache filled."""
    checkpoint = lite.locate_weights("efficientnet_lite0")
    old = os.environ.get("BENCH_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_CACHE_DIR"] = tmp
        try:
            out = {}
            start = time.perf_counter()
            _, cached = lite.load_keras_weights("efficientnet_lite0", checkpoint)
            out["weights_convert_s"] = round(time.perf_counter() - start, 3)
            assert not cached
            start = time.perf_counter()
            _, cached = lite.load_keras_weights("efficientnet_lite0", checkpoint)
            out["weights_from_cache_s"] = round(time.perf_counter() - start, 3)
            assert cached
            for f in Path(tmp).iterdir():
                f.unlink()
            start = time.perf_counter()
            lite.build_efficientnet_lite0()
            out["build_first_s"] = round(time.perf_counter() - start, 3)
            start = time.perf_counter()
            lite.build_efficientnet_lite0()
            out["build_cached_s"] = round(time.perf_counter() - start, 3)
            start = time.perf_counter()
            lite.file_sha256(checkpoint)
            out["checkpoint_sha256_s"] = round(time.perf_counter() - start, 3)
            return out
        finally:
            if old is None:
                os.environ.pop("BENCH_CACHE_DIR", None)
            else:
                os.environ["BENCH_CACHE_DIR"] = old


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)

    lite0 = get_model("efficientnet_lite0")
    pixels, source = images_for(lite0.input_size, args.batch_size, args.data)
    mobilenet = from_keras(
        keras.applications.MobileNetV2(input_shape=(*lite0.input_size, 3), weights=None, classifier_activation=None),
        scale_preprocess(1 / 127.5, -1.0),
        name="mobilenet_v2",
        preprocessing="x / 127.5 - 1",
        weights="random init",
    )
    summary = {
        "benchmark": "bench_models",
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "images": source,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "tensorflow": tf.__version__,
        },
        "models": {
            "efficientnet_lite0": measure(lite0, pixels, args.repeats),
            "mobilenet_v2 (yardstick, weights=None)": measure(mobilenet, pixels, args.repeats),
        },
        "efficientnet_lite0_loading": loading_times(),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
    return summary


if __name__ == "__main__":
    main()
