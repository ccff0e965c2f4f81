"""The studies: ``discover`` (thesis Section 4.3) and ``sanity`` (the parameter-randomisation test)."""

from __future__ import annotations

from bench.cli._arguments import add_data_args, add_executor_args, add_model_args, executor_settings
from common.errors import InputError
from methods.noise_mask_settings import PRESETS
from models.randomisation_settings import GRANULARITIES, MODES, RULES


def register(sub) -> None:
    _discover_parser(sub)
    _sanity_parser(sub)


def _discover_parser(sub) -> None:
    default = "faithful"  # NoiseMask's default preset
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
    others = ", ".join(name for name in PRESETS if name != default)
    p.add_argument("--preset", help=f"Noise Mask preset: {others} or {default} (default: {default})")
    p.add_argument("--weights", action="append", metavar="MODEL=PATH", help="a local weights file for MODEL")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    add_executor_args(p)
    p.set_defaults(func=_discover)


def _discover(args) -> int:
    from bench.studies.discovery import noise_mask_params, parse_layers, run_discovery  # noqa: PLC0415 - heavy: pandas

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


def _sanity_parser(sub) -> None:
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
    add_model_args(p)
    p.add_argument("--methods", required=True, help="comma-separated method names (docs: reference/methods.md; plug-ins too)")
    add_data_args(p)
    p.add_argument(
        "--param",
        action="append",
        metavar="METHOD.KEY=VALUE",
        help="override a method parameter, e.g. noise_mask.max_iterations=1000 or perturbation.stride=4",
    )
    p.add_argument(
        "--granularity",
        choices=GRANULARITIES,
        default="stage",
        help="what one step randomises: a stage (default; EfficientNet-Lite0: 10 steps), a block, or every weighted layer",
    )
    p.add_argument(
        "--rule",
        choices=RULES,
        default="shuffle",
        help="shuffle each weight array's entries (default), re-draw from the layer's initializer, or Quantus 0.6.0's "
        "first-axis permutation",
    )
    p.add_argument(
        "--mode",
        choices=(*MODES, "both"),
        default="cascading",
        help="cascading (top s groups randomised at step s; default), independent (group s alone), or both",
    )
    p.add_argument("--seed", type=int, default=0, help="randomisation seed (default: 0)")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    add_executor_args(p)
    p.set_defaults(func=_sanity)


def _sanity(args) -> int:
    from bench.run.profile import apply_overrides, empty_profile  # noqa: PLC0415 - heavy: scipy, scikit-image
    from bench.studies.sanity import run_sanity  # noqa: PLC0415 - heavy: pandas, matplotlib

    sections = apply_overrides(empty_profile(), args.param)
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
        **executor_settings(args),
    )
    return 0
