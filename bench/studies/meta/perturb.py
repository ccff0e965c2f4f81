"""The maps and metrics recomputed under a perturbed model: MetaQuantus's noise-resilience and
adversary-reactivity tests (Hedstrom et al., TMLR 2023) in this suite's terms.

Three models explain the same images for the same targets (the source's, i.e. the original
model's top-1 classes), and each scores its own maps with its own curves (the metric sees the
model it evaluates, as in MetaQuantus):

* ``original``: the source's model, recomputed here so that all three share the code path,
  the images and the settings;
* ``noise`` (the minor perturbation): every weight array multiplied by ``1 + N(0, noise_std)``,
  MetaQuantus's "Model Resilience Test" with its std, 0.001 (at 0.01 the target logit of an
  EfficientNet-Lite0 moves by ~0.7 and sensitivity's ABPC by half its value: not minor);
  ``top1_kept`` reports, per model, the share of images whose top-1 class is unchanged;
* ``randomised`` (the disruptive one): the fully randomised model of ``bench sanity``
  (:class:`models.randomisation.ParameterRandomiser`, stage groups, shuffled weights, seed 0),
  where MetaQuantus's "Model Adversary Test" uses multiplicative noise of std 2.

Cost is bounded by design: a few images (``images``, default 6), the cheap methods only (Noise
Mask and occlusion are left out: one Noise Mask optimisation costs about a minute per image on
two cores), and the default replacement only (ROAD's curves cost 4-10x more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.datasets import load_images
from bench.run.planning import image_seed
from bench.run.units import Unit, Worker, WorkSpec
from bench.studies.meta.settings import NOISE_STD
from common.errors import InputError
from methods import build_method, get_method, method_name
from metrics.perturbation import DEFAULT_REPLACEMENT
from models import get_model

CONDITIONS = ("original", "noise", "randomised")


@dataclass(frozen=True)
class PerturbationPlan:
    model: str
    weights: str | None
    image_ids: list[str]
    targets: list[int]
    seed: int
    metric_settings: dict
    """The source's metric settings; the curves here use the default replacement only."""
    methods: dict[str, dict]
    """method -> its parameters (the source's)."""
    noise_std: float = NOISE_STD
    noise_seed: int = 0
    sources: dict[str, str] = field(default_factory=dict)
    """method -> how it was requested where that is not its name: a plug-in's ``module:Class``
    (the source stores the class's ``name``; rebuilding it needs the class)."""


def plan_for(settings: dict, model: str, methods: list[str], images: int, noise_std: float) -> PerturbationPlan:
    """The plan for a source's ``settings`` (:attr:`bench.studies.meta.sources.MetaSource.settings`):
    its first ``images`` images and targets, those of ``methods`` it ran, with its parameters."""
    params = settings.get("method_params") or {}
    requested = {method_name(m): m for m in methods}  # module:Class -> the name the source stored it under
    chosen = [name for name in requested if name in params]
    for name in chosen:
        if requested[name] == name:
            try:
                get_method(name)
            except InputError:
                raise InputError(
                    f"--perturb-methods {name}: the source ran {name}, which is not a registered method or an installed "
                    "plug-in here; a plug-in run as module:Class is requested the same way: --perturb-methods module:Class"
                ) from None
    ids = list(settings["image_ids"])[:images]
    return PerturbationPlan(
        model=model,
        weights=None,
        image_ids=ids,
        targets=[int(t) for t in settings["targets"][: len(ids)]],
        seed=int(settings.get("seed") or 0),
        metric_settings={**settings["metrics_settings"], "replacement": [DEFAULT_REPLACEMENT]},
        methods={m: params[m] for m in chosen},
        noise_std=noise_std,
        sources={m: requested[m] for m in chosen if requested[m] != m},
    )


def noisy_copy(randomiser, std: float, seed: int):
    """A copy of the randomiser's model with every weight array multiplied by 1 + N(0, std)."""
    copy = randomiser.clone()
    rng = np.random.default_rng(seed)
    weights = copy.keras_model.get_weights()
    copy.keras_model.set_weights([w * (1 + rng.normal(0.0, std, w.shape)).astype(w.dtype) for w in weights])
    return copy


def recompute(plan: PerturbationPlan, data_dir, log=print) -> tuple[dict[str, pd.DataFrame], dict]:
    """({condition: image_id, method, metric, value}, what was done and its seconds)."""
    from models.randomisation import ParameterRandomiser  # noqa: PLC0415 - imports TensorFlow

    t_start = time.perf_counter()
    model = get_model(plan.model, weights=plan.weights)
    images, _, _ = load_images(data_dir, model.input_size, ids=plan.image_ids)
    targets = np.asarray(plan.targets)
    seeds = [image_seed(plan.seed, i) for i in images.ids]
    source = {name: plan.sources.get(name, name) for name in plan.methods}
    built = {name: build_method(source[name], params) for name, params in plan.methods.items()}
    spec = WorkSpec(plan.model, plan.weights, {n: (source[n], m.params) for n, m in built.items()}, plan.metric_settings)
    randomiser = ParameterRandomiser(model, granularity="stage", rule="shuffle", seed=0)
    models = {
        "original": lambda: model,
        "noise": lambda: noisy_copy(randomiser, plan.noise_std, plan.noise_seed),
        "randomised": lambda: randomiser.randomised(randomiser.steps),
    }
    tables, conditions = {}, {}
    setup = time.perf_counter() - t_start
    for condition in CONDITIONS:
        t0 = time.perf_counter()
        perturbed = models[condition]()
        logits = perturbed.logits(images.pixels)
        worker = Worker(spec, model=perturbed, methods=built)
        rows = []
        for name in built:
            unit = Unit(name, images.ids, images.pixels, targets, seeds, logits, (DEFAULT_REPLACEMENT,))
            result = worker.run(unit)
            rows += [(i, name, k, float(v)) for i, values in zip(images.ids, result.values) for k, v in values.items()]
        tables[condition] = pd.DataFrame(rows, columns=["image_id", "method", "metric", "value"])
        seconds = time.perf_counter() - t0
        kept = float(np.mean(logits.argmax(axis=1) == targets))
        conditions[condition] = {"top1_kept": kept, "seconds": seconds}
        log(f"  meta: {condition} model, {len(built)} methods x {len(images.ids)} images: {seconds:.0f} s, top-1 kept {kept:.0%}")
    info = {"images": images.ids, "methods": list(built), "noise_std": plan.noise_std, "conditions": conditions}
    return tables, info | {"seconds_setup": setup}
