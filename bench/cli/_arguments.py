"""What several commands share: argument types and groups, the executor settings, and loading
a model and an image set with the suite's errors turned into :class:`InputError`."""

from __future__ import annotations

import argparse

from bench.execution import EXECUTORS
from bench.execution.ray_cluster import import_ray
from common.errors import InputError


def positive_hours(text: str) -> float:
    """argparse type for a limit in hours: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of hours, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def whole_number(minimum: int):
    """argparse type for counts: an integer >= ``minimum``; argparse names the option in its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = whole_number(1)
"""Counts that cannot be 0 (images, batch size)."""


def message(err: BaseException) -> str:
    """An exception's message alone (a KeyError's str() quotes it)."""
    return str(err.args[0]) if err.args else str(err)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model name (see: python -m bench models)")
    p.add_argument("--weights", help="local weights file (e.g. Keras's Inception V3 .h5)")


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="image set folder (default: data/nips17 if fetched, else the embedded default)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N images (N >= 1)")


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """Where ``run``, ``check``, ``discover`` and ``sanity`` compute their units (bench/execution/__init__.py)."""
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
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


def executor_settings(args: argparse.Namespace) -> dict:
    """The executor keyword arguments (``executor``, ``ray_address``, ``executor_options``) from
    ``--executor`` and the ``--ray-*`` options; empty for the local executor. Checks that Ray
    can be imported before anything starts."""
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
    import_ray()
    options = {"workers": args.ray_workers, "cpus_per_worker": args.ray_cpus_per_worker}
    options = {k: v for k, v in options.items() if v is not None}
    return {"executor": "ray", "ray_address": args.ray_address, "executor_options": options}
