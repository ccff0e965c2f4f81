"""The ``ray`` executor: a run's units on a Ray cluster (``pip install noise-mask-bench[ray]``).

One actor per worker slot (a CPU, or a GPU when the cluster has them) holds the spec's
worker (a :class:`bench.run.units.Worker` for ``bench run`` and ``bench check``, a
:class:`bench.studies.discovery.units.DiscoveryWorker` for ``bench discover``): the models are loaded
and the methods built once per actor. The driver sends each actor one unit at a time (the
pixels and all else it needs travel with it, so no shared filesystem is needed) and hands
every result to ``on_result`` as it arrives; the driver alone writes the output folder.
Units go out in the spec's ``schedule`` order (a run's: longest first, by the methods' own
cost estimates, so that on many workers the run does not wait at its end for a long unit
started last). Every executor runs the same units through the same code, so the numbers are
the same as a local run's on a machine like the workers (TensorFlow keeps its default
threads; a worker that loaded other model weights than the driver's stops the run).

Faults:

- a worker process that dies (killed, out of memory, its node lost) is restarted by Ray
  (``max_restarts``) and the unit it was computing is sent again, by the driver, at most
  ``max_retries`` times; each retry is logged;
- an exception raised by a method is not retried: the driver stops sending units, lets the
  units in flight finish (their records are written) and raises :class:`UnitFailed`, which
  names the unit and carries the worker's traceback;
- a killed driver loses nothing written: the records are per (method, image), so rerunning
  the same command resumes, as a local run does.

Ray is imported only here, when a ``ray`` executor is made: local runs never need it.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable

from common.errors import InputError
from common.progress import line_interval, progress

INSTALL_HINT = "pip install 'noise-mask-bench[ray]'"
MAX_RETRIES = 3
"""How many times a unit whose worker died is sent again before the run stops."""
MAX_RESTARTS = 4
"""How many times Ray restarts one worker process that died."""
START_WAIT_SECONDS = 300.0
"""How long the driver waits for every worker to load its model before it sends the first
unit: every worker's weights are checked before anything is computed, and the first units
spread over the cluster instead of all going to the worker that loaded first. After it, the
units go to the workers that are ready, and late ones join when they are."""


class RayExecutorError(InputError):
    """Ray is missing, the cluster cannot be reached or has no room for a worker; the message says what to do."""


class UnitFailed(RuntimeError):
    """A method raised an exception on a worker: a bug in the method or the suite, never retried.
    The message names the unit and holds the worker's traceback."""


class WorkerLost(RuntimeError):
    """A unit's worker died more than ``max_retries`` times, or no worker is left to compute it."""


def import_ray():
    try:
        import ray  # noqa: PLC0415 - Ray is an optional extra
    except ImportError as err:
        raise RayExecutorError(
            f"--executor ray needs Ray, which cannot be imported here ({type(err).__name__}: {err}); install it with "
            f"{INSTALL_HINT}, or run with --executor local"
        ) from None
    return ray


class UnitActor:
    """One worker process: the spec's worker (a :class:`bench.run.units.Worker`, or the discovery's),
    its models loaded once, computing units."""

    def __init__(self, spec, threads: int | None = None):
        self.started = time.perf_counter()
        if threads:
            import tensorflow as tf  # noqa: PLC0415 - heavy; only when threads are set

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.worker = spec.make_worker()
        self.ready_seconds = time.perf_counter() - self.started

    def where(self) -> dict:
        import ray  # noqa: PLC0415 - Ray is an optional extra

        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "load_seconds": self.ready_seconds,
            "weights": {name: list(pair) for name, pair in self.worker.weights().items()},
        }

    def run(self, unit):
        # the unit is this process's outermost loop: the method's and the curves' own progress
        # lines (forwarded to the driver's log) then come only for long steps
        with progress(total=1, desc=f"worker {os.getpid()}: {unit.key}", unit="units") as bar:
            result = self.worker.run(unit)
            bar.update(1)
        return result


class RayExecutor:
    """Units on Ray actors; see the module's docstring.

    ``address``: None starts Ray on this machine, or joins the cluster named by ``RAY_ADDRESS``
    when it is set; ``"auto"`` joins the cluster this machine belongs to (``ray start``);
    ``"ray://HOST:10001"`` connects through Ray Client. When Ray is already initialised in
    this process (e.g. a test's cluster), that connection is used and left open.
    ``workers``: how many actors (default: one per GPU of the cluster when it has GPUs, else
    one per ``cpus_per_worker`` CPUs). ``threads``: TensorFlow's intra- and inter-op threads
    in each actor. The default, TensorFlow's own (one per core of the node, as in a local run),
    keeps the results bit-identical to a local run on such a machine; fewer threads change
    some sums in the last bits (occlusion maps on EfficientNet-Lite0 at 1 thread instead of 2:
    up to 9e-6, so PNG sizes by a few bytes). ``weights``: the driver's models'
    {model: (weights sha256, weights description)}; a worker that loaded other weights
    (another file or cache on its node) stops the run. ``start_wait``: seconds to wait for
    every worker to be ready before the first unit goes out (:data:`START_WAIT_SECONDS`).
    """

    name = "ray"

    def __init__(
        self,
        spec,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1,
        gpus_per_worker: float | None = None,
        threads: int | None = None,
        max_retries: int = MAX_RETRIES,
        log: Callable[[str], None] = print,
        weights: dict[str, tuple[str | None, str]] | None = None,
        start_wait: float = START_WAIT_SECONDS,
    ):
        ray = import_ray()
        self.ray, self.spec, self.log, self.max_retries = ray, spec, log, max_retries
        self.weights, self.start_wait = weights, start_wait
        self.owns_connection = not ray.is_initialized()
        if self.owns_connection:
            local = address is None and not os.environ.get("RAY_ADDRESS")
            try:
                ray.init(
                    address=address,
                    include_dashboard=False if local else None,
                    log_to_driver=True,
                    runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}},
                )
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = address or os.environ.get("RAY_ADDRESS") or "this machine"
                raise RayExecutorError(
                    f"cannot start or reach the Ray cluster at {where} ({type(err).__name__}: {err}); check --ray-address "
                    "(auto, or ray://HEAD:10001) and that `ray start` runs there"
                ) from None
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if gpus >= 1 else 0.0
        if workers is None:
            workers = int(gpus // gpus_per_worker) if gpus_per_worker else int(cpus // cpus_per_worker)
        if workers < 1:
            self.close()
            raise RayExecutorError(
                f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs: no room for a worker of {cpus_per_worker:g} CPU"
                + (f" and {gpus_per_worker:g} GPU" if gpus_per_worker else "")
            )
        actor_class = ray.remote(UnitActor).options(
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
            max_restarts=MAX_RESTARTS,
            max_task_retries=0,  # the driver resends a lost unit itself, and logs it
        )
        self.actors = [actor_class.remote(spec, threads) for _ in range(workers)]
        self.places: dict = {}
        """actor -> where() of its current process (node id, host, pid)."""
        self.units_by_node: Counter = Counter()
        self.retries: list[str] = []
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        log(
            f"ray: {workers} worker{'s' * (workers != 1)} ({cpus_per_worker:g} CPU"
            + (f", {gpus_per_worker:g} GPU" if gpus_per_worker else "")
            + f" each) on a cluster of {nodes} nodes, {cpus:g} CPUs, {gpus:g} GPUs"
        )

    # ------------------------------------------------------------------ the run
    def run(self, units: Iterable, on_result: Callable) -> None:
        dispatch = _Dispatch(self, self.spec.schedule(list(units)), on_result)
        while dispatch.pending or dispatch.running:
            if not dispatch.step():
                break
        if dispatch.failure is not None:
            raise dispatch.failure
        if self.units_by_node:
            counts = ", ".join(f"node {node[:12]}: {n}" for node, n in self.units_by_node.items() if node)
            self.log(f"ray: units per node: {counts}" + (f"; {len(self.retries)} units resent" if self.retries else ""))

    def check_weights(self, place: dict) -> None:
        """Stop the run when a worker loaded other weights than the driver (:func:`other_weights`)."""
        mine = self.weights or {}
        other = other_weights(mine, place["weights"])
        if other:
            sha, description = place["weights"][other]
            self.close()
            raise RayExecutorError(
                f"the Ray worker on {place['host']} loaded other weights for {other} than this process: "
                f"{description} (sha256 {sha}) instead of {mine[other][1]} (sha256 "
                f"{mine[other][0]}); give every node the same weights (--weights PATH at the same path on "
                "each, or the BENCH_*_WEIGHTS variable, or the same Keras cache)"
            )

    def close(self) -> None:
        ray = self.ray
        for actor in getattr(self, "actors", []):
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
        self.actors = []
        if self.owns_connection and ray.is_initialized():
            ray.shutdown()


def other_weights(driver: dict, worker: dict) -> str | None:
    """The first model whose weights differ between the driver's and a worker's
    {model: (sha256, description)}: by sha256 when either has one, else by description."""
    for model, (sha, description) in worker.items():
        if model in driver:
            theirs = driver[model]
            if (sha != theirs[0]) if (sha or theirs[0]) else (description != theirs[1]):
                return model
    return None


def _first_lines(err: BaseException, count: int = 2) -> str:
    return " ".join(str(err).strip().splitlines()[:count])


class _Dispatch:
    """One :meth:`RayExecutor.run`: the units not yet sent, the actors idle, computing, probed
    (asked where they run: the answer comes once the model is loaded) or to be probed again
    later (restarting), and the first failure. Each :meth:`step` waits for one answer."""

    def __init__(self, executor: RayExecutor, units: list, on_result: Callable):
        self.executor, self.ray, self.on_result = executor, executor.ray, on_result
        self.pending: deque = deque(units)
        self.idle: deque = deque()
        self.running: dict = {}  # object ref -> (unit, actor)
        self.probing = {actor.where.remote(): actor for actor in executor.actors}  # ready when its model is loaded
        self.later: list = []  # (when, actor): a restarting actor, asked again then
        self.starting = set(executor.actors)  # not yet ready for the first time
        self.ready = progress(total=len(self.starting), desc="ray: workers ready", unit="workers")
        self.start_by = time.monotonic() + executor.start_wait
        self.attempts: Counter = Counter()
        self.failure: BaseException | None = None
        self.last_death = ""

    def step(self) -> bool:
        """Send what can be sent, wait for one answer and handle it; False when the run must stop."""
        now = time.monotonic()
        for item in [item for item in self.later if item[0] <= now]:
            self.later.remove(item)
            self.probing[item[1].where.remote()] = item[1]
        if self.starting and now >= self.start_by:
            self.executor.log(
                f"ray: {len(self.starting)} of {len(self.executor.actors)} workers not ready after "
                f"{self.executor.start_wait:g}s; starting on the others (the late ones join when ready)"
            )
            self.starting.clear()
        if not self.starting:
            self.ready.close()
        while self.idle and self.pending and self.failure is None and not self.starting:
            actor, unit = self.idle.popleft(), self.pending.popleft()
            self.running[actor.run.remote(unit)] = (unit, actor)
        if self.failure is not None and not self.running:
            return False
        if not self.running and not self.probing and not self.later:
            self.failure = WorkerLost(
                f"no Ray worker is left to compute the {len(self.pending)} remaining units; {self.last_death}"
            )
            return False
        if not self.running and not self.probing:
            time.sleep(max(0.0, min(when for when, _ in self.later) - now))
            return True
        # while workers start, wake every progress interval to say how many are ready
        waits = [1.0] * bool(self.later) + [self.start_by - now, max(1.0, line_interval())] * bool(self.starting)
        refs = list(self.running) + list(self.probing)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=max(0.0, min(waits)) if waits else None)
        if ready:
            (self._probed if ready[0] in self.probing else self._computed)(ready[0])
        if self.starting:
            self.ready.update(0)
        return True

    def _probed(self, ref) -> None:
        """An actor answered where it runs (ready), or turned out restarting or dead."""
        from ray.exceptions import ActorUnavailableError, RayActorError  # noqa: PLC0415 - Ray is an optional extra

        executor, actor = self.executor, self.probing.pop(ref)
        try:
            place = self.ray.get(ref)
        except ActorUnavailableError:  # restarting: ask again in a second
            self.later.append((time.monotonic() + 1.0, actor))
            return
        except RayActorError as err:  # dead for good (restarts used up, or its model cannot load)
            executor.actors.remove(actor)
            self.starting.discard(actor)
            self.last_death = f"the last worker lost: {err}"
            executor.log(
                f"ray: a worker could not be (re)started and is dropped; {len(executor.actors)} left: {_first_lines(err)}"
            )
            return
        executor.check_weights(place)
        previous = executor.places.get(actor)
        executor.places[actor] = place
        if previous is None or previous["pid"] != place["pid"]:
            executor.log(
                f"ray: worker {'restarted' if previous else 'ready'} on {place['host']} (node {place['node_id'][:12]}, "
                f"pid {place['pid']}), model loaded in {place['load_seconds']:.1f}s"
            )
        if actor in self.starting:
            self.starting.discard(actor)
            self.ready.update(1)
        self.idle.append(actor)

    def _computed(self, ref) -> None:
        """A unit's answer: its result (handed to on_result), the method's exception (the run
        stops after the units in flight) or its worker's death (the unit is sent again)."""
        from ray.exceptions import RayActorError, RayTaskError  # noqa: PLC0415 - Ray is an optional extra

        executor = self.executor
        unit, actor = self.running.pop(ref)
        place = executor.places.get(actor, {})
        try:
            result = self.ray.get(ref)
        except RayTaskError as err:  # the method (or the suite) raised: a bug, not retried
            if self.failure is None:
                self.failure = UnitFailed(
                    f"the unit {unit.key} failed on the Ray worker {place.get('host')} (pid {place.get('pid')}); "
                    f"its traceback:\n{err}"
                )
                executor.log(f"ray: the unit {unit.key} failed; finishing the {len(self.running)} units in flight, then stopping")
            self.idle.append(actor)
            return
        except RayActorError as err:  # the worker process died: Ray restarts it, the driver resends the unit
            self._resend(unit, place, err)
            self.probing[actor.where.remote()] = actor  # back in the pool once restarted
            return
        executor.units_by_node[place.get("node_id")] += 1
        self.on_result(unit, result)
        self.idle.append(actor)

    def _resend(self, unit, place: dict, err: BaseException) -> None:
        """Queue a unit whose worker died again, unless it has used up its retries."""
        executor = self.executor
        self.attempts[unit.key] += 1
        self.last_death = f"the worker computing {unit.key} died: {_first_lines(err)}"
        count = self.attempts[unit.key]
        if count > executor.max_retries:
            self.failure = self.failure or WorkerLost(
                f"the worker computing the unit {unit.key} died {count} time{'s' * (count != 1)} (retries allowed: "
                f"{executor.max_retries}); the run stops. Last: {err}"
            )
            return
        note = (
            f"ray: the worker computing {unit.key} (pid {place.get('pid')} on {place.get('host')}) died; "
            f"sending the unit again (retry {count} of {executor.max_retries})"
        )
        executor.retries.append(note)
        executor.log(note)
        self.pending.appendleft(unit)
