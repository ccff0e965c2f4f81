"""The unit protocol: what an executor needs of a command's work, and nothing more.

A command (a run, the sanity study, the discovery) splits its work into units the output folder
lacks. A picklable :class:`Spec` says what a worker builds once (models, methods); the worker
turns units into results wherever it runs (this process, a Ray actor); the driver alone writes
the results into the folder (``on_result``), so the folder has one writer and where a unit ran
never changes a number. Executors (:mod:`bench.execution.local`, :mod:`bench.execution.ray_cluster`)
know only these three shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class WorkUnit(Protocol):
    """One piece of work: computed by one worker call, written by the driver."""

    @property
    def key(self) -> str:
        """A short name for logs and errors ("noise_mask [a..d] (4 images)")."""
        ...

    @property
    def image_ids(self) -> list[str]: ...


@runtime_checkable
class WorkWorker(Protocol):
    """Computes units with what it loaded once."""

    def run(self, unit: Any) -> Any:
        """The unit's result (picklable)."""
        ...

    def weights(self) -> dict[str, tuple[str | None, str]]:
        """model name -> (weights sha256, weights description) of the models it loaded: every
        worker of a cluster must have the driver's."""
        ...


@runtime_checkable
class WorkSpec(Protocol):
    """What a worker builds once; picklable, so a cluster's workers can build their own."""

    def make_worker(self) -> WorkWorker: ...

    def schedule(self, units: list[Any]) -> list[Any]:
        """The units in the order to send them (e.g. the longest first); never changes a result."""
        ...


OnResult = Callable[[Any, Any], None]
"""on_result(unit, result): the driver's writer."""


class Executor(Protocol):
    """Runs units and hands each result to ``on_result`` in the driver."""

    name: str

    def run(self, units: Iterable[Any], on_result: OnResult) -> None: ...

    def close(self) -> None: ...
