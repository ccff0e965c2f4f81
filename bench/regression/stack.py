"""The stack a reference was made on against the stack a check runs on, and how far a method that
is one of the reference's baselines may differ from its stored values when the two differ.

On the reference's own stack (:data:`STACK_PACKAGES` at the versions its reference.json records)
a baseline recomputed by ``bench check`` equals its stored values bit for bit. On another stack
the same code can round differently in the last bits: TensorFlow's kernels (another release, or
another instruction set picked at run time for the same CPU kernels), numpy's ``exp`` and sums,
scikit-image's resizing and SSIM. What those last bits do to each metric is bounded in
:data:`ROUNDING` (measured and justified in :func:`rounding_tolerance`), and the verdict against
the stored self must stay "indistinguishable". ``bench check`` names the differing packages in
check.md (:func:`stack_note`).

Not recorded in a reference, so not compared: Pillow and its zlib (the PNG encoder; the same
uint8 map gave the same bytes on every stack measured), and the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bench.core.markdown import code, escape, table
from metrics.per_image import CURVE_METRICS, curve_metric_name
from metrics.perturbation import REPLACEMENTS

STACK_PACKAGES = ("python", "tensorflow", "tf-keras", "numpy", "scikit-image")
"""The versions that decide the last bits of a value (a reference records them with
:func:`bench.core.provenance.package_versions`); another Python means other builds of each.
``tensorflow-cpu`` is the same code as ``tensorflow`` of its version, so not compared apart."""

NONE = "none"

ROUNDING: dict[str, str | float] = {
    "png_bytes": "0.1%",
    "ssim": 1e-4,
    **{curve_metric_name(info.name, r): "1%" for r in REPLACEMENTS for info in CURVE_METRICS},
}
"""Per metric of the run: how far the mean over the images of (recomputed - stored) may sit from
0 on another stack, as a share of the stored values' mean magnitude ("1%") or an amount in the
metric's unit. See :func:`rounding_tolerance`."""


def stack_differences(reference: Mapping[str, str] | None, running: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(package, the reference's version, this run's) for each of :data:`STACK_PACKAGES` whose
    versions differ; :data:`NONE` where one side has none. A reference without
    recorded versions differs in every package this run has."""
    reference = reference or {}
    out = []
    for package in STACK_PACKAGES:
        old, new = reference.get(package), running.get(package)
        if old != new:
            out.append((package, old or NONE, new or NONE))
    return out


def same_stack(reference: Mapping[str, str] | None, running: Mapping[str, str]) -> bool:
    """Whether values must be reproduced bit for bit: every one of :data:`STACK_PACKAGES` at the
    reference's version."""
    return not stack_differences(reference, running)


def rounding_tolerance(metric: str, stored: Sequence[float] | np.ndarray, same: bool = False) -> float:
    """How far the mean difference (recomputed - stored) of ``metric`` over the images may sit
    from 0 when a reference's baseline is recomputed: 0 on the reference's own stack (``same``),
    elsewhere :data:`ROUNDING` (a share of ``stored``'s mean magnitude, or an amount).

    Why these bounds. A float difference in the last bits of a map changes a metric through two
    steps only: the map's quantisation to uint8 (PNG, SSIM) and the order in which the curves
    delete pixels (ABPC). Measured on the shipped references (5 methods on ``embedded-ci``,
    DeepLIFT on ``nips17-ci``) with TensorFlow 2.21 / numpy 2.4-2.5 / scikit-image 0.26 on Python
    3.11 and 3.13, and with TensorFlow's oneDNN kernels switched off (``TF_ENABLE_ONEDNN_OPTS=0``:
    every gradient rounded differently, as on a CPU that takes other kernels; it reproduces the
    PNG -0.19 B of issue 28 on ``nips17-ci``):

    * ``png_bytes``: a pixel whose value sits within rounding of a grey-level boundary can
      quantise one level apart, a handful of the 50 176 pixels; each such pixel changes deflate's
      output by a few bytes. Measured: at most 12 B of 41.8 kB (elrp) and 8 B of 10.3 kB
      (perturbation) on one image, at most 3.4 B (0.008 %) on the mean over 5 images. Bound:
      0.1 % of the mean size (42 B on a 42 kB map), above even the worst single image.
    * ``ssim``: the same few pixels one grey level apart move the mean structural similarity by
      about their share of the map. Measured: at most 4.3e-5 on one image, 1.0e-5 on the mean.
      Bound: 1e-4 as an amount, since the maps' SSIM means sit near 0 (-0.002 for DeepLIFT) and a
      share of them would be no bound.
    * ABPC (every curve metric, every replacement): pixels whose saliency ties to within
      rounding swap their deletion order, so a curve point moves by what those pixels do to the
      model (measured up to 6 % of a curve's range at one step); the area averages that out.
      Measured with oneDNN off: per image up to 1 % of the curves' total magnitude, on the mean
      over 5 images up to 0.32 % of the mean |ABPC| (Integrated Gradients, prob), 0.003 % over
      the 32 of ``nips17-ci``; with oneDNN on, 1e-16 relative (float64 summation order). Bound:
      1 % of the mean |ABPC| (magnitudes, since a method's signed ABPCs can cancel: sensitivity's
      mean is 9.6 logits, its mean magnitude 99), half the 2 % that ``--against`` tolerates by
      default, so rounding alone never fails a regression check.

    Anything larger, or a verdict other than "indistinguishable" against the stored self, is
    more than rounding: a change of the pipeline.
    """
    if same:
        return 0.0
    if metric not in ROUNDING:
        raise KeyError(f"no rounding tolerance for {metric!r}; metrics with one: {', '.join(ROUNDING)}")
    bound = ROUNDING[metric]
    if isinstance(bound, str):
        return float(bound.rstrip("%")) / 100 * float(np.mean(np.abs(np.asarray(stored, np.float64))))
    return float(bound)


def describe_rounding() -> str:
    """:data:`ROUNDING` in words, for check.md."""
    png, ssim, abpc = ROUNDING["png_bytes"], ROUNDING["ssim"], ROUNDING[CURVE_METRICS[0].name]
    return f"{png} of the mean PNG size, {ssim:g} in SSIM and {abpc} of the mean ABPC magnitude"


def stack_note(reference_name: str, reference: Mapping[str, str] | None, running: Mapping[str, str]) -> list[str]:
    """check.md's lines on the stack: none when it is the reference's, else a sentence and the
    table of the packages whose versions differ (:func:`stack_differences`)."""
    differ = stack_differences(reference, running)
    if not differ:
        return []
    return [
        f"This check ran on another stack than the reference {code(reference_name)} was made on "
        f"({len(differ)} of {', '.join(STACK_PACKAGES)} differ). Differences of rounding size are expected: "
        "the same map can round differently in its last bits, so a few pixels quantise one grey level apart "
        "and pixels whose saliency ties to within rounding are deleted in another order. A method that is one "
        "of the reference's baselines stays, on the mean over the images, within "
        f"{describe_rounding()} of its stored values, with the verdict ~ (on the reference's stack: exactly 0).",
        "",
        *table(["package", "reference", "this check"], [[escape(p), escape(old), escape(new)] for p, old, new in differ]),
    ]
