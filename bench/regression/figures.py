"""The figure of ``bench check``: its comparisons with the baselines."""

from __future__ import annotations

from pathlib import Path

from bench.core.plotting import plt, save_figure

VERDICT_COLOURS = {"better": "tab:green", "worse": "tab:red", "indistinguishable": "0.45"}


def check_figure(comparisons: list[dict], path: Path) -> None:
    """``bench check``: per metric, the mean difference (checked method minus each baseline)
    with its 95% CI, coloured by verdict, and the line of no difference."""
    metrics = list(dict.fromkeys(c["metric"] for c in comparisons))
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 0.35 * len(comparisons) / len(metrics) * rows + 1.4 * rows), squeeze=False
    )
    for ax, metric in zip(axes.ravel(), metrics):
        part = [c for c in comparisons if c["metric"] == metric]
        for y, c in enumerate(part):
            colour = VERDICT_COLOURS[c["verdict"]]
            ax.errorbar(
                c["mean_diff"],
                y,
                xerr=[[c["mean_diff"] - c["ci_low"]], [c["ci_high"] - c["mean_diff"]]],
                fmt="o",
                color=colour,
                capsize=3,
            )
        ax.axvline(0, color="0.2", lw=0.8)
        ax.set_yticks(range(len(part)), [c["baseline"] for c in part])
        ax.invert_yaxis()
        better = "right" if part[0]["higher_is_better"] else "left"
        ax.set_title(f"{metric} (better: {better})", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("checked method minus baseline: mean over images, 95% bootstrap CI", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, path)
