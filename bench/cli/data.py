"""The data and model commands: ``fetch``, ``models``, ``predict``."""

from __future__ import annotations

import json
import sys

from bench.cli._arguments import add_data_args, add_model_args, positive_int
from models import MODELS, get_model


def register(sub) -> None:
    _fetch_parser(sub)
    _models_parser(sub)
    _predict_parser(sub)


def _fetch_parser(sub) -> None:
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


def _fetch(args) -> int:
    from bench.datasets.fetch import FetchError, fetch_from_kaggle, import_image_set  # noqa: PLC0415 - heavy: pandas

    try:
        if args.source in ("kaggle", "kaggle-competition"):
            result = fetch_from_kaggle(args.data_dir, competition=args.source == "kaggle-competition", replace=args.replace)
        else:
            result = import_image_set(args.source, args.data_dir, replace=args.replace)
    except FetchError as err:  # an input error (bad source, limits, no space, Kaggle refused): exit 2, as any InputError
        print(f"fetch failed: {err}\nNothing was written to {args.data_dir}.", file=sys.stderr)
        return 2
    verb = {
        "verified": "verified (already present and intact; nothing written)",
        "imported": "imported",
        "replaced": "imported (replaced the previous copy)",
    }
    print(f"{result.images} images {verb[result.status]}: {result.data_dir}")
    return 0


def _models_parser(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list models and whether their weights are here",
        description="List the model zoo: input size, preprocessing, and weights availability (never downloads).",
    )
    p.set_defaults(func=_models)


def _models(args) -> int:
    for spec in MODELS.values():
        print(f"{spec.name:20s} input {spec.input_size}x{spec.input_size}  preprocessing {spec.preprocessing}")
        print(f"{'':20s} {spec.description}")
        print(f"{'':20s} weights: {spec.weights_status()}")
    return 0


def _predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="top-1/top-5 predictions and accuracy",
        description="Top-1 class per image and top-1/top-5 accuracy against TrueLabel (ImageNet index = TrueLabel - 1).",
    )
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image, then a summary object")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass (default: 32)")
    p.set_defaults(func=_predict)


def _predict(args) -> int:
    from bench.datasets import load_images  # noqa: PLC0415 - heavy: pandas; keeps --help fast
    from bench.datasets.imagenet import class_name  # noqa: PLC0415 - heavy: pandas
    from bench.run.predict import accuracy, predict  # noqa: PLC0415 - heavy: pandas

    model = get_model(args.model, weights=args.weights)
    images, _, description = load_images(args.data_dir, model.input_size, args.limit)
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
    fmt = lambda v: "n/a" if v is None else f"{v:.1%}"
    print(f"top-1 {fmt(summary['top1'])}  top-5 {fmt(summary['top5'])}  ({summary['labelled']} labelled images)")
    return 0
