"""One unit of a run's work, computed wherever a worker runs (this process or a cluster).

A :class:`Unit` is a (method, image chunk) pair the results store lacks: it carries the
pixels, targets, per-image seeds and unperturbed scores of its images, so a worker needs
no shared filesystem. A :class:`Worker` loads the model and builds the methods once
(:class:`WorkSpec`) and turns units into :class:`UnitResult` objects; the driver alone
writes them (:func:`write_result`), so the run folder has one writer. Every executor runs
the same units through the same code, so where they run does not change a number.

Executors need only the unit protocol (:mod:`bench.execution.protocol`), which the studies'
work follows too: a spec (picklable) has ``make_worker()`` and ``schedule(units)``; a worker has
``run(unit)`` and ``weights()``; a unit has ``key`` and ``image_ids``.

A unit may carry stored relevance maps (``relevance``): then only the curves of the
replacements it names are computed (a run extended with another ``metrics.replacement``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import metrics
from bench.run.profile import curve_grid
from bench.run.store import MAP_SHA256, RANDOM_ORDER, RunStore, curve_key
from methods import ModelCosts, build_method
from metrics.per_image import curve_metrics, map_metrics
from models import get_model


@dataclass(frozen=True)
class WorkSpec:
    """What a worker builds once: the model and the methods (by registry name and parameters)."""

    model: str
    weights: str | None
    methods: dict[str, tuple[str, dict]]
    """built method name -> (the name or ``module:Class`` it was built from, its parameters)."""
    metric_settings: dict
    """The run's metric settings, with ``pixels_per_step`` and ``road_pixels_per_step`` resolved to numbers."""

    def make_worker(self) -> Worker:
        """The worker an executor's process builds (loads the model, builds the methods)."""
        return Worker(self)

    def schedule(self, units: list[Unit]) -> list[Unit]:
        """The units in decreasing estimated cost (the longest-processing-time rule): on many
        workers the run then ends soon after its longest unit instead of starting it last. The
        order does not change a result (records are per image); without an estimate the plan's
        order is kept."""
        try:
            methods = {name: build_method(source, params) for name, (source, params) in self.methods.items()}
            costs = [estimated_cost(u, methods, self.metric_settings) for u in units]
        except Exception:
            return units
        return [units[k] for k in sorted(range(len(units)), key=lambda k: -costs[k])]


@dataclass
class Unit:
    method: str
    """A method's name, or :data:`bench.run.store.RANDOM_ORDER` for the random-order curves."""
    image_ids: list[str]
    pixels: np.ndarray
    targets: np.ndarray
    seeds: list[int]
    base_logits: np.ndarray
    """The unperturbed logits (step 0), computed once by the driver for every image."""
    replacements: tuple[str, ...]
    relevance: np.ndarray | None = None
    """Stored maps: compute only the curves (of ``replacements``) and keep the map and its metrics."""

    @property
    def key(self) -> str:
        ids = self.image_ids[0] if len(self.image_ids) == 1 else f"{self.image_ids[0]}..{self.image_ids[-1]}"
        return f"{self.method} [{ids}] ({len(self.image_ids)} image{'s' * (len(self.image_ids) != 1)})"


@dataclass
class UnitResult:
    method: str
    image_ids: list[str]
    curves: list[dict[str, tuple[np.ndarray, np.ndarray]]]
    """Per image: record key (``morf``, ``road:lerf``, ...) -> (logits, probabilities)."""
    values: list[dict[str, float]]
    series: list[dict[str, np.ndarray]] = field(default_factory=list)
    relevance: np.ndarray | None = None
    """New maps (None when the unit reused stored ones)."""
    gray: np.ndarray | None = None
    explain_seconds: float = 0.0
    metrics_seconds: float = 0.0
    curve_seconds: dict[str, float] = field(default_factory=dict)
    """replacement -> seconds spent on its curves (part of ``metrics_seconds``)."""
    imputation_seconds: float = 0.0
    """Seconds of ROAD's imputations in those curves (a background thread, overlapping the model's passes)."""


def estimated_cost(
    unit: Unit, methods: dict, metric_settings: dict, costs: ModelCosts | None = None, curve_step: dict[str, float] | None = None
) -> float:
    """A unit's cost: its method's own estimate (:meth:`methods.SaliencyMethod.estimate_seconds`)
    and its curves. With the model's measured ``costs`` (and ``curve_step``: seconds per image
    and curve step, by replacement; default one forward pass) it is in seconds
    (:func:`bench.run.planning.unit_estimates`); without, in forward passes of one image with a
    backward pass = 3 forward passes, only an order for the schedule."""
    costs = costs or ModelCosts(1.0, 3.0, tuple(unit.pixels.shape[1:3]))
    curves = sum(curve_grid(metric_settings, r)[0] * (curve_step or {}).get(r, costs.forward) for r in unit.replacements)
    if unit.method == RANDOM_ORDER:
        return len(unit.image_ids) * curves
    explain = 0.0
    if unit.relevance is None:
        explain = methods[unit.method].estimate_seconds(costs)
    return len(unit.image_ids) * (explain + 2 * curves)


class Worker:
    """Computes units with one loaded model and one set of built methods."""

    def __init__(self, spec: WorkSpec, model=None, methods: dict | None = None):
        self.spec = spec
        self.model = model if model is not None else get_model(spec.model, weights=spec.weights)
        self.methods = methods if methods is not None else {n: build_method(s, p) for n, (s, p) in spec.methods.items()}

    def weights(self) -> dict[str, tuple[str | None, str]]:
        """model name -> (weights sha256, weights description) of the model this worker loaded."""
        return {self.spec.model: (self.model.weights_sha256, self.model.weights)}

    def evaluator(self, unit: Unit, replacement: str) -> metrics.CurveEvaluator:
        ms = self.spec.metric_settings
        steps, pixels_per_step = curve_grid(ms, replacement)
        return metrics.CurveEvaluator(
            self.model,
            unit.pixels,
            unit.targets,
            pixels_per_step=pixels_per_step,
            steps=steps,
            seed=unit.seeds,
            batch_size=int(ms["batch_size"]),
            unperturbed_logits=unit.base_logits,
            replacement=replacement,
        )

    def run(self, unit: Unit) -> UnitResult:
        n = len(unit.image_ids)
        if unit.method == RANDOM_ORDER:
            result = UnitResult(unit.method, unit.image_ids, [{} for _ in range(n)], [{} for _ in range(n)])
            for replacement in unit.replacements:
                t0 = time.perf_counter()
                evaluator = self.evaluator(unit, replacement)
                random = evaluator.random_curves()
                result.imputation_seconds += evaluator.imputation_seconds
                for row in range(n):
                    result.curves[row][curve_key(replacement, "random")] = (random.logits[row], random.probs[row])
                result.curve_seconds[replacement] = time.perf_counter() - t0
            result.metrics_seconds = sum(result.curve_seconds.values())
            return result

        method = self.methods[unit.method]
        t0 = time.perf_counter()
        result = UnitResult(unit.method, unit.image_ids, [{} for _ in range(n)], [{} for _ in range(n)])
        relevance = unit.relevance
        after_curves: list[dict[str, float]] = [{} for _ in range(n)]
        if relevance is None:
            explanation = method.explain(self.model, unit.pixels, unit.targets)
            relevance = explanation.relevance
            result.relevance = relevance
            result.gray = np.stack([metrics.grayscale_map(r, signed=method.signed) for r in relevance])
            result.series = [
                {key: value[row][~np.isnan(value[row])] for key, value in explanation.series.items()} for row in range(n)
            ]
            png_level = self.spec.metric_settings["png_compress_level"]
            for row in range(n):
                result.values[row].update(map_metrics(result.gray[row], unit.pixels[row], png_level))
                after_curves[row]["method_seconds"] = explanation.seconds / n
                after_curves[row].update({key: float(value[row]) for key, value in explanation.diagnostics.items()})
            result.explain_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        for replacement in unit.replacements:
            t2 = time.perf_counter()
            evaluator = self.evaluator(unit, replacement)
            morf, lerf = evaluator.curves(relevance, "morf"), evaluator.curves(relevance, "lerf")
            result.imputation_seconds += evaluator.imputation_seconds
            for row in range(n):
                result.curves[row][curve_key(replacement, "morf")] = (morf.logits[row], morf.probs[row])
                result.curves[row][curve_key(replacement, "lerf")] = (lerf.logits[row], lerf.probs[row])
                result.values[row].update(
                    curve_metrics(morf.logits[row], lerf.logits[row], morf.probs[row], lerf.probs[row], replacement)
                )
            result.curve_seconds[replacement] = time.perf_counter() - t2
        for row in range(n):
            result.values[row].update(after_curves[row])
        result.metrics_seconds = time.perf_counter() - t1
        return result


def write_result(store: RunStore, result: UnitResult) -> None:
    """Store a unit's maps and records (the driver's job). A unit that reused stored maps
    adds its curves and metrics to the records already there."""
    for row, image_id in enumerate(result.image_ids):
        curves, values, series = result.curves[row], result.values[row], result.series[row] if result.series else {}
        map_hash = None
        if result.relevance is not None and result.gray is not None:
            map_hash = store.save_map(result.method, image_id, result.relevance[row], result.gray[row])
        elif store.has(result.method, image_id):
            old = store.read_record(store.record_path(result.method, image_id))
            map_hash = str(old[MAP_SHA256]) if MAP_SHA256 in old else None
            curves = store.record_curves(old) | curves
            values = dict(zip(map(str, old["metric_names"]), map(float, old["metric_values"]))) | values
            series = {k[len("series_") :]: v for k, v in old.items() if k.startswith("series_")} | series
        store.save_record(result.method, image_id, curves, values, series, map_hash)
