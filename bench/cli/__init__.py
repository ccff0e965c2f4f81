"""Command line: ``python -m bench <command>`` (also installed as ``noise-bench``).

Each module of :data:`COMMANDS` adds its commands (parser, arguments, handler) with
``register(subparsers)``; what several share is in :mod:`bench.cli._arguments`. The handlers
import the suite's pandas/matplotlib/TensorFlow-backed modules when they run, so that
``--help`` answers at once and importing this package loads no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.cli import _tensorflow_logs, data, meta, regression, run, site, studies
from common.errors import InputError, environment_fault
from common.progress import check_environment

COMMANDS = (data, run, regression, studies, meta, site)
"""The command modules, in the order ``--help`` lists their commands."""


VERBOSE_HELP = (
    f"keep TensorFlow's start-up and log messages (CUDA probing, oneDNN notes), hidden by default; "
    f"{_tensorflow_logs.ENV}=1 does the same"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Noise Mask saliency benchmark suite.")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    for command in sub.choices.values():
        # after the command too; SUPPRESS, so that a command without it keeps `bench --verbose COMMAND`'s
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def main(argv=None) -> int:
    """Run a command. The suite's own input errors (:class:`common.errors.InputError`) print
    their message and exit 2, and so do the environment's faults (an :class:`OSError` of a path
    the command could not write: a read-only results folder or HOME, a full disk;
    :func:`common.errors.environment_fault`), naming the path; anything else is a bug and keeps
    its traceback."""
    # a log file gets each line as it is written, in order with the progress lines on stderr
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    args = build_parser().parse_args(argv)
    if not _tensorflow_logs.wanted(args.verbose):
        # TensorFlow's C++ chatter (CUDA probing, oneDNN notes) reads as failures and hides real messages
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        _tensorflow_logs.install()
    try:
        check_environment()  # before anything starts (a run folder made, a model loaded)
        return args.func(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        fault = environment_fault(err)
        if fault is None:
            raise
        print(f"error: {fault}", file=sys.stderr)
        return 2
    finally:
        _tensorflow_logs.remove()


__all__ = ["COMMANDS", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
