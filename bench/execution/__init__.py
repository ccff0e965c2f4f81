"""Where units of work are computed: in this process (``local``) or on a Ray cluster (``ray``).

An executor takes pending units (a run's :class:`bench.run.units.Unit`, the sanity study's or
the discovery's) and hands each result to ``on_result`` in the driver, which alone writes the
output folder. Both run the units through the spec's worker (``spec.make_worker()``; the
protocol is :mod:`bench.execution.protocol`), so they give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.execution.local import LocalExecutor
from bench.execution.protocol import Executor, OnResult, WorkSpec, WorkUnit, WorkWorker
from common.errors import InputError

EXECUTORS = ("local", "ray")

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorChoice",
    "LocalExecutor",
    "OnResult",
    "WorkSpec",
    "WorkUnit",
    "WorkWorker",
    "make_executor",
]


@dataclass(frozen=True)
class ExecutorChoice:
    """Where a command computes its units: ``name`` (one of :data:`EXECUTORS`), the Ray cluster's
    address and the Ray executor's options (:func:`make_executor`). Checked when made."""

    name: str = "local"
    ray_address: str | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise InputError(f"--executor must be one of {', '.join(EXECUTORS)}; got {self.name!r}")

    def make(self, spec: WorkSpec, worker: WorkWorker | None = None, log: Callable[[str], None] = print) -> Executor:
        """The executor for ``spec`` (see :func:`make_executor`)."""
        return make_executor(self.name, spec, worker, self.ray_address, log=log, **self.options)


def make_executor(
    name: str,
    spec: WorkSpec,
    worker: WorkWorker | None = None,
    ray_address: str | None = None,
    log: Callable[[str], None] = print,
    **options,
) -> Executor:
    """The executor ``name``. ``worker``: the driver's own worker for ``spec`` (its models already
    loaded), which the local executor uses and whose weights every Ray worker must have; the
    local executor builds one when it is None. ``options`` go to the Ray executor (``workers``,
    ``cpus_per_worker``, ``gpus_per_worker``, ``threads``, ``max_retries``, ``start_wait``:
    :class:`bench.execution.ray_cluster.RayExecutor`); the local one has none."""
    if name == "local":
        return LocalExecutor(worker if worker is not None else spec.make_worker())
    if name == "ray":
        from bench.execution.ray_cluster import RayExecutor  # noqa: PLC0415 - Ray is an optional extra

        weights = None if worker is None else worker.weights()
        return RayExecutor(spec, address=ray_address, log=log, weights=weights, **options)
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {name!r}")
