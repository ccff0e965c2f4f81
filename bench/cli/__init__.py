"""Command line: ``python -m bench <command>`` (also installed as ``noise-bench``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common.errors import InputError


def _fetch(args) -> int:
    from bench.datasets.fetch import FetchError, fetch_from_kaggle, import_image_set

    try:
        if args.source in ("kaggle", "kaggle-competition"):
            result = fetch_from_kaggle(args.data_dir, competition=args.source == "kaggle-competition", replace=args.replace)
        else:
            result = import_image_set(args.source, args.data_dir, replace=args.replace)
    except FetchError as err:
        print(f"fetch failed: {err}\nNothing was written to {args.data_dir}.", file=sys.stderr)
        return 1
    verb = {
        "verified": "verified (already present and intact; nothing written)",
        "imported": "imported",
        "replaced": "imported (replaced the previous copy)",
    }
    print(f"{result.images} images {verb[result.status]}: {result.data_dir}")
    return 0


def _models(args) -> int:
    from models import MODELS

    for spec in MODELS.values():
        print(f"{spec.name:20s} input {spec.input_size}x{spec.input_size}  preprocessing {spec.preprocessing}")
        print(f"{'':20s} {spec.description}")
        print(f"{'':20s} weights: {spec.weights_status()}")
    return 0


def positive_int(text: str) -> int:
    """argparse type for counts (images, batch size): an integer >= 1; argparse names the option in its error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _message(err: BaseException) -> str:
    return str(err.args[0]) if err.args else str(err)


def load_model(name: str, weights: str | None):
    from models import get_model

    return get_model(name, weights=weights)


def load_images(data_dir, size, limit):
    from bench.datasets import load_image_set, resolve_data_dir

    try:
        folder, description = resolve_data_dir(data_dir)
        return load_image_set(folder, size=size, limit=limit), description
    except (FileNotFoundError, KeyError, ValueError) as err:  # the data layer's own checks
        raise InputError(_message(err)) from None


def _predict(args) -> int:
    from bench.datasets.imagenet import class_name
    from bench.run.predict import accuracy, predict

    model = load_model(args.model, args.weights)
    images, description = load_images(args.data_dir, model.input_size, args.limit)
    predictions = predict(model, images, batch_size=args.batch_size)
    summary = {"model": model.name, "data": description, **accuracy(predictions)}
    if args.json:
        for p in predictions:
            print(json.dumps({"image_id": p.image_id, "top5": p.top5, "top5_logits": p.top5_logits, "label": p.label}))
        print(json.dumps({"summary": True, **summary}))
        return 0
    print(f"model {model.name} on {description}: {len(images)} images")
    for p in predictions:
        mark = "" if p.label < 0 else ("  ok" if p.top5[0] == p.label else f"  (label: {class_name(p.label)})")
        print(f"{p.image_id:20s} {class_name(p.top5[0]):28s} p={p.top1_prob:.3f}{mark}")
    fmt = lambda v: "n/a" if v is None else f"{v:.1%}"  # noqa: E731
    print(f"top-1 {fmt(summary['top1'])}  top-5 {fmt(summary['top5'])}  ({summary['labelled']} labelled images)")
    return 0


def _run(args) -> int:
    from datetime import datetime

    from bench.run.profile import apply_overrides, load_profile
    from bench.run.runner import run_benchmark

    executor = executor_settings(args)
    profile = load_profile(args.profile)
    overrides = {"model": args.model, "images": args.limit, "methods": args.methods.split(",") if args.methods else None}
    profile = apply_overrides(profile, args.param, **overrides)
    out = args.out or f"results/{profile['name']}-{datetime.now():%Y%m%d-%H%M%S}"
    from bench.report.run_report import write_report

    run_dir = run_benchmark(profile, out, data_dir=args.data_dir, weights=args.weights, **executor)
    print(f"report: {write_report(run_dir)}")
    return 0


def _report(args) -> int:
    from bench.report.run_report import write_report

    try:
        path = write_report(args.run_dir)
    except FileNotFoundError as err:
        raise InputError(_message(err)) from None
    print(f"report rebuilt from stored results: {path}")
    return 0


def _explain(args) -> int:
    from bench.run.explain import explain_to_folder
    from bench.run.profile import apply_overrides, load_profile

    model = load_model(args.model, args.weights)
    images, description = load_images(args.data_dir, model.input_size, args.limit)
    base = load_profile(args.profile) if args.profile else {"run": {}, "metrics": {}, "methods": {}}
    params = apply_overrides(base, args.param)["methods"]
    out = explain_to_folder(model, images, args.methods.split(","), params, args.out)
    print(f"{len(images)} images from {description}; maps, attributions, params.json and grids in {out}")
    return 0


def _export(args) -> int:
    from bench.regression.export import export_folder

    paths = export_folder(args.folder, args.out)
    print("dashboard files: " + ", ".join(str(p) for p in paths))
    return 0


def _reference(args) -> int:
    from bench.regression.references import freeze_run

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


def _check(args) -> int:
    from datetime import datetime

    from bench.regression.check import run_check
    from methods import method_name

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
        **executor,
    )
    print(f"check: {out}/check.md, {out}/check.json")
    print((Path(out) / "check.md").read_text().split("\n", 1)[0])
    return 1 if result["status"] == "fail" else 0


def _discover(args) -> int:
    from bench.studies.discovery.study import noise_mask_params, parse_layers, run_discovery

    models = [m for value in args.model for m in value.split(",") if m]
    weights = {}
    for item in args.weights or []:
        name, sep, path = item.partition("=")
        if not (sep and name and path):
            raise InputError(f"--weights {item!r}: expected MODEL=PATH (e.g. vgg16=~/vgg16.h5)")
        weights[name] = path
    run_discovery(
        models,
        args.out,
        data_dir=args.data_dir,
        image_ids=[i for i in args.images.split(",") if i] if args.images else None,
        layers=parse_layers(args.layers, models),
        params=noise_mask_params(args.param, args.preset),
        weights=weights,
        **executor_settings(args),
    )
    return 0


def _sanity(args) -> int:
    from bench.run.profile import apply_overrides
    from bench.studies.sanity.study import run_sanity

    sections = apply_overrides({"run": {}, "metrics": {}, "methods": {}}, args.param)
    if sections["metrics"]:
        raise InputError("--param metrics.KEY: sanity computes no metrics settings; use METHOD.KEY=VALUE")
    run_sanity(
        args.model,
        [m for m in args.methods.split(",") if m],
        args.out,
        data_dir=args.data_dir,
        limit=args.limit,
        params=sections["methods"],
        weights=args.weights,
        granularity=args.granularity,
        rule=args.rule,
        mode=args.mode,
        seed=args.seed,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Noise Mask saliency benchmark suite.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "fetch",
        help="download or import the NIPS-2017 development set",
        description="Download the NIPS-2017 development set from Kaggle, or import a local copy "
        "(a folder or zip with images/*.png and images.csv). Validates every file and writes a manifest.",
    )
    p.add_argument(
        "--source", default="kaggle", help="'kaggle' (dataset), 'kaggle-competition', or a local folder/zip (default: kaggle)"
    )
    p.add_argument("--data-dir", default="data/nips17", help="where the set lands (default: data/nips17)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a different image set already in --data-dir (without it, fetch refuses and changes nothing)",
    )
    p.set_defaults(func=_fetch)

    p = sub.add_parser(
        "models",
        help="list models and whether their weights are here",
        description="List the model zoo: input size, preprocessing, and weights availability (never downloads).",
    )
    p.set_defaults(func=_models)

    p = sub.add_parser(
        "predict",
        help="top-1/top-5 predictions and accuracy",
        description="Top-1 class per image and top-1/top-5 accuracy against TrueLabel (ImageNet index = TrueLabel - 1).",
    )
    _model_args(p)
    _data_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image, then a summary object")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass (default: 32)")
    p.set_defaults(func=_predict)

    p = sub.add_parser(
        "explain",
        help="saliency maps of chosen methods, with a PNG grid per image",
        description="Run saliency methods and write OUT/maps/<method>/<image_id>.npy (relevance, float32 HxW), "
        "OUT/attributions/<method>/<image_id>.npy (raw output), OUT/params.json and OUT/grids/<image_id>.png.",
    )
    _model_args(p)
    _data_args(p)
    p.add_argument("--methods", required=True, help="comma-separated method names (see the README; plug-ins too)")
    p.add_argument("--out", default="results/explain", help="output folder (default: results/explain)")
    p.add_argument("--profile", help="take method parameters from this profile (e.g. quick)")
    p.add_argument(
        "--param",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="override a method parameter, e.g. noise_mask.max_iterations=5000",
    )
    p.set_defaults(func=_explain)

    p = sub.add_parser(
        "run",
        help="run the benchmark (every method and metric) into a run folder",
        description="Apply every method and metric of a profile to an image set and write RUN_DIR "
        "(run.json, metrics.csv, curves.csv, maps/, report.md, figures/). Re-running with the same "
        "--out resumes: finished (method, image) work is skipped.",
    )
    p.add_argument("--profile", default="quick", help="smoke, quick (default), paper, or a path to a .toml profile")
    p.add_argument("--model", help="override the profile's model")
    p.add_argument("--weights", help="local weights file (e.g. Inception V3 .h5)")
    p.add_argument("--methods", help="comma-separated subset of methods")
    _data_args(p)
    p.add_argument("--out", help="RUN_DIR (default: results/<profile>-<timestamp>)")
    p.add_argument(
        "--param",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override a setting, e.g. noise_mask.max_iterations=5000 or metrics.steps=800",
    )
    _executor_args(p)
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "report",
        help="rebuild report.md and figures from a run folder",
        description="Rebuild metrics.csv, curves.csv, report.md and figures/ from the stored per-image records alone.",
    )
    p.add_argument("run_dir", help="the RUN_DIR of a run")
    p.set_defaults(func=_report)

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

    p = sub.add_parser(
        "check",
        help="score one method against a stored reference's baselines (and its previous check)",
        description="Run METHOD alone on a reference's images with the reference's model and settings and compare it, "
        "paired per image, with every baseline stored there: mean difference, 95%% bootstrap CI, Holm-corrected "
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
    p.add_argument("--out", help="output folder (default: results/check-<method>-<timestamp>)")
    _executor_args(p)
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "discover",
        help="model discovery (thesis Section 4.3): Noise Mask on six layers of each model",
        description="Pick six layers per model by the thesis's rule (modules split at spatial down-sampling: the "
        "last layer of the third-last module, the middle and last of the second-last, the last two of the last, and "
        "the logits), run Noise Mask on each, and write OUT/discovery.json, OUT/discovery.csv, OUT/report.md, "
        "OUT/figures/ and OUT/records/. Re-running with the same --out resumes: finished (model, layer) records "
        "are skipped; other settings are refused.",
    )
    p.add_argument("--model", action="append", required=True, help="a model name (repeat, or comma-separate, for several)")
    p.add_argument("--data-dir", help="image set folder (default: data/nips17 if fetched, else the embedded default)")
    p.add_argument("--images", metavar="ID,...", help="comma-separated image ids (default: every image of the set)")
    p.add_argument(
        "--layers",
        action="append",
        metavar="auto|NAME,...|MODEL=NAME,...",
        help="'auto' (default: the thesis's rule) or six layer names, the sixth the logits; MODEL=... for one model",
    )
    p.add_argument(
        "--param", action="append", metavar="noise_mask.KEY=VALUE", help="a Noise Mask parameter, e.g. noise_mask.seed=1"
    )
    p.add_argument("--preset", help="Noise Mask preset: fast, balanced or faithful (default: faithful)")
    p.add_argument("--weights", action="append", metavar="MODEL=PATH", help="a local weights file for MODEL")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    _executor_args(p)
    p.set_defaults(func=_discover)

    p = sub.add_parser(
        "sanity",
        help="model-parameter randomisation test (Adebayo et al. 2018): do the maps depend on the weights?",
        description="Explain the images with the original model, then with copies whose weights are randomised group by "
        "group from the top (logits, head, blocks, stem), for the original top-1 class, and compare each map with the "
        "original (Spearman rank correlation of abs maps, SSIM, as Quantus's MPRT). Writes OUT/randomisation.csv "
        "(method, image_id, step, layer, spearman, ssim; step 0 = the original model), OUT/sanity.json, OUT/report.md "
        "and OUT/figures/. Re-running with the same --out resumes. Noise Mask runs 300 iterations at lr 0.06 and "
        "occlusion strides 8 pixels unless --param says otherwise.",
    )
    _model_args(p)
    p.add_argument("--methods", required=True, help="comma-separated method names (see the README; plug-ins too)")
    _data_args(p)
    p.add_argument(
        "--param",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="override a method parameter, e.g. noise_mask.max_iterations=1000 or perturbation.stride=4",
    )
    p.add_argument(
        "--granularity",
        choices=("stage", "block", "layer"),
        default="stage",
        help="what one step randomises: a stage (default; EfficientNet-Lite0: 10 steps), a block, or every weighted layer",
    )
    p.add_argument(
        "--rule",
        choices=("shuffle", "reinit", "permute"),
        default="shuffle",
        help="shuffle each weight array's entries (default), re-draw from the layer's initializer, or Quantus 0.6.0's "
        "first-axis permutation",
    )
    p.add_argument(
        "--mode",
        choices=("cascading", "independent", "both"),
        default="cascading",
        help="cascading (top s groups randomised at step s; default), independent (group s alone), or both",
    )
    p.add_argument("--seed", type=int, default=0, help="randomisation seed (default: 0)")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    p.set_defaults(func=_sanity)
    return parser


def _model_args(p):
    p.add_argument("--model", required=True, help="model name (see: python -m bench models)")
    p.add_argument("--weights", help="local weights file (e.g. Keras's Inception V3 .h5)")


def _data_args(p):
    p.add_argument("--data-dir", help="image set folder (default: data/nips17 if fetched, else the embedded default)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N images (N >= 1)")


def _executor_args(p):
    """Where ``run``, ``check`` and ``discover`` compute their units (bench/execution/__init__.py)."""
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local (default): this process; ray: a Ray cluster's workers (pip install 'noise-mask-bench[ray]'); "
        "the results are the same",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --executor ray: 'auto' (the cluster this machine joined with ray start) or ray://HEAD:10001 (default: "
        "$RAY_ADDRESS if set, else a Ray instance started on this machine)",
    )
    p.add_argument(
        "--ray-workers",
        type=positive_int,
        metavar="N",
        help="with --executor ray: how many workers (one model each; default: one per GPU of the cluster, else one per "
        "--ray-cpus-per-worker CPUs)",
    )
    p.add_argument(
        "--ray-cpus-per-worker",
        type=positive_int,
        metavar="C",
        help="with --executor ray: CPUs each worker reserves (default: 1). TensorFlow in a worker uses all its node's "
        "cores either way (as a local run does, which keeps the results identical); on many-core CPU nodes, C = the "
        "node's cores gives one worker per node",
    )


def executor_settings(args) -> dict:
    """run_benchmark's executor arguments from ``--executor`` and the ``--ray-*`` options; checks
    that Ray can be imported before anything starts."""
    if args.executor != "ray":
        ray_options = (
            ("--ray-address", args.ray_address),
            ("--ray-workers", args.ray_workers),
            ("--ray-cpus-per-worker", args.ray_cpus_per_worker),
        )
        given = [name for name, value in ray_options if value]
        if given:
            raise InputError(f"{' and '.join(given)} need{'s' * (len(given) == 1)} --executor ray")
        return {}
    from bench.execution.ray_cluster import import_ray

    import_ray()
    options = {"workers": args.ray_workers, "cpus_per_worker": args.ray_cpus_per_worker}
    options = {k: v for k, v in options.items() if v is not None}
    return {"executor": "ray", "ray_address": args.ray_address, "executor_options": options}


def main(argv=None) -> int:
    """Run a command. The suite's own input errors (:class:`common.errors.InputError`) print
    their message and exit 2; anything else is a bug and keeps its traceback."""
    # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) hides real messages
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
