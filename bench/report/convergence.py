"""How far a Noise Mask setting is from the faithful optimum, as measured once.

``bench/report/noise_mask_convergence.json`` (written by
tools/noise_mask_reference/make_table.py --json) holds, for the faithful optimiser and the
variants tried, the mean objective gap and blurred-mask r against faithful runs continued
to convergence, per pass count, on EfficientNet-Lite0 and 16 shared images, and the
seed-to-seed ceiling. The run report looks up the run's setting in it and plots it.
"""

from __future__ import annotations

import json
from importlib.resources import files

MEASURED_MODEL = "efficientnet_lite0"
_PLAIN = {"init": 0.95, "adam_epsilon": 1e-8, "layer": None}  # what every measured variant shares


def load_summary() -> dict:
    return json.loads((files("bench.report") / "noise_mask_convergence.json").read_text())


def is_constant_lr(variant: dict) -> bool:
    """The suite's optimiser as it is (full-resolution V, one draw per step) at a constant lr."""
    return variant["plain"] and variant["full_resolution"] and variant["schedule"] == "const"


def measured_point(summary: dict, model: str, params: dict, passes: int) -> dict | None:
    """The measured point for a constant-lr, full-resolution run of ``passes`` steps, or None."""
    if model != MEASURED_MODEL or any(params.get(k) != v for k, v in _PLAIN.items()):
        return None
    for variant in summary["variants"]:
        if is_constant_lr(variant) and abs(variant["lr"] - float(params["learning_rate"])) < 1e-9:
            for point in variant["points"]:
                if point["passes"] == passes:
                    return {**point, "variant": variant["name"]}
    return None
