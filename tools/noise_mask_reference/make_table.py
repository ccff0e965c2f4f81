"""Print the variant x passes table (markdown) from the stored GPU runs' results JSON
(torch-side metrics: objective gap on 32 fixed draws with the reference beta, blurred r
of sigma-2 masks (torch reflect padding) against reference seed 0).

    python tools/noise_mask_reference/make_table.py .device/noise_mask_reference/results_run*.json
"""
import json
import sys
from collections import defaultdict

import numpy as np

rows = defaultdict(dict)
ref = None
for path in sys.argv[1:]:
    d = json.load(open(path))
    if "reference" in d:
        ref = d["reference"]
        for row in d["faithful_ckpt"]:
            rows["faithful (lr 0.015, const)"][row["passes"]] = (row["gap_s0"], row["r_s0"], row["r_s1_vs_ref1"])
    for name, v in d["variants"].items():
        for run in v["runs"]:
            rows[name][run["passes"]] = (run["gap"], run["r"], None)
n = len(ref["objective"]) // 2
cg, cr = np.array(ref["ceiling_gap"]), np.array(ref["ceiling_blurred_r"])
print(f"seed-to-seed ceiling (seed 1 vs seed 0, {n} images): gap mean {cg.mean():+.1%} (|gap| mean {np.abs(cg).mean():.1%}, "
      f"max |gap| {np.abs(cg).max():.1%}, {np.mean(np.abs(cg) < 0.02):.0%} of images within 2%); blurred r mean {cr.mean():.3f} "
      f"(min {cr.min():.3f}); raw r {np.mean(ref['ceiling_raw_r']):.3f}\n")
passes = sorted({p for r in rows.values() for p in r})
print("| variant | " + " | ".join(str(p) for p in passes) + " |")
print("| --- | " + " | ".join("---" for _ in passes) + " |")
for name, r in rows.items():
    cells = []
    for p in passes:
        if p in r:
            g, rr, _ = r[p]
            cells.append(f"{np.mean(g):+.0%} / {np.mean(rr):.2f}")
        else:
            cells.append("")
    print(f"| {name} | " + " | ".join(cells) + " |")
print("\ncells: mean objective gap / mean blurred r (vs reference seed 0). The faithful row is the seed-0 "
      "trajectory itself, so its r is inflated by the shared noise path; against the independent seed-1 "
      "reference see analyse_gpu_run.py (3200: 0.70, 6400: 0.85, 12800: 0.91).")
