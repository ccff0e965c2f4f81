"""Where a run's units are computed: in this process (``local``) or on a Ray cluster (``ray``).

An executor takes the pending :class:`bench.work.Unit` objects and hands each
:class:`bench.work.UnitResult` to ``on_result`` in the driver, which alone writes the run
folder. Both run the units through :class:`bench.work.Worker`, so they give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bench.work import Unit, UnitResult, Worker, WorkSpec

EXECUTORS = ("local", "ray")

OnResult = Callable[[Unit, UnitResult], None]


class LocalExecutor:
    """Every unit in this process, one after another, with the model the driver loaded."""

    name = "local"

    def __init__(self, spec: WorkSpec, model=None, methods: dict | None = None):
        self.worker = Worker(spec, model, methods)

    def run(self, units: Iterable[Unit], on_result: OnResult) -> None:
        for unit in units:
            try:
                result = self.worker.run(unit)
            except Exception as err:
                err.add_note(f"while computing the unit {unit.key}")
                raise
            on_result(unit, result)

    def close(self) -> None:
        pass


def make_executor(
    name: str,
    spec: WorkSpec,
    model=None,
    methods: dict | None = None,
    ray_address: str | None = None,
    log: Callable[[str], None] = print,
    **options,
):
    """The executor ``name``. ``options`` go to the Ray executor (``workers``, ``cpus_per_worker``,
    ``gpus_per_worker``, ``threads``, ``max_retries``: :class:`bench.ray_executor.RayExecutor`);
    the local one has none."""
    if name == "local":
        return LocalExecutor(spec, model, methods)
    if name == "ray":
        from bench.ray_executor import RayExecutor

        weights = None if model is None else (model.weights_sha256, model.weights)
        return RayExecutor(spec, address=ray_address, log=log, weights=weights, **options)
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {name!r}")
