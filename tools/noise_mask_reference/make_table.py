"""Print the variant x passes table (markdown) from the stored GPU runs' results JSON
(torch-side metrics: objective gap on 32 fixed draws with the reference beta, blurred r
of sigma-2 masks (torch reflect padding) against reference seed 0).

With ``--json OUT`` it also writes the per-(variant, passes) means and extremes that the
run report plots (committed as ``bench/report/noise_mask_convergence.json``). There the
faithful trajectory's r is taken against the independent seed-1 reference (its own seed's
final mask shares its noise path, which inflates r), from ``--analysis``.

Run from the repository root (numpy only; the inputs are git-ignored GPU outputs, see README.md):

    python tools/noise_mask_reference/make_table.py .device/noise_mask_reference/results_run*.json \
        [--json bench/report/noise_mask_convergence.json --analysis .device/gpu_run1_analysis.json]
"""

import argparse
import json
from collections import defaultdict

import numpy as np

FAITHFUL = "faithful (lr 0.015, const)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "results",
        nargs="+",
        help="results.json files of torch_noise_mask.py runs (one of them the run that made the reference); "
        "table rows and JSON variants follow their order",
    )
    ap.add_argument("--json", help="also write the summary the run report plots")
    ap.add_argument("--analysis", help="analyse_gpu_run.py's JSON: the faithful trajectory's r against reference seed 1")
    args = ap.parse_args(argv)

    rows, configs, ref, device = read_results(args.results)
    if args.analysis:  # r of the seed-0 trajectory against the other seed's reference
        add_seed1_r(rows, args.analysis)
    if ref is None:
        ap.error("none of the results files holds a reference (the run made without --ref-from)")
    print_table(rows, ref)
    if args.json:
        write_summary(args.json, rows, configs, ref, device)


def read_results(paths):
    """(rows: variant -> passes -> (gap, r vs seed 0, r vs seed 1 or None), configs, reference, device)."""
    rows = defaultdict(dict)
    configs = {}
    ref = device = None
    for path in paths:
        with open(path) as fh:
            d = json.load(fh)
        if "reference" in d:
            ref, device = d["reference"], d.get("device")
            configs[FAITHFUL] = {"lr": 0.015, "sched": "const"}
            for row in d["faithful_ckpt"]:
                rows[FAITHFUL][row["passes"]] = (row["gap_s0"], row["r_s0"], None)
        for name, v in d["variants"].items():
            configs[name] = v["config"]
            for run in v["runs"]:
                rows[name][run["passes"]] = (run["gap"], run["r"], None)
    return rows, configs, ref, device


def add_seed1_r(rows, analysis_path) -> None:
    """The faithful rows' r against reference seed 1, from analyse_gpu_run.py's JSON."""
    with open(analysis_path) as fh:
        analysis = json.load(fh)
    for row in analysis["rows"]:
        if row["variant"] == "faithful":
            g, r0, _ = rows[FAITHFUL][row["passes"]]
            rows[FAITHFUL][row["passes"]] = (g, r0, row["r_s1"])


def print_table(rows, ref) -> None:
    n = len(ref["objective"]) // 2
    cg, cr = np.array(ref["ceiling_gap"]), np.array(ref["ceiling_blurred_r"])
    print(
        f"seed-to-seed ceiling (seed 1 vs seed 0, {n} images): gap mean {cg.mean():+.1%} "
        f"(|gap| mean {np.abs(cg).mean():.1%}, max |gap| {np.abs(cg).max():.1%}, "
        f"{np.mean(np.abs(cg) < 0.02):.0%} of images within 2%); blurred r mean {cr.mean():.3f} "
        f"(min {cr.min():.3f}); raw r {np.mean(ref['ceiling_raw_r']):.3f}\n"
    )
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
    print(
        "\ncells: mean objective gap / mean blurred r (vs reference seed 0). The faithful row is the seed-0 "
        "trajectory itself, so its r is inflated by the shared noise path; against the independent seed-1 "
        "reference see analyse_gpu_run.py (3200: 0.70, 6400: 0.85, 12800: 0.91)."
    )


def write_summary(out, rows, configs, ref, device) -> None:
    """The per-(variant, passes) means and extremes the run report plots."""
    n = len(ref["objective"]) // 2
    cg, cr = np.array(ref["ceiling_gap"]), np.array(ref["ceiling_blurred_r"])
    variants = []
    for name, r in rows.items():
        cfg = configs[name]
        points = []
        for p in sorted(r):
            g, r0, r1 = (np.asarray(a) if a is not None else None for a in r[p])
            rr = r1 if r1 is not None else r0
            points.append(
                {
                    "passes": int(p),
                    "gap_mean": float(g.mean()),
                    "gap_max": float(g.max()),
                    "r_mean": float(rr.mean()),
                    "r_min": float(rr.min()),
                }
            )
        variants.append(
            {
                "name": name,
                "lr": cfg.get("lr"),
                "schedule": cfg.get("sched"),
                "full_resolution": not name.startswith("pyr"),
                "plain": set(cfg) <= {"lr", "sched"},
                "points": points,
            }
        )
    summary = {
        "what": "Noise Mask on EfficientNet-Lite0, 16 shared NIPS-2017 images: objective gap (32 fixed draws) and "
        "blurred r (sigma 2 px) against faithful runs continued to convergence; means over images",
        "source": "tools/noise_mask_reference (NOTES.md), PyTorch port of the suite's objective, " + str(device),
        "reference": {
            "converged": int(np.sum(ref["converged"])),
            "image_seeds": 2 * n,
            "median_iterations": float(np.median(ref["iterations"])),
        },
        "ceiling": {
            "gap_abs_mean": float(np.abs(cg).mean()),
            "gap_abs_max": float(np.abs(cg).max()),
            "r_mean": float(cr.mean()),
            "r_min": float(cr.min()),
        },
        "variants": variants,
    }
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
