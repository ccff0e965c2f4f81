"""Where units of work are computed: in this process (``local``) or on a Ray cluster (``ray``).

An executor takes pending units (a run's :class:`bench.run.units.Unit`, or the discovery's) and
hands each result to ``on_result`` in the driver, which alone writes the output folder. Both
run the units through the spec's worker (``spec.make_worker()``; protocol in
:mod:`bench.run.units`), so they give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from common.errors import InputError

EXECUTORS = ("local", "ray")

OnResult = Callable[[object, object], None]
"""on_result(unit, result)."""


class LocalExecutor:
    """Every unit in this process, one after another, with the worker the driver built (its models already loaded)."""

    name = "local"

    def __init__(self, worker):
        self.worker = worker

    def run(self, units: Iterable, on_result: OnResult) -> None:
        for unit in units:
            try:
                result = self.worker.run(unit)
            except Exception as err:
                err.add_note(f"while computing the unit {unit.key}")
                raise
            on_result(unit, result)

    def close(self) -> None:
        pass


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

    def make(self, spec, worker=None, log: Callable[[str], None] = print):
        """The executor for ``spec`` (see :func:`make_executor`)."""
        return make_executor(self.name, spec, worker, self.ray_address, log=log, **self.options)


def make_executor(
    name: str,
    spec,
    worker=None,
    ray_address: str | None = None,
    log: Callable[[str], None] = print,
    **options,
):
    """The executor ``name``. ``worker``: the driver's own worker for ``spec`` (its models already
    loaded), which the local executor uses and whose weights every Ray worker must have; the
    local executor builds one when it is None. ``options`` go to the Ray executor (``workers``,
    ``cpus_per_worker``, ``gpus_per_worker``, ``threads``, ``max_retries``, ``start_wait``:
    :class:`bench.execution.ray_cluster.RayExecutor`); the local one has none."""
    if name == "local":
        return LocalExecutor(worker if worker is not None else spec.make_worker())
    if name == "ray":
        from bench.execution.ray_cluster import RayExecutor

        weights = None if worker is None else worker.weights()
        return RayExecutor(spec, address=ray_address, log=log, weights=weights, **options)
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {name!r}")
