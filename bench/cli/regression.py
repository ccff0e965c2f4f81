"""The regression commands: ``export``, ``reference``, ``check``."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from bench.cli._arguments import add_executor_args, executor_settings
from methods import method_name


def register(sub) -> None:
    _export_parser(sub)
    _reference_parser(sub)
    _check_parser(sub)


def _export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="dashboard files (github-action-benchmark, Bencher) from a run, reference or check folder",
        description="Write OUT/github-action-benchmark-bigger.json and -smaller.json (github-action-benchmark's custom "
        "formats, each metric by its declared direction) and OUT/bencher.json (Bencher Metric Format): the mean over "
        "images of every per-image metric of every method (of a check: the checked method), with its 95% bootstrap CI.",
    )
    p.add_argument("folder", help="a RUN_DIR, a reference folder or a bench check --out folder")
    p.add_argument("--out", required=True, help="folder for the three JSON files")
    p.set_defaults(func=_export)


def _export(args) -> int:
    from bench.regression.export import export_folder  # noqa: PLC0415 - heavy: pandas, matplotlib

    paths = export_folder(args.folder, args.out)
    print("dashboard files: " + ", ".join(str(p) for p in paths))
    return 0


def _reference_parser(sub) -> None:
    p = sub.add_parser(
        "reference",
        help="freeze a finished run into a compact reference for bench check",
        description="Write DIR/reference.json (fingerprint: model and weights sha256, image ids and pixel sha256, "
        "targets, seed, method and metric settings, versions), DIR/metrics.csv (exact per-image values) and "
        "DIR/curves.npz from the finished run in RUN_DIR.",
    )
    p.add_argument("run_dir", help="the RUN_DIR of a finished run")
    p.add_argument("--out", required=True, help="the reference folder (an existing reference there is replaced)")
    p.add_argument("--name", help="the reference's name (default: the folder's name)")
    p.set_defaults(func=_reference)


def _reference(args) -> int:
    from bench.regression.references import freeze_run  # noqa: PLC0415 - heavy: pandas, matplotlib

    command = f"python -m bench reference {args.run_dir} --out {args.out}" + (f" --name {args.name}" if args.name else "")
    ref = freeze_run(args.run_dir, args.out, name=args.name, command=command)
    size = sum(p.stat().st_size for p in ref.path.iterdir())
    test, tested = ref.sanity, ""
    if test is not None:
        tested = (
            f", with the randomisation test of {len(test['methods'])} methods x {len(test['fingerprint']['image_ids'])} images"
        )
    print(
        f"reference {ref.name!r}: {len(ref.methods)} methods x {len(ref.image_ids)} images{tested}, "
        f"{size / 1024:.0f} KiB in {ref.path}"
    )
    return 0


def _check_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="score one method against a stored reference's baselines (and its previous check)",
        description="Run METHOD alone on a reference's images with the reference's model and settings and compare it, "
        "paired per image, with every baseline stored there: mean difference, 95% bootstrap CI, Holm-corrected "
        "Wilcoxon p-value and a verdict per metric, and its rank. With --against, compare it with an earlier check "
        "and exit 1 when a metric got significantly worse by more than its tolerance. Writes OUT/check.json, "
        "OUT/check.md, OUT/figures/check.png and OUT/run/.",
    )
    p.add_argument("method", help="a registered method name, an entry-point plug-in, or module:Class importable from here")
    p.add_argument(
        "--reference",
        help="a shipped reference (nips17-ci, embedded-ci) or a reference folder (default: the shipped one whose images "
        "are in the data folder)",
    )
    p.add_argument("--data-dir", help="image set folder (default: data/nips17 if fetched, else the embedded default)")
    p.add_argument("--against", metavar="DIR", help="an earlier bench check --out folder: regression mode")
    p.add_argument(
        "--tolerance",
        action="append",
        metavar="METRIC=VALUE",
        help="how much worse than --against a metric may get, e.g. png_bytes=5%% or ssim=0.02 (defaults: 2%% of the "
        "previous mean; ssim 0.01)",
    )
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="a parameter of METHOD, e.g. steps=32")
    p.add_argument("--weights", help="local weights file, when the reference's model needs one")
    p.add_argument(
        "--replacement",
        type=lambda v: [r.strip() for r in v.split(",")],
        metavar="NAME[,NAME]",
        help="compare the curves of these pixel replacements only, e.g. random-colour (default: both the reference holds; "
        "ROAD's curves cost several times the random-colour ones)",
    )
    p.add_argument("--out", help="output folder (default: results/check-<method>-<timestamp>)")
    add_executor_args(p)
    p.set_defaults(func=_check)


def _check(args) -> int:
    from bench.regression.check import run_check  # noqa: PLC0415 - heavy: pandas, scipy, matplotlib

    if os.getcwd() not in sys.path and "" not in sys.path:  # module:Class importable from the current path
        sys.path.insert(0, os.getcwd())
    executor = executor_settings(args)
    out = args.out or f"results/check-{method_name(args.method)}-{datetime.now():%Y%m%d-%H%M%S}"
    result = run_check(
        args.method,
        out,
        reference=args.reference,
        data_dir=args.data_dir,
        params=args.param,
        against=args.against,
        tolerances=args.tolerance,
        weights=args.weights,
        replacements=args.replacement,
        **executor,
    )
    print(f"check: {out}/check.md, {out}/check.json")
    print((Path(out) / "check.md").read_text().split("\n", 1)[0])
    return 1 if result["status"] == "fail" else 0
