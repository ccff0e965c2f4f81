"""The thesis's facts, written once: its Tables 1-3, its protocol (Section 4.2) and Noise Mask's settings.

"Uncovering What Networks See by Noise Covering" (C.-C. Liao, NTU 2018): its published
numbers, the order of its methods, its experimental protocol and the faithful Noise Mask
settings. ``methods.noise_mask.NoiseMask.defaults``, the ``paper`` profile and the run
report read them from here, so they agree by construction.

Figures the suite measured itself (e.g. how close the ``fast`` Noise Mask preset comes to
the converged optimum) are not here: they live in
``bench/report/noise_mask_convergence.json``, written by the measurement, and the
report reads them from there.
"""

from __future__ import annotations

from typing import TypedDict

METHOD_ORDER = ("deeplift", "intgrad", "elrp", "sensitivity", "perturbation", "noise_mask")
"""The methods in the order of the thesis's tables; ``perturbation`` is its name for occlusion."""

MODEL = "inception_v3"
INPUT_SIZE = 299
IMAGES = 200
"""Images drawn at random from the 1,000 NIPS-2017 development images."""
CURVE_STEPS = 800
PIXELS_PER_STEP = 100
CURVE_COVERAGE = CURVE_STEPS * PIXELS_PER_STEP / (INPUT_SIZE * INPUT_SIZE)
"""80,000 / 89,401 = 0.8948...: the share of a 299x299 image the thesis's 800 steps replace."""

NOISE_MASK = {
    "learning_rate": 0.015,  # Adam (the thesis's LazyAdam equals Adam for a dense variable)
    "init": 0.95,  # M0: M close to 1 everywhere, the mask starts by keeping the image
    "max_iterations": 15000,  # the thesis ran 5,000 to 15,000 iterations
    "layer": None,  # the logits
}
"""The faithful Noise Mask settings the report checks a run against."""


class Tables(TypedDict):
    """The thesis's Tables 1-3 per method."""

    png_kb: dict[str, tuple[float, float]]
    ssim: dict[str, tuple[float, float]]
    abpc: dict[str, float]


TABLES: Tables = {
    # Table 1: PNG size of the maps, KB (mean, std)
    "png_kb": {
        "deeplift": (75.3, 5.5),
        "intgrad": (77.5, 4.5),
        "elrp": (76.8, 4.7),
        "sensitivity": (75.5, 3.6),
        "perturbation": (32.3, 3.8),
        "noise_mask": (30.2, 7.5),
    },
    # Table 2: SSIM between the map and the image (mean, std)
    "ssim": {
        "deeplift": (0.039, 0.05),
        "intgrad": (0.022, 0.04),
        "elrp": (0.030, 0.05),
        "sensitivity": (0.007, 0.01),
        "perturbation": (0.039, 0.039),
        "noise_mask": (0.599, 0.12),
    },
    # Table 3: ABPC (unit not stated; a sum over 800 steps by its scale)
    "abpc": {
        "deeplift": 1783.62,
        "intgrad": 885.839,
        "elrp": 345.742,
        "sensitivity": 1926.34,
        "perturbation": 1092.98,
        "noise_mask": 5243.72,
    },
}
"""Inception V3, 299x299, 200 NIPS-2017 images."""

PROTOCOL = {
    "model": MODEL,
    "images": IMAGES,
    "methods": list(METHOD_ORDER),
    "steps": CURVE_STEPS,
    "pixels_per_step": PIXELS_PER_STEP,
}
"""What the ``paper`` profile takes from the thesis (``[run] protocol = "thesis"``)."""
