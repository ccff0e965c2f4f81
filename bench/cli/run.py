"""The benchmark commands: ``explain``, ``run``, ``report``."""

from __future__ import annotations

from bench.cli._arguments import (
    add_data_args,
    add_executor_args,
    add_model_args,
    executor_settings,
    message,
    positive_hours,
)
from bench.run.limits import DEFAULT_MAX_HOURS
from common.errors import InputError
from models import get_model


def register(sub) -> None:
    _explain_parser(sub)
    _run_parser(sub)
    _report_parser(sub)


def _explain_parser(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="saliency maps of chosen methods, with a PNG grid per image",
        description="Run saliency methods and write OUT/maps/<method>/<image_id>.npy (relevance, float32 HxW), "
        "OUT/attributions/<method>/<image_id>.npy (raw output), OUT/params.json and OUT/grids/<image_id>.png.",
    )
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--methods", required=True, help="comma-separated method names (docs: reference/methods.md; plug-ins too)")
    p.add_argument("--out", default="results/explain", help="output folder (default: results/explain)")
    p.add_argument("--profile", help="take method parameters from this profile (e.g. quick)")
    p.add_argument(
        "--param",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="override a method parameter, e.g. noise_mask.max_iterations=5000",
    )
    p.set_defaults(func=_explain)


def _explain(args) -> int:
    from bench.datasets import load_images  # noqa: PLC0415 - heavy: pandas; keeps --help fast
    from bench.run.explain import explain_to_folder  # noqa: PLC0415 - heavy: matplotlib
    from bench.run.profile import apply_overrides, empty_profile, load_profile  # noqa: PLC0415 - heavy: scipy, scikit-image

    model = get_model(args.model, weights=args.weights)
    images, _, description = load_images(args.data_dir, model.input_size, args.limit)
    base = load_profile(args.profile) if args.profile else empty_profile()
    params = apply_overrides(base, args.param)["methods"]
    out = explain_to_folder(model, images, args.methods.split(","), params, args.out)
    print(f"{len(images)} images from {description}; maps, attributions, params.json and grids in {out}")
    return 0


def _run_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the benchmark (every method and metric) into a run folder",
        description="Apply every method and metric of a profile to an image set and write RUN_DIR "
        "(run.json, metrics.csv, curves.csv, maps/, report.md, figures/). Re-running with the same "
        "--out resumes: finished (method, image) work is skipped; without --out, a rerun resumes the newest unfinished "
        "run folder of the profile with the same settings and images (the log names the folder first).",
    )
    p.add_argument("--profile", default="quick", help="smoke, quick (default), paper, or a path to a .toml profile")
    p.add_argument("--model", help="override the profile's model")
    p.add_argument("--weights", help="local weights file (e.g. Inception V3 .h5)")
    p.add_argument("--methods", help="comma-separated subset of methods")
    add_data_args(p)
    p.add_argument(
        "--out",
        help="RUN_DIR (default: the newest unfinished results/<profile>-<timestamp> of the same settings and images, "
        "resumed; else a new one)",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override a setting, e.g. noise_mask.max_iterations=5000 or metrics.steps=800",
    )
    p.add_argument(
        "--max-hours",
        type=positive_hours,
        default=DEFAULT_MAX_HOURS,
        metavar="HOURS",
        help=f"refuse a run estimated to take longer on this machine (default: {DEFAULT_MAX_HOURS:g})",
    )
    add_executor_args(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from bench.report.run_report import write_report  # noqa: PLC0415 - heavy: pandas, matplotlib
    from bench.run.profile import apply_overrides, load_profile  # noqa: PLC0415 - heavy: scipy, scikit-image
    from bench.run.runner import run_benchmark  # noqa: PLC0415 - heavy: pandas, scipy

    executor = executor_settings(args)
    profile = load_profile(args.profile)
    overrides = {"model": args.model, "images": args.limit, "methods": args.methods.split(",") if args.methods else None}
    profile = apply_overrides(profile, args.param, **overrides)
    run_dir = run_benchmark(profile, args.out, data_dir=args.data_dir, weights=args.weights, max_hours=args.max_hours, **executor)
    print(f"report: {write_report(run_dir)}")
    return 0


def _report_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild report.md and figures from a run folder",
        description="Rebuild metrics.csv, curves.csv, report.md and figures/ from the stored per-image records alone.",
    )
    p.add_argument("run_dir", help="the RUN_DIR of a run")
    p.add_argument(
        "--data-dir",
        help="where the run's images are now, if they moved (default: the data folder run.json names); only the map "
        "grid and the rendering search need them, and they are checked against run.json's sha256",
    )
    p.set_defaults(func=_report)


def _report(args) -> int:
    from bench.report.run_report import write_report  # noqa: PLC0415 - heavy: pandas, matplotlib

    try:
        path = write_report(args.run_dir, args.data_dir)
    except FileNotFoundError as err:
        raise InputError(message(err)) from None
    print(f"report rebuilt from stored results: {path}")
    return 0
