"""Test-only methods for the Ray executor's fault tests (tests/test_ray_executor.py), given to a
run as ``ray_methods:KillOnce`` and ``ray_methods:FailsOn`` with tests/ on the path (of the
driver, and of the Ray nodes the tests start, which their workers inherit).

Both are sensitivity with a planted fault. Neither harms the process that runs the tests: the
kill happens only inside a Ray actor.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import ClassVar

import numpy as np

from methods import Param
from methods.sensitivity import Sensitivity


def in_ray_actor() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None


class KillOnce(Sensitivity):
    """Sensitivity whose first call in a Ray actor, while ``marker`` does not exist, creates
    ``marker`` and kills its own process with SIGKILL (mid-unit): the retried unit succeeds."""

    name = "kill_once"
    parameters: ClassVar[dict[str, Param]] = {
        **Sensitivity.parameters,
        "marker": Param("", str, "a file: kill the worker while it does not exist"),
    }

    def attribute(self, model, images, targets):
        marker = Path(self.params["marker"])
        if self.params["marker"] and in_ray_actor() and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().attribute(model, images, targets)


class FailsOn(Sensitivity):
    """Sensitivity that raises on an image whose pixels sum to ``pixel_sum`` (a bug in a method)."""

    name = "fails_on"
    parameters: ClassVar[dict[str, Param]] = {
        **Sensitivity.parameters,
        "pixel_sum": Param(-1, int, "raise on the image with this pixel sum"),
    }

    def attribute(self, model, images, targets):
        sums = images.reshape(len(images), -1).astype(np.int64).sum(axis=1)
        if self.params["pixel_sum"] in sums:
            raise ValueError(f"planted failure: an image sums to {self.params['pixel_sum']}")
        return super().attribute(model, images, targets)
