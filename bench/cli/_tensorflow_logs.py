"""TensorFlow's start-up messages, kept out of the commands' output unless asked for.

TensorFlow's C++ side writes to file descriptor 2 while it is imported, before it reads
``TF_CPP_MIN_LOG_LEVEL`` (``WARNING: All log messages before absl::InitializeLog()``, oneDNN,
"Could not find cuda drivers"), and ``failed call to cuInit`` when it first looks for devices on
a machine without a GPU: on a CPU-only machine these read as failures. So a command's first
``import tensorflow`` runs with descriptor 2 sent to a temporary file, lists the devices there,
and then passes on what was written except those known lines: the suite's own warnings and any
other message still reach stderr. ``--verbose`` or ``BENCH_TF_LOGS=1`` keeps everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

ENV = "BENCH_TF_LOGS"
"""Set to 1 to see TensorFlow's start-up and C++ log messages (as ``--verbose`` does)."""

NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|Could not find cuda drivers"
    r"|failed call to cuInit|cpu_feature_guard|^To enable the following instructions:"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning: Could not find TensorRT"
)
"""The start-up lines a CPU-only machine prints with every TensorFlow 2.14-2.21 import."""


def wanted(verbose: bool) -> bool:
    """Whether TensorFlow's own messages are kept: ``--verbose``, or ``BENCH_TF_LOGS`` set to other than 0."""
    return verbose or os.environ.get(ENV, "").strip() not in ("", "0")


@contextlib.contextmanager
def filtered_stderr():
    """Descriptor 2 goes to a temporary file; on leaving, its lines but :data:`NOISE` go to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not NOISE.search(line)))
            sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run under :func:`filtered_stderr`; anything else it is asked is its loader's."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            with filtered_stderr():
                self._loader.exec_module(module)
                module.config.list_physical_devices()  # the cuInit probe, while the output is filtered
        finally:
            module.__loader__ = module.__spec__.loader = self._loader


class QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` on the first import and gives it :class:`_QuietLoader`; then steps aside."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        remove()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Filter TensorFlow's start-up output if it is not imported yet (once: a second call adds nothing)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlow())


def remove() -> None:
    """Take the finder out again (a command that never imported TensorFlow leaves nothing behind)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, QuietTensorFlow)]
