"""Offline analysis of a torch_noise_mask.py run directory (CPU, numpy + scipy):
blurred r (scipy gaussian_filter sigma 2, mode 'reflect') of every stored mask against
reference seed 0, seed 1 and the mean of both, plus the objective gaps from results.json.

RUN_DIR is the output directory of ``torch_noise_mask.py run`` (results.json, ref.npz,
faithful_ckpt.npz, variant_masks_*.npz). Run from the repository root:

    python tools/noise_mask_reference/analyse_gpu_run.py RUN_DIR [--json OUT.json]
"""

import argparse
import glob
import json
import os

import numpy as np
from scipy.ndimage import gaussian_filter


def blur(m):
    return np.stack([gaussian_filter(x.astype(np.float64), 2.0) for x in m])


def r(a, b):
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a torch_noise_mask.py run directory")
    ap.add_argument("--json", help="write the per-(variant, passes) r values here (make_table.py --analysis reads it)")
    a = ap.parse_args()
    res = json.load(open(os.path.join(a.run, "results.json")))
    ref = np.load(os.path.join(a.run, "ref.npz"))
    n = res["images"]
    m = ref["mask"].astype(np.float32)
    b0, b1 = blur(m[:n]), blur(m[n:])
    bm = blur((m[:n] + m[n:]) / 2)
    out = {"ceiling": {"r_s0_s1": r(b0, b1).tolist(), "gap_s1": res["reference"]["ceiling_gap"]}, "rows": []}
    ceiling_gap = res["reference"]["ceiling_gap"]
    print(
        f"ceiling: blurred r s0-s1 mean {np.mean(r(b0, b1)):.4f} min {np.min(r(b0, b1)):.4f}; "
        f"gap s1 vs s0 mean {np.mean(ceiling_gap):+.4f}, mean |gap| {np.mean(np.abs(ceiling_gap)):.4f}"
    )
    print(f"  s0 vs mean(s0,s1): {np.mean(r(b0, bm)):.4f}")
    ck = np.load(os.path.join(a.run, "faithful_ckpt.npz"))
    gaps = {row["passes"]: row["gap_s0"] for row in res["faithful_ckpt"]}
    rows = [("faithful", p, ck[f"step{p}"], gaps[p]) for p in sorted(gaps)]
    masks = {}
    for f in sorted(glob.glob(os.path.join(a.run, "variant_masks_*.npz"))):
        z = np.load(f)
        masks.update({k: z[k] for k in z.files})
    for name, v in res["variants"].items():
        for run in v["runs"]:
            key = f"{name}@{run['passes']}"
            rows.append((name, run["passes"], masks.get(key), run["gap"]))
    print(f"{'variant':>22} {'passes':>6} {'gap':>8} {'|gap|<2%':>8} {'r_s0':>6} {'r_s1':>6} {'r_mean':>6}  (torch r_s0 in json)")
    for name, p, mk, gap in rows:
        if mk is None:
            continue
        bb = blur(mk.astype(np.float32) / 255)
        r0, r1, rm = r(bb, b0), r(bb, b1), r(bb, bm)
        out["rows"].append(
            {"variant": name, "passes": p, "gap": gap, "r_s0": r0.tolist(), "r_s1": r1.tolist(), "r_mean": rm.tolist()}
        )
        print(
            f"{name:>22} {p:>6} {np.mean(gap):+8.4f} {np.mean(np.abs(gap) < 0.02):8.2f} "
            f"{r0.mean():6.3f} {r1.mean():6.3f} {rm.mean():6.3f}"
        )
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
