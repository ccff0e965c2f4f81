"""Noise Mask's parameters and named presets, apart from the method (which needs TensorFlow), so
that the command line and the report can list and check them without loading it."""

from __future__ import annotations

from typing import Any, NoReturn

from common import thesis

from .base import Param, batch_size_param

PRESETS: dict[str, dict[str, Any]] = {
    # the thesis's settings (paper profile): run to convergence, <= 15,000 steps
    "faithful": {},
    # 4x the learning rate, a fixed 3,200 steps (window = max_iterations: no early stop,
    # the stochastic-trace rule is too noisy for short windows)
    "fast": {"learning_rate": 0.06, "max_iterations": 3200, "window": 3200},
    # 2x the learning rate, 6,400 steps
    "balanced": {"learning_rate": 0.03, "max_iterations": 6400, "window": 6400},
}
"""Named settings; their measured distance from the faithful optimum is in
bench/report/noise_mask_convergence.json."""
FAST = PRESETS["fast"]


MAX_ITERATIONS = 1_000_000
"""The iteration cap's upper bound: 66x the thesis's 15,000 (which took 0.7-2 min per image on
a GPU); a larger cap is a typo, not an experiment."""
MAX_DRAWS = 4096
"""Noise images averaged for beta0 or the final loss term: 128x the default 32."""

PARAMETERS: dict[str, Param] = {
    "preset": Param("faithful", str, "a name in PRESETS: its values replace these defaults", choices=tuple(PRESETS)),
    "layer": Param(None, str, "layer whose output F_l is compared (None: the logits)", optional=True),
    "learning_rate": Param(thesis.NOISE_MASK["learning_rate"], float, "Adam learning rate", positive=True),
    "adam_epsilon": Param(1e-8, float, "Adam epsilon (LazyAdam's default in TF1)", positive=True),
    "init": Param(
        thesis.NOISE_MASK["init"],
        float,
        "initial mask value M0, in (0, 1)",
        check=lambda v: v if 0 < v < 1 else _raise(f"must be in (0, 1); got {v!r}"),
    ),
    "max_iterations": Param(thesis.NOISE_MASK["max_iterations"], int, "iteration cap", low=1, high=MAX_ITERATIONS),
    "window": Param(500, int, "iterations per convergence window", low=1, high=MAX_ITERATIONS),
    "tolerance": Param(1e-3, float, "relative fall per window below which an image has converged", low=0),
    "beta": Param(None, float, "loss weight (None: beta0 from beta_draws noise images)", optional=True, positive=True),
    "beta_draws": Param(8, int, "noise images averaged for beta0", low=1, high=MAX_DRAWS),
    "eval_draws": Param(32, int, "fixed noise draws for the reported final loss term", low=1, high=MAX_DRAWS),
    "batch_size": batch_size_param(8),
    "seed": Param(0, int, "noise seed"),
}
""":class:`methods.noise_mask.NoiseMask`'s parameters."""


def preset_values(name: str) -> dict[str, Any]:
    """Every parameter's value under the preset ``name`` (the defaults, then the preset's)."""
    return {**{key: param.default for key, param in PARAMETERS.items()}, **PRESETS.get(name, {})}


def _raise(message: str) -> NoReturn:
    raise ValueError(message)
