"""``bench meta``: the meta-evaluation of a run's or a reference's metrics (bench/studies/meta)."""

from __future__ import annotations

import argparse
import os
import sys

from bench.cli._arguments import positive_int, whole_number
from bench.studies.meta.settings import CHEAP_METHODS, IMAGES, NOISE_STD


def _std(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "meta",
        help="meta-evaluation: which metrics' verdicts can be trusted (Tomsett et al. 2020; MetaQuantus 2023)",
        description="Measure, per per-image metric of SOURCE (a RUN_DIR or a reference: a folder or a shipped name such "
        "as nips17-ci), Krippendorff's alpha of the images' method rankings, the inter-method Spearman, the internal "
        "consistency of the curve metrics (early MoRF drop vs ABPC; random colours vs ROAD), with a second SOURCE of "
        "another model on the same images the inter-model Kendall tau, and, recomputing a few images' maps under a "
        "minor weight perturbation and under the fully randomised model, noise resilience and adversary reactivity. "
        "Writes OUT/meta.csv (metric, measure, value, ci_low, ci_high, n; 95% bootstrap intervals over images), "
        "OUT/meta.md (with a trust grade per metric), OUT/meta.json and OUT/figures/meta.png.",
    )
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="the run or reference to evaluate, then optionally another model's"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--data-dir", help="the images, for the perturbed models (default: data/nips17 if fetched, else the embedded default)"
    )
    p.add_argument(
        "--perturb-images",
        type=whole_number(0),
        default=IMAGES,
        metavar="N",
        help=f"images explained again under the perturbed models (default: {IMAGES}; 0: leave the test out)",
    )
    p.add_argument(
        "--perturb-methods",
        default=",".join(CHEAP_METHODS),
        help=f"methods explained again (default: {','.join(CHEAP_METHODS)}; those SOURCE ran): registered names, "
        "plug-ins, or module:Class importable from here (a plug-in method the run ran that way)",
    )
    p.add_argument(
        "--noise-std", type=_std, default=NOISE_STD, help=f"the minor perturbation's std (default: {NOISE_STD}, MetaQuantus's)"
    )
    p.add_argument("--bootstrap", type=positive_int, default=2000, metavar="N", help="bootstrap resamples (default: 2000)")
    p.add_argument(
        "--attach",
        action="store_true",
        help="SOURCE is a reference: add OUT/meta.csv to it (listed in its reference.json with its sha256), so bench "
        "check prints the grades beside its verdicts",
    )
    p.set_defaults(func=_meta)


def _source(name: str):
    """A reference (folder with reference.json, or a shipped name) or a run folder."""
    from pathlib import Path  # noqa: PLC0415

    from bench.regression.references import REFERENCE_JSON, SHIPPED, load_reference  # noqa: PLC0415 - heavy: pandas
    from bench.report.claims import early_morf_window  # noqa: PLC0415 - heavy: pandas
    from bench.studies.meta.sources import from_reference_tables, from_run  # noqa: PLC0415 - heavy: pandas

    if (Path(name) / REFERENCE_JSON).is_file() or name in SHIPPED:
        ref = load_reference(name)
        return from_reference_tables(ref.name, ref.fingerprint, ref.metrics, ref.curves(), early_morf_window, ref.path), ref
    return from_run(name, early_morf_window), None


def _meta(args) -> int:
    from bench.regression.references import (  # noqa: PLC0415 - heavy: pandas
        ReferenceInputError,
        attach_meta,
        is_shipped,
        require_writable_reference,
    )
    from bench.studies.meta.perturb import plan_for  # noqa: PLC0415 - heavy: pandas
    from bench.studies.meta.run import META_CSV, run_meta  # noqa: PLC0415 - heavy: pandas, matplotlib
    from common.errors import InputError  # noqa: PLC0415

    if len(args.sources) > 2:
        raise InputError(
            f"bench meta: at most two SOURCEs (the run, and another model's on the same images); got {len(args.sources)}"
        )
    source, reference = _source(args.sources[0])
    other = _source(args.sources[1])[0] if len(args.sources) == 2 else None
    if other is not None and other.model == source.model:
        raise InputError(
            f"bench meta: both SOURCEs use {source.model}; the second must be another model's run on the same images"
        )
    if args.attach and reference is None:
        raise ReferenceInputError(f"--attach: {args.sources[0]} is a run folder, not a reference")
    if args.attach:  # before any work
        require_writable_reference(reference.path, "attach to")
    if is_shipped(args.out):
        raise ReferenceInputError(f"--out {args.out}: inside the shipped references' folder; choose a folder of your own")
    plan = None
    if args.perturb_images:
        if os.getcwd() not in sys.path and "" not in sys.path:  # module:Class importable from the current path
            sys.path.insert(0, os.getcwd())
        methods = [m for m in args.perturb_methods.split(",") if m]
        plan = plan_for(source.settings, source.model, methods, args.perturb_images, args.noise_std)
        if not plan.methods:
            raise InputError(
                f"--perturb-methods {args.perturb_methods}: {source.name} ran none of them ({', '.join(source.methods)})"
            )
    run_meta(source, args.out, other=other, plan=plan, data_dir=args.data_dir, n_boot=args.bootstrap)
    print(f"meta-evaluation: {args.out}/meta.md")
    if args.attach:
        from pathlib import Path  # noqa: PLC0415

        attach_meta(reference.path, Path(args.out) / META_CSV)
        print(f"attached {META_CSV} to the reference {reference.name} ({reference.path})")
    return 0
