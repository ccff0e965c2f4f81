"""The local executor: every unit in this process, one after another."""

from __future__ import annotations

from collections.abc import Iterable

from bench.execution.protocol import OnResult, WorkUnit, WorkWorker


class LocalExecutor:
    """Every unit in this process, one after another, with the worker the driver built (its models already loaded)."""

    name = "local"

    def __init__(self, worker: WorkWorker):
        self.worker = worker

    def run(self, units: Iterable[WorkUnit], on_result: OnResult) -> None:
        for unit in units:
            try:
                result = self.worker.run(unit)
            except Exception as err:
                err.add_note(f"while computing the unit {unit.key}")
                raise
            on_result(unit, result)

    def close(self) -> None:
        pass
