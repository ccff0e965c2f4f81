"""Command line: ``python -m bench <command>`` (also installed as ``noise-bench``)."""
from __future__ import annotations

import argparse
import json
import sys


def _fetch(args) -> int:
    from bench.datasets.fetch import FetchError, fetch_from_kaggle, import_image_set

    try:
        if args.source in ("kaggle", "kaggle-competition"):
            result = fetch_from_kaggle(args.data_dir, competition=args.source == "kaggle-competition")
        else:
            result = import_image_set(args.source, args.data_dir)
    except FetchError as err:
        print(f"fetch failed: {err}\nNothing was written to {args.data_dir}.", file=sys.stderr)
        return 1
    verb = {"verified": "verified (already present and intact; nothing written)", "imported": "imported", "replaced": "imported (replaced the previous copy)"}
    print(f"{result.images} images {verb[result.status]}: {result.data_dir}")
    return 0


def _models(args) -> int:
    from bench.models import MODELS

    for spec in MODELS.values():
        print(f"{spec.name:20s} input {spec.input_size}x{spec.input_size}  preprocessing {spec.preprocessing}")
        print(f"{'':20s} {spec.description}")
        print(f"{'':20s} weights: {spec.weights_status()}")
    return 0


class UsageError(Exception):
    """A problem with the user's arguments or environment: printed without a traceback, exit 2."""


def _message(err: BaseException) -> str:
    return str(err.args[0]) if err.args else str(err)


def load_model(name: str, weights: str | None):
    from bench.models import WeightsUnavailable, get_model

    try:
        return get_model(name, weights=weights)
    except (WeightsUnavailable, KeyError, ValueError) as err:
        raise UsageError(_message(err)) from None


def load_images(data_dir, size, limit):
    from bench.datasets import load_image_set, resolve_data_dir

    try:
        folder, description = resolve_data_dir(data_dir)
        return load_image_set(folder, size=size, limit=limit), description
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise UsageError(_message(err)) from None


def _predict(args) -> int:
    from bench.imagenet import class_name
    from bench.predict import accuracy, predict

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Noise Mask saliency benchmark suite.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fetch", help="download or import the NIPS-2017 development set",
                       description="Download the NIPS-2017 development set from Kaggle, or import a local copy "
                       "(a folder or zip with images/*.png and images.csv). Validates every file and writes a manifest.")
    p.add_argument("--source", default="kaggle", help="'kaggle' (dataset), 'kaggle-competition', or a local folder/zip (default: kaggle)")
    p.add_argument("--data-dir", default="data/nips17", help="where the set lands (default: data/nips17)")
    p.set_defaults(func=_fetch)

    p = sub.add_parser("models", help="list models and whether their weights are here",
                       description="List the model zoo: input size, preprocessing, and weights availability (never downloads).")
    p.set_defaults(func=_models)

    p = sub.add_parser("predict", help="top-1/top-5 predictions and accuracy",
                       description="Top-1 class per image and top-1/top-5 accuracy against TrueLabel (ImageNet index = TrueLabel - 1).")
    _model_args(p)
    _data_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image, then a summary object")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=_predict)
    return parser


def _model_args(p):
    p.add_argument("--model", required=True, help="model name (see: python -m bench models)")
    p.add_argument("--weights", help="local weights file (e.g. Keras's Inception V3 .h5)")


def _data_args(p):
    p.add_argument("--data-dir", help="image set folder (default: data/nips17 if fetched, else the embedded default)")
    p.add_argument("--limit", type=int, help="use only the first N images")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
