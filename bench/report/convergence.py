"""How far a Noise Mask setting is from the faithful optimum, as measured once.

``bench/report/noise_mask_convergence.json`` (written by
tools/noise_mask_reference/make_table.py --json) holds, for the faithful optimiser and the
variants tried, the mean objective gap and blurred-mask r against faithful runs continued
to convergence, per pass count, on EfficientNet-Lite0 and 16 shared images, and the
seed-to-seed ceiling. The run report looks up the run's setting in it (:func:`section`) and
plots it (:func:`convergence_figure`).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pandas as pd

from bench.core.plotting import plt, save_figure
from methods.noise_mask_settings import preset_values

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


def _noise_mask_setting(params: dict) -> str:
    """'preset `fast` (Adam lr 0.06)', plus the parameters a run changed from its preset."""
    name = params.get("preset", "faithful")  # runs from before presets were parameters have none
    expected = preset_values(name)
    changed = [
        f"{k}={params.get(k)}"
        for k in ("learning_rate", "max_iterations", "window", "init", "adam_epsilon", "layer")
        if params.get(k) != expected.get(k)
    ]
    return (
        f"preset `{name}`"
        + (f" with {', '.join(changed)} changed" if changed else "")
        + f" (Adam lr {params['learning_rate']:g})"
    )


def section(run: dict, metrics: pd.DataFrame, figure: Path) -> list[str]:
    """The report's section: where this run's Noise Mask setting sits against faithful runs
    continued to convergence, with the measured curves as a figure (drawn to ``figure``)."""
    params = run["method_params"].get("noise_mask")
    iterations = metrics[(metrics["method"] == "noise_mask") & (metrics["metric"] == "iterations")]["value"]
    if params is None or iterations.empty:
        return []
    summary = load_summary()
    ceiling = summary["ceiling"]
    lo, hi = int(iterations.min()), int(iterations.max())
    point = measured_point(summary, run["model"], params, lo) if lo == hi else None
    setting = f"{_noise_mask_setting(params)}, " + (
        f"{lo:,} steps per image" if lo == hi else f"{lo:,}-{hi:,} steps per image (stopping rule)"
    )
    lines = ["\n## Noise Mask: distance from the faithful optimum\n", f"This run: {setting}."]
    if point:
        lines.append(
            f"Measured for this setting ({MEASURED_MODEL}, 16 NIPS-2017 images, against faithful runs continued "
            f"to convergence): objective {point['gap_mean']:+.1%} (worst image {point['gap_max']:+.1%}), blurred-mask "
            f"r {point['r_mean']:.3f} (lowest {point['r_min']:.3f})."
        )
    else:
        lines.append(
            f"This setting was not measured against the converged reference (measured: {MEASURED_MODEL}, "
            "constant learning rates at the pass counts in the figure), so how close its masks are to the "
            "faithful result is unknown."
        )
    lines.append(
        f"Two converged faithful runs with different noise seeds differ by {ceiling['gap_abs_mean']:.1%} in objective "
        f"and agree to r {ceiling['r_mean']:.3f}: no setting can be expected to do better. Source: "
        "`bench/report/noise_mask_convergence.json`, `tools/noise_mask_reference/NOTES.md`."
    )
    convergence_figure(summary, figure, (lo, point["gap_mean"], point["r_mean"]) if point else None)
    return lines


def convergence_figure(
    summary: dict,
    path: Path,
    mark: tuple[int, float, float] | None = None,
    title: str = "Noise Mask convergence (measured once: EfficientNet-Lite0, 16 NIPS-2017 images)",
) -> None:
    """Objective gap and blurred r against the converged faithful reference vs passes per
    image, for the constant-lr settings measured, with the seed-to-seed ceiling; ``mark``
    = (passes, gap, r) of this run's setting."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for variant in summary["variants"]:
        if not is_constant_lr(variant):
            continue
        p = [pt["passes"] for pt in variant["points"]]
        style = "o-" if len(p) > 1 else "s"
        label = variant.get("label", f"Adam lr {variant['lr']:g}")
        axes[0].plot(p, [100 * pt["gap_mean"] for pt in variant["points"]], style, label=label)
        axes[1].plot(p, [pt["r_mean"] for pt in variant["points"]], style, label=label)
    ceiling = summary.get("ceiling")
    if ceiling:
        axes[0].axhline(100 * ceiling["gap_abs_mean"], ls="--", c="grey", label="two converged seeds: mean |gap|")
        axes[1].axhline(ceiling["r_mean"], ls="--", c="grey", label="two converged seeds: r")
    if mark is not None:  # a ring, drawn over the measured points: the setting it circles stays visible
        ring = dict(marker="o", ms=17, mfc="none", mec="black", mew=1.8, ls="none", zorder=5, label="this run's setting")
        axes[0].plot(mark[0], 100 * mark[1], **ring)
        axes[1].plot(mark[0], mark[2], **ring)
    labels = ["objective gap to the converged\nreference (%)", "blurred r (σ 2 px) to the\nconverged reference"]
    for ax, label in zip(axes, labels):  # two lines: one would run past the panel's height
        ax.set_xscale("log")
        ax.set_xlabel("passes (optimisation steps) per image")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    gaps = [pt["gap_mean"] for v in summary["variants"] for pt in v["points"]]
    if min(gaps, default=1) > 0:
        axes[0].set_yscale("log")
    else:  # a setting below the reference's objective
        axes[0].set_yscale("symlog", linthresh=1)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
