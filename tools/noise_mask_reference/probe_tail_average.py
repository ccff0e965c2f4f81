"""Probe (CPU, suite TF code): constant-lr Adam with tail averaging of M (the mean of M over
[c/2, c) at each checkpoint c) against the converged reference; see NOTES.md.

    python tools/noise_mask_reference/probe_tail_average.py 0.06,0.15,0.4 4 1600 out.json
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from models import get_model
from methods.noise_mask import NoiseSource
from metrics import blurred_r

lrs = [float(x) for x in sys.argv[1].split(",")]
nimg = int(sys.argv[2]); max_steps = int(sys.argv[3]); out = sys.argv[4]
ref = np.load(REPO / ".device" / "noise_mask_reference" / "ref.npz")
imgs = np.load(REPO / ".device" / "images16.npz")
sel = np.arange(nimg)
ref_m = 1 / (1 + np.exp(-ref["v"].astype(np.float64)))
ref0, ref1 = ref_m[sel], ref_m[16 + sel]
beta_img = ref["beta"][sel]
model = get_model("efficientnet_lite0")
x_img = imgs["pixels"][sel].astype(np.float32)
L = len(lrs)
x = np.concatenate([x_img] * L); beta = np.concatenate([beta_img] * L).astype(np.float32)
lr = np.repeat(np.array(lrs, np.float32), nimg)[:, None, None, None]
n = len(x)
feature = tf.function(lambda p: model.forward(p))
x_t = tf.constant(x); f_x = feature(x_t)
noise = NoiseSource(x, 0)
# make per-config noise independent: keys differ by adding config index
noise.keys = [k + (i // nimg) * 7919 for i, k in enumerate(noise.keys)]
v = tf.Variable(tf.fill((n, 224, 224, 1), float(np.log(0.95 / 0.05))))
mom = tf.Variable(tf.zeros_like(v)); vel = tf.Variable(tf.zeros_like(v))
lr_t = tf.constant(lr); beta_t = tf.constant(beta)
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
    mom.assign(0.9 * mom + 0.1 * g); vel.assign(0.999 * vel + 0.001 * g * g)
    a = lr_t * tf.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    v.assign_sub(a * mom / (tf.sqrt(vel) + 1e-8))
    avg.assign_add(tf.sigmoid(v))
    return obj
# evaluation on 32 fixed draws (suite noise, keyed by the image content only)
ev_noise = NoiseSource(x_img, 0)
ev_x = tf.constant(x_img); ev_f = feature(ev_x)
def objective(masks):  # masks (nimg,224,224)
    m = tf.constant(masks[..., None].astype(np.float32)); ls = []
    for d in range(32):
        u = ev_noise.draw(2, d)
        ls.append(tf.reduce_mean(tf.square(ev_f - feature(u + (ev_x - u) * m)), axis=1).numpy())
    return masks.mean(axis=(1, 2)) + beta_img * np.mean(ls, axis=0)
def mean_r(masks, refs): return float(np.mean([blurred_r(a, b) for a, b in zip(masks, refs)]))
obj_ref0 = objective(ref0); obj_ref1 = objective(ref1)
print("ref0 obj", obj_ref0.mean(), "ref1 gap", np.mean(obj_ref1 / obj_ref0 - 1), "ceiling r", mean_r(ref1, ref0), flush=True)
checkpoints = [50, 100, 200, 400, 800, 1600, 3200, 6400]
res = []
last = 0; t0 = time.time()
for it in range(max_steps):
    step(tf.constant(it, tf.int64))
    if it + 1 in checkpoints:
        c = it + 1
        mraw = tf.sigmoid(v).numpy()[..., 0]
        mavg = (avg.numpy() / (c - last))[..., 0]
        avg.assign(tf.zeros_like(avg)); last = c
        for li, l in enumerate(lrs):
            s = slice(li * nimg, (li + 1) * nimg)
            for kind, mk in (("raw", mraw[s]), ("tailavg", mavg[s])):
                o = objective(mk)
                row = dict(lr=l, passes=c, kind=kind, gap=float(np.mean(o / obj_ref0 - 1)),
                           r=mean_r(mk, ref0), r1=mean_r(mk, ref1),
                           pres=float(mk.mean()))
                res.append(row); print(row, f"{time.time()-t0:.0f}s", flush=True)
        json.dump(res, open(out, "w"))
