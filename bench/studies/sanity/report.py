"""The sanity check's Markdown: its own ``report.md`` (:func:`build_report`: settings, summary,
per-step tables, figures, cost) and the section a run report shows (:func:`report_section`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from bench.core.markdown import escape, table
from bench.datasets import credits_line
from bench.studies.sanity.summary import NEAR_ZERO, STAYS_SIMILAR
from bench.studies.sanity.units import SANITY_DEFAULTS


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _stat(entry: dict | None, digits: int = 2, nan: int = 0) -> str:
    if entry is None:
        return f"n/a ({nan} NaN: constant maps)" if nan else "n/a"
    nans = f", {entry['nan']} NaN" if entry.get("nan") else ""
    return (
        f"{entry['mean']:+.{digits}f} [{entry['ci_low']:+.{digits}f}, {entry['ci_high']:+.{digits}f}] "
        f"(min {entry['min']:+.{digits}f}, max {entry['max']:+.{digits}f}{nans})"
    )


def summary_lines(run: dict, mode: str = "cascading") -> list[str]:
    """The table of each method's similarity after full randomisation, verdict and compute time."""
    summ = run["summary"][mode]
    header = ["method", "Spearman after full randomisation", "SSIM after full randomisation", "verdict", "compute"]
    rows = []
    for method in run["methods"]:
        e = summ[method]
        nan = e["nan"]
        stats = [_stat(e["spearman"], nan=nan["spearman"]), _stat(e["ssim"], nan=nan["ssim"])]
        rows.append([escape(method), *stats, e["verdict"], duration(run["compute_s"][method])])
    return table(header, rows)


def step_table(randomisation: pd.DataFrame, column: str) -> list[str]:
    """The mean over images of ``column`` per step (rows) and method (columns)."""
    methods = list(dict.fromkeys(randomisation["method"]))
    means = randomisation.groupby(["step", "method"])[column].mean().unstack()[methods]
    layers = randomisation.drop_duplicates("step").set_index("step")["layer"]
    rows = [[step, escape(layers[step]), *(f"{v:+.3f}" for v in row.values)] for step, row in means.iterrows()]
    return table(["step", "randomised down to", *map(escape, methods)], rows)


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def report_section(sanity_dir: Path, relative_to: Path | None = None) -> list[str]:
    """Markdown lines for a run report: the summary table of the sanity folder ``sanity_dir``
    and its figure, linked relative to ``relative_to`` (default: the folder above, where a run
    report sits when the sanity folder is ``RUN_DIR/sanity``). An unfinished folder gives a
    line saying so."""
    sanity_dir = Path(sanity_dir)
    relative_to = sanity_dir.parent if relative_to is None else Path(relative_to)
    head = ["## Sanity check: model-parameter randomisation", ""]
    try:
        run = json.loads((sanity_dir / "sanity.json").read_text())
    except (OSError, ValueError):
        return [*head, f"`{_relative(sanity_dir, relative_to)}` holds no readable sanity.json (no finished sanity run).", ""]
    if run.get("status") != "complete" or "summary" not in run:
        return [
            *head,
            f"The sanity run in `{_relative(sanity_dir, relative_to)}` has not finished (status {run.get('status')}).",
            "",
        ]
    rand = run["randomisation"]
    mode = "cascading" if "cascading" in run["summary"] else next(iter(run["summary"]))
    suffix = "" if mode == "cascading" else "-independent"
    figure = _relative(sanity_dir / "figures" / f"randomisation{suffix}.png", relative_to)
    return [
        *head,
        f"{run['model']}, {len(run['image_ids'])} images; weights randomised {mode} from the top in "
        f"{len(rand['groups'])} steps ({rand['granularity']}s: {', '.join(g['name'] for g in rand['groups'])}), "
        f"rule `{rand['rule']}`, seed {rand['seed']}; targets: the original model's top-1 class. Each cell: mean over "
        "images [95% bootstrap CI] (min, max) of the similarity between the map of the fully randomised model and the "
        "original map. A method that explains the model falls to about 0 "
        f'(verdict rule: CI inside ±{NEAR_ZERO}; "stays similar": CI\'s lower end ≥ {STAYS_SIMILAR}).',
        "",
        *summary_lines(run, mode),
        "",
        f"![Randomisation curves]({figure})",
        "",
        f"Details: `{_relative(sanity_dir / 'report.md', relative_to)}`.",
        "",
    ]


def _settings_lines(run: dict) -> list[str]:
    rand = run["randomisation"]
    calls = run["wall_s_calls"]
    return [
        f"- model: {run['model']} ({run['weights']})",
        f"- data: {run['data']}; {len(run['image_ids'])} images: {', '.join(run['image_ids'])}",
        f"- randomisation: rule `{rand['rule']}`, seed {rand['seed']}, {rand['granularity']} groups, modes "
        f"{', '.join(run['modes'])}; groups top first: "
        + "; ".join(f"{g['name']} ({len(g['layers'])} layer{'s' if len(g['layers']) > 1 else ''})" for g in rand["groups"]),
        "- rules: `shuffle` permutes each weight array's entries (seeded per layer and array; keeps each array's values, "
        "so activations keep their scale); `reinit` draws from the layer's Keras initializer; `permute` is Quantus 0.6.0's "
        "(first axis only). See models/randomisation.py.",
        "- methods and parameters: "
        + "; ".join(f"{m} ({', '.join(f'{k}={v}' for k, v in run['method_params'][m].items())})" for m in run["methods"]),
        "- the sanity check's cheaper defaults, where `--param` did not override them (each step explains every image "
        "again): "
        + "; ".join(f"{m}: {', '.join(f'{k}={v}' for k, v in d.items())}" for m, d in SANITY_DEFAULTS.items())
        + " (Noise Mask's fast preset runs 3,200 iterations at that learning rate; occlusion's default stride is 4)",
        f"- cost: {duration(sum(calls))} wall time"
        + (f" in {len(calls)} calls ({', '.join(duration(w) for w in calls)})" if len(calls) > 1 else "")
        + f" ({len(run['image_ids'])} images, {1 + len(rand['groups']) * len(run['modes'])} passes per method); "
        "compute per method, all steps: " + ", ".join(f"{m} {duration(s)}" for m, s in run["compute_s"].items()),
    ]


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _mode_lines(run: dict, mode: str, randomisation: pd.DataFrame) -> list[str]:
    suffix = "" if mode == "cascading" else "-independent"
    methods = run["methods"]
    contrast = run["map_contrast"][mode]
    models = [
        [s["step"], escape(s["group"]), _number(s.get("top1_kept"), ".2f"), _number(s.get("logit_std"), ".3g")]
        for s in run["steps"][mode]
    ]
    return [
        f"## {mode.capitalize()} randomisation",
        "",
        "Similarity after full randomisation (the last step"
        + (")" if mode == "cascading" else "; in independent mode: the stem alone)")
        + f": mean [95% bootstrap CI] (min, max) over images. Verdict: falls to ~0 when the Spearman CI lies inside "
        f"±{NEAR_ZERO}; stays similar when its lower end is ≥ {STAYS_SIMILAR}.",
        "",
        *summary_lines(run, mode),
        "",
        f"![randomisation curves](figures/randomisation{suffix}.png)",
        "",
        f"![maps of the first image](figures/maps{suffix}_{run['image_ids'][0]}.png)",
        "",
        "Mean Spearman per step:",
        "",
        *step_table(randomisation, "spearman"),
        "",
        "Mean SSIM per step:",
        "",
        *step_table(randomisation, "ssim"),
        "",
        "Map contrast per step: std of abs(map)/max, mean over images (a flat map has 0; a similarity near 0 to a "
        "flat map means the randomised model's map has no structure, rather than another structure):",
        "",
        *table(
            ["step", *map(escape, methods)],
            [[k, *(f"{contrast[m][k]:.3f}" for m in methods)] for k in range(len(run["steps"][mode]))],
        ),
        "",
        "The randomised model per step (fraction of images whose top-1 class is still the original's; std of all logits):",
        "",
        *table(["step", "group", "top-1 kept", "logit std"], models),
        "",
    ]


def build_report(run: dict, tables: dict[str, pd.DataFrame]) -> str:
    """report.md of a finished sanity folder, from its manifest (sanity.json's content) and its
    table per mode."""
    lines = [
        "# Sanity check: model-parameter randomisation (Adebayo et al. 2018)",
        "",
        "Does the map depend on the model? Each map of the original model (step 0) is compared with the map of the same "
        "image and class (the original model's top-1) after the weights were randomised group by group from the top. "
        "Similarity: Spearman rank correlation of abs(relevance), and SSIM of abs(relevance)/max (as Quantus's MPRT). "
        "A method that explains the model falls to about 0.",
        "",
        "## Settings",
        "",
        *_settings_lines(run),
        "",
    ]
    for mode, randomisation in tables.items():
        lines += _mode_lines(run, mode, randomisation)
    lines += [credits_line(run["image_ids"], run["authors"], run["licenses"]), ""]
    return "\n".join(lines)
