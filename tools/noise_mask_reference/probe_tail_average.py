"""Probe (CPU, suite TF code): constant-lr Adam with tail averaging of M (the mean of M over
[c/2, c) at each checkpoint c) against the converged reference; see NOTES.md.

Run from the repository root with the project installed (``pip install -e .``):

    python tools/noise_mask_reference/probe_tail_average.py 0.06,0.15,0.4 4 1600 out.json

Inputs (git-ignored, made on the GPU machine, see README.md): ``--reference`` (the
torch reference's ``ref.npz``) and ``--pixels`` (``images16.npz``, the 16 reference images).
"""

import argparse
import json
import time

import numpy as np
import tensorflow as tf

from methods.noise_mask import NoiseSource
from metrics import blurred_r
from models import get_model

CHECKPOINTS = [50, 100, 200, 400, 800, 1600, 3200, 6400]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lrs", help="comma-separated learning rates, run side by side as one batch (e.g. 0.06,0.15,0.4)")
    ap.add_argument("images", type=int, help="how many of the reference images (the first N)")
    ap.add_argument("steps", type=int, help=f"Adam steps (checkpoints at {', '.join(map(str, CHECKPOINTS))})")
    ap.add_argument("out", help="JSON file for the per-checkpoint rows (rewritten at every checkpoint)")
    ap.add_argument(
        "--reference",
        default=".device/noise_mask_reference/ref.npz",
        help="torch_noise_mask.py's ref.npz (default: %(default)s, relative to the repo root)",
    )
    ap.add_argument(
        "--pixels", default=".device/images16.npz", help="the 16 reference images as uint8 pixels (default: %(default)s)"
    )
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    lrs = [float(x) for x in args.lrs.split(",")]
    nimg, max_steps, out = args.images, args.steps, args.out
    ref = np.load(args.reference)
    imgs = np.load(args.pixels)
    sel = np.arange(nimg)
    n_ref = len(ref["v"]) // 2  # rows 0..n-1 = seed 0, n..2n-1 = seed 1
    ref_m = 1 / (1 + np.exp(-ref["v"].astype(np.float64)))
    ref0, ref1 = ref_m[sel], ref_m[n_ref + sel]
    beta_img = ref["beta"][sel]
    model = get_model("efficientnet_lite0")
    x_img = imgs["pixels"][sel].astype(np.float32)
    n_lrs = len(lrs)
    x = np.concatenate([x_img] * n_lrs)
    beta = np.concatenate([beta_img] * n_lrs).astype(np.float32)
    lr = np.repeat(np.array(lrs, np.float32), nimg)[:, None, None, None]
    n = len(x)
    feature = tf.function(lambda p: model.forward(p))
    x_t = tf.constant(x)
    f_x = feature(x_t)
    noise = NoiseSource(x, 0)
    # make per-config noise independent: keys differ by adding config index
    noise.keys = [k + (i // nimg) * 7919 for i, k in enumerate(noise.keys)]
    v = tf.Variable(tf.fill((n, 224, 224, 1), float(np.log(0.95 / 0.05))))
    mom = tf.Variable(tf.zeros_like(v))
    vel = tf.Variable(tf.zeros_like(v))
    lr_t = tf.constant(lr)
    beta_t = tf.constant(beta)
    avg = tf.Variable(tf.zeros_like(v))

    @tf.function
    def step(it):
        u = noise.draw(0, it)
        with tf.GradientTape() as tape:
            m = tf.sigmoid(v)
            f_hat = feature(u + (x_t - u) * m)
            obj = tf.reduce_mean(m, axis=[1, 2, 3]) + beta_t * tf.reduce_mean(tf.square(f_x - f_hat), axis=1)
            tot = tf.reduce_sum(obj)
        g = tape.gradient(tot, v)
        t = tf.cast(it + 1, tf.float32)
        mom.assign(0.9 * mom + 0.1 * g)
        vel.assign(0.999 * vel + 0.001 * g * g)
        a = lr_t * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        v.assign_sub(a * mom / (tf.sqrt(vel) + 1e-8))
        avg.assign_add(tf.sigmoid(v))
        return obj

    # evaluation on 32 fixed draws (suite noise, keyed by the image content only)
    ev_noise = NoiseSource(x_img, 0)
    ev_x = tf.constant(x_img)
    ev_f = feature(ev_x)

    def objective(masks):  # masks (nimg,224,224)
        m = tf.constant(masks[..., None].astype(np.float32))
        ls = []
        for d in range(32):
            u = ev_noise.draw(2, d)
            ls.append(tf.reduce_mean(tf.square(ev_f - feature(u + (ev_x - u) * m)), axis=1).numpy())
        return masks.mean(axis=(1, 2)) + beta_img * np.mean(ls, axis=0)

    def mean_r(masks, refs):
        return float(np.mean([blurred_r(a, b) for a, b in zip(masks, refs)]))

    obj_ref0 = objective(ref0)
    obj_ref1 = objective(ref1)
    print("ref0 obj", obj_ref0.mean(), "ref1 gap", np.mean(obj_ref1 / obj_ref0 - 1), "ceiling r", mean_r(ref1, ref0), flush=True)
    res = []
    last = 0
    t0 = time.time()
    for it in range(max_steps):
        step(tf.constant(it, tf.int64))
        if it + 1 in CHECKPOINTS:
            c = it + 1
            mraw = tf.sigmoid(v).numpy()[..., 0]
            mavg = (avg.numpy() / (c - last))[..., 0]
            avg.assign(tf.zeros_like(avg))
            last = c
            for li, lr_i in enumerate(lrs):
                s = slice(li * nimg, (li + 1) * nimg)
                for kind, mk in (("raw", mraw[s]), ("tailavg", mavg[s])):
                    o = objective(mk)
                    row = dict(
                        lr=lr_i,
                        passes=c,
                        kind=kind,
                        gap=float(np.mean(o / obj_ref0 - 1)),
                        r=mean_r(mk, ref0),
                        r1=mean_r(mk, ref1),
                        pres=float(mk.mean()),
                    )
                    res.append(row)
                    print(row, f"{time.time() - t0:.0f}s", flush=True)
            with open(out, "w") as fh:
                json.dump(res, fh)


if __name__ == "__main__":
    main()
