"""Draw the documentation's figures from the shipped reference ``nips17-ci`` with the run report's
own plotting (:func:`bench.report.figures.curves_figure`): the MoRF curves of the six methods on
its 32 NIPS-2017 images, with random colours and with ROAD's imputation.

    python docs/gen_figures.py        # writes docs/assets/morf-random-colour.png, morf-road.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.regression.references import load_reference
from bench.report.figures import curves_figure
from bench.run.store import RANDOM_ORDER

ASSETS = Path(__file__).parent / "assets"
REFERENCE = "nips17-ci"


def curves_table(reference) -> pd.DataFrame:
    """The reference's mean-curve inputs in curves.csv's long form (method, order, replacement,
    step, fraction_replaced, logit), from its curves.npz (``<method>.[road:]<order>_logit``)."""
    fingerprint = reference.fingerprint
    height, width = fingerprint["model_input_size"]
    pixels_per_step = fingerprint["metrics_settings"]["pixels_per_step"]
    frames = []
    for key, values in reference.curves().items():
        method, _, curve = key.partition(".")
        if not curve.endswith("_logit"):
            continue
        replacement, _, order = curve[: -len("_logit")].rpartition(":")
        steps = np.arange(values.shape[1])
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "order": order,
                    "replacement": replacement or "random-colour",
                    "step": np.tile(steps, len(values)),
                    "fraction_replaced": np.tile(np.minimum(steps * pixels_per_step / (height * width), 1.0), len(values)),
                    "logit": values.reshape(-1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    reference = load_reference(REFERENCE)
    table = curves_table(reference)
    methods = [m for m in reference.methods if m != RANDOM_ORDER]
    for replacement in reference.replacements:
        curves_figure(table, "morf", ASSETS / f"morf-{replacement}.png", methods, replacement=replacement)


if __name__ == "__main__":
    main()
