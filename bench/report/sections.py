"""The sections of a run's report.md, each a function of the stored tables (:class:`ReportInputs`)
that returns its Markdown lines; :mod:`bench.report.run_report` puts them in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core import markdown
from bench.core.small_samples import ALPHA, images_for_a_verdict
from bench.report.claims import (
    ABPC_CLAIM,
    LERF_CLAIM,
    MAP_CLAIMS,
    MORF_CLAIM,
    NOT_SUPPORTED_BELOW,
    PNG_CLAIM,
    SSIM_CLAIM,
    SUPPORTED_AT,
    ClaimVerdict,
    evaluate_claims,
    survival,
)
from bench.run.profile import curve_grid
from bench.run.store import TIME_SPLIT, RunStore, per_method_values
from bench.studies.meta.grades import read_grades
from bench.studies.meta.report import trust_table
from bench.studies.meta.settings import META_CSV, META_FOLDER
from common import thesis
from metrics import summarise
from metrics.per_image import curve_metric_name
from metrics.perturbation import DEFAULT_REPLACEMENT, REPLACEMENT_TEXT, ROAD_PROTOCOL_STEPS


@dataclass
class ReportInputs:
    """What every section reads: the run, its consolidated tables and the statistics' settings."""

    store: RunStore
    run: dict
    metrics: pd.DataFrame
    curves: pd.DataFrame
    methods: list[str]
    """The run's methods in the thesis's order (then the others)."""
    done: list[str]
    """Those with at least one finished image."""
    replacements: list[str]
    n_boot: int
    seed: int
    images: dict[str, np.ndarray] | None
    """The run's images (verified against run.json's sha256), None when they are not found."""
    data_dir: Path
    """Where they were looked for."""

    @property
    def images_missing(self) -> str:
        return (
            f"the run's images are not in {self.data_dir} with the same pixels (rebuild the report with "
            "--data-dir pointing at the image set, if it moved)"
        )

    @property
    def fig_dir(self) -> Path:
        return self.store.root / "figures"

    def cell(self, values: np.ndarray | None, digits: int) -> str:
        return _cell(values, digits, self.seed, self.n_boot)


def _cell(values: np.ndarray | None, digits: int, seed: int, n_boot: int) -> str:
    """mean ± std [95% CI] over the finite values; images without one are counted, not hidden."""
    if values is None or len(values) == 0:
        return "n/a"
    finite = values[np.isfinite(values)]
    missing = f" ({len(values) - len(finite)} NaN)" if len(finite) < len(values) else ""
    if len(finite) == 0:
        return f"n/a{missing}"
    s = summarise(finite, n_boot=n_boot, seed=seed)
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} [{s.ci_low:.{digits}f}, {s.ci_high:.{digits}f}]{missing}"


def _table(title: str, methods: list[str], thesis_row: list[str], rows: list[tuple[str, list[str]]], note: str) -> str:
    body = markdown.table(["", *methods], [["thesis", *thesis_row], *([label, *cells] for label, cells in rows)])
    return f"### {title}\n\n" + "\n".join(body) + f"\n\n{note}\n"


def curves_figure_name(order: str, replacement: str) -> str:
    return f"{order}.png" if replacement == DEFAULT_REPLACEMENT else f"{order}_{replacement}.png"


FEW_IMAGES = "few images"
"""Marks a verdict on fewer images than `bench check`'s rule needs for any verdict."""


def _few_images(v: ClaimVerdict, family: int) -> bool:
    """Whether ``v`` is a verdict (supported or not) on fewer images than `bench check`'s rule
    needs in a family of ``family`` claims (:func:`bench.core.small_samples.images_for_a_verdict`)."""
    return v.verdict != "undecided" and v.images is not None and v.images < images_for_a_verdict(family)


def claims_table(
    rows: list[tuple[str, list[ClaimVerdict]]], first_column: str | None = None, beside: tuple[str, dict[str, str]] | None = None
) -> list[str]:
    """The claims' verdicts as a markdown table; ``rows``: (first-column label, verdicts), the
    label shown only when ``first_column`` names that column; ``beside``: (a last column's title,
    claim -> its cell). A verdict on too few images (each label's verdicts one family) is marked
    *few images* (:func:`few_images_note` says why)."""
    header = [first_column] * bool(first_column) + ["claim", "verdict", "holds in resamples", "per image", "evidence"]
    header += [beside[0]] if beside else []
    return markdown.table(
        header,
        [
            [label] * bool(first_column)
            + [
                v.claim,
                f"**{v.verdict}**" + (f" ({FEW_IMAGES})" if _few_images(v, len(verdicts)) else ""),
                f"{v.fraction:.0%}",
                f"{v.win_rate:.0%}",
                v.evidence,
            ]
            + ([beside[1].get(v.claim, "–")] if beside else [])
            for label, verdicts in rows
            for v in verdicts
        ],
    )


def few_images_note(rows: list[tuple[str, list[ClaimVerdict]]], full: bool = True) -> list[str]:
    """Why the verdicts :func:`claims_table` marks *few images* are no more than a description of
    these images, by the rule `bench check` applies (:mod:`bench.core.small_samples`); ``full``:
    the whole reason, else one sentence. Nothing when no verdict is marked."""
    marked = [(v, len(verdicts)) for _, verdicts in rows for v in verdicts if _few_images(v, len(verdicts))]
    if not marked:
        return []
    sizes = sorted({v.images for v, _ in marked if v.images is not None})
    family = max(k for _, k in marked)
    n, need = sizes[-1], images_for_a_verdict(family)
    on = f"{' or '.join(map(str, sizes))} images"
    if not full:
        return [
            "",
            f"*{FEW_IMAGES}*: a verdict on {on}, fewer than the {need} that `bench check`'s rule needs for any verdict "
            "(see the caution under the thesis's claims).",
        ]
    return [
        "",
        f"**Caution, {FEW_IMAGES}.** {len(marked)} of these verdicts rest on {on} (marked *{FEW_IMAGES}*). A resample "
        f"of {n} images redraws only those {n}, so a claim that holds on each of them holds in 100% of the resamples (and "
        "one that fails on each, in 0%): the verdict describes these images, not what another sample would show. `bench check`'s rule for such a "
        f"comparison (an exact two-sided Wilcoxon test, Holm's correction over the {family} claims) cannot reach any "
        f"verdict here: on {n} images the smallest p-value is 2/2^n ({2.0 ** (1 - n):.2g}), times {family}; "
        f"{need} images are needed for p < {ALPHA}.",
    ]


def departures(run: dict) -> list[str]:
    """Everything in this run that differs from the thesis's protocol."""
    out = []
    ms = run["metrics_settings"]
    size = thesis.INPUT_SIZE
    if run["model"] != thesis.MODEL:
        out.append(
            f"model is {run['model']} (input {run['model_input_size'][0]}x{run['model_input_size'][1]}), not Inception V3 at {size}x{size}"
        )
    if run.get("embedded_data"):
        out.append("images are the embedded scikit-image photos, not the NIPS-2017 development set")
    n, asked = len(run["image_ids"]), run.get("images_requested")
    if n != thesis.IMAGES:
        short = f": the profile asks for {asked}, and only {n} are available in the data" if asked and asked > n else ""
        out.append(f"{n} images, not {thesis.IMAGES}{short}")
    if ms["steps"] != thesis.CURVE_STEPS or ms["pixels_per_step"] != thesis.PIXELS_PER_STEP:
        frac = ms["steps"] * ms["pixels_per_step"] / np.prod(run["model_input_size"])
        out.append(
            f"perturbation curves use {ms['steps']} steps of {ms['pixels_per_step']} pixels ({frac:.1%} of the image), "
            f"not {thesis.CURVE_STEPS} steps of {thesis.PIXELS_PER_STEP}"
        )
    nm = run["method_params"].get("noise_mask")
    if nm:
        changed = {k: nm.get(k) for k, v in thesis.NOISE_MASK.items() if nm.get(k) != v}
        if changed:
            preset = f"preset `{nm['preset']}`; " if "preset" in nm else ""
            out.append(
                "Noise Mask is not the faithful setting: "
                + ", ".join(f"{k}={v}" for k, v in changed.items())
                + f" ({preset}thesis: Adam lr {thesis.NOISE_MASK['learning_rate']}, 5,000-15,000 iterations, logits)"
            )
    occ = run["method_params"].get("perturbation")
    if occ:
        out.append(
            f"occlusion uses {occ['patch_size']}x{occ['patch_size']} patches, stride {occ['stride']} (the thesis does not state its patch; 15x15 every 4 pixels is DeepExplain's Inception example)"
        )
    return out


def header(inputs: ReportInputs) -> list[str]:
    """The title, the run's setting in one list, and its departures from the thesis."""
    run, ms = inputs.run, inputs.run["metrics_settings"]
    done = inputs.metrics.groupby("method")["image_id"].nunique().to_dict()
    size = run["model_input_size"]
    lines = [
        f"# Noise Mask benchmark report: profile `{run['profile']}`\n",
        f"- **model**: {run['model']} ({size[0]}x{size[1]}, preprocessing `{run['preprocessing']}`), weights {run['weights']} "
        f"(sha256 {str(run['weights_sha256'])[:16]}…)",
        f"- **data**: {run['data']}; **{len(run['image_ids'])} images**; status: {run['status']}",
        f"- **methods**: {', '.join(inputs.methods)}; images done per method: "
        + ", ".join(f"{m} {done.get(m, 0)}" for m in inputs.methods),
        "- **curves**: "
        + "; separately, ".join(
            f"{REPLACEMENT_TEXT[r]}, {steps} steps of {pixels} pixels"
            for r in inputs.replacements
            for steps, pixels in [curve_grid(ms, r)]
        )
        + "; target = each image's top-1 class",
        f"- **baselines**: IG and DeepLIFT use zeros in the model's input space, i.e. the pixel value "
        f"{run['input_space_zero_pixel']} (a mid-grey image); occlusion patches are that value too",
        "- **versions**: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()),
    ]
    lines += headline(inputs)
    dep = departures(run)
    lines.append("\n## Departures from the thesis's protocol\n")
    lines += [f"- {d}" for d in dep] if dep else ["- none: this is the thesis's protocol"]
    return lines


def headline(inputs: ReportInputs) -> list[str]:
    """With more than one replacement: which of the thesis's curve claims survive all of them."""
    if len(inputs.replacements) < 2:
        return []
    found = survival(inputs.metrics, inputs.curves, inputs.done, inputs.replacements, inputs.n_boot, inputs.seed)
    under = " and ".join(inputs.replacements)
    some = "; ".join(f"{c} (under {', '.join(r)} only)" for c, r in found.some.items())
    maps = "; ".join(f"{c}: {v}" for c, v in found.maps.items())
    n, family = inputs.metrics["image_id"].nunique(), len(found.both) + len(found.some) + len(found.none) + len(found.maps)
    decided = found.both or found.some or any(v != "undecided" for v in found.maps.values())
    few = decided and n < images_for_a_verdict(family)
    return [
        "",
        f"**Headline.** Curve claims supported under both replacements ({under}): "
        + ("; ".join(found.both) if found.both else "**none**")
        + (f". Supported under one only: {some}" if some else "")
        + (f". Supported under neither: {'; '.join(found.none)}" if found.none else "")
        + (f". The map claims (no curves): {maps}." if maps else ".")
        + (f" On {n} images a verdict describes these images only: see the caution under the thesis's claims." if few else ""),
    ]


def _thesis_row(table: Mapping[str, tuple[float, float] | float], digits: int, methods: list[str]) -> list[str]:
    cells = []
    for m in methods:
        v = table.get(m)
        cells.append("–" if v is None else (f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}" if isinstance(v, tuple) else f"{v}"))
    return cells


def thesis_tables(inputs: ReportInputs) -> list[str]:
    """Tables 1-3 of the thesis beside this run's values (mean ± std [95% CI] over images)."""
    metrics, methods, ms = inputs.metrics, inputs.methods, inputs.run["metrics_settings"]

    def row(values: dict, digits: int) -> list[str]:
        return [inputs.cell(values.get(m), digits) for m in methods]

    area_sum = per_method_values(metrics, "abpc_sum_logit")
    lines = ["\nCells: mean ± standard deviation [95% bootstrap CI of the mean] over images.\n", "## Tables\n"]
    lines.append(
        _table(
            "Table 1: PNG size of the grayscale maps (KiB)",
            methods,
            _thesis_row(thesis.TABLES["png_kb"], 1, methods),
            [("this run", row(per_method_values(metrics, "png_bytes", 1 / 1024), 1))],
            f"8-bit grayscale PNG, zlib level {ms['png_compress_level']}; KiB = 1,024 bytes (the thesis says KB). Smaller: "
            "less high-frequency noise.",
        )
    )
    lines.append(
        _table(
            "Table 2: SSIM between the grayscale map and the grayscale image",
            methods,
            _thesis_row(thesis.TABLES["ssim"], 3, methods),
            [("this run", row(per_method_values(metrics, "ssim"), 3))],
            "scikit-image structural_similarity, data_range 255, default 7x7 window.",
        )
    )
    lines.append(
        _table(
            "Table 3: ABPC (area between the LeRF and MoRF curves)",
            methods,
            _thesis_row(thesis.TABLES["abpc"], 1, methods),
            [
                ("sum over steps, logit", row(area_sum, 1)),
                ("sum × 800/steps, logit", row({m: v * 800 / ms["steps"] for m, v in area_sum.items()}, 1)),
                ("mean over steps, logit", row(per_method_values(metrics, "abpc_mean_logit"), 3)),
                ("sum over steps, probability %", row(per_method_values(metrics, "abpc_sum_prob_pct"), 1)),
            ],
            "The thesis does not state its unit (logit or probability %); its values suggest a sum over 800 steps. The "
            "'sum × 800/steps' row puts runs with fewer steps on that scale.",
        )
    )
    return lines


def claims(inputs: ReportInputs) -> list[str]:
    """The thesis's claims on this run, with how often they hold in resamples of the images."""
    lines = ["## The thesis's claims on this run\n"]
    lines.append(
        f"A claim is **supported** when it holds in at least {SUPPORTED_AT:.0%} of {inputs.n_boot} bootstrap resamples of "
        f"the images (the same resample for every method), **not supported** below {NOT_SUPPORTED_BELOW:.0%}, else "
        "**undecided**: the verdict a reader should expect on another sample of as many such images. 'Per image': "
        "the share of images on which the claim holds for that image alone. PNG size and SSIM here use the suite's "
        "map (`abs-p99.5`, metrics/relevance_maps.py); the next section shows them under the other renderings.\n"
    )
    rows = [("", evaluate_claims(inputs.metrics, inputs.curves, inputs.done, n_boot=inputs.n_boot, seed=inputs.seed))]
    return lines + claims_table(rows) + few_images_note(rows) + trust(inputs)


CLAIMS_ON = {
    "png_bytes": [PNG_CLAIM],
    "ssim": [SSIM_CLAIM],
    **{curve_metric_name("abpc_sum_logit", r): [MORF_CLAIM, LERF_CLAIM, ABPC_CLAIM] for r in REPLACEMENT_TEXT},
}
"""The claims each metric's grade bears on (claims 3-4 read the curves that ABPC sums)."""


def trust(inputs: ReportInputs) -> list[str]:
    """The metrics' trust grades (RUN_DIR/meta/meta.csv, from bench meta) beside the claims."""
    path = inputs.store.root / META_FOLDER / META_CSV
    lines = ["\n### Can the metrics behind these claims be trusted on this data?\n"]
    if not path.is_file():
        return [
            *lines,
            f"Not measured for this run: `python -m bench meta RUN_DIR --out RUN_DIR/{META_FOLDER}` "
            "measures each metric's reliability and its reaction to perturbed models and grades it; the report then "
            "shows the grades here.",
        ]
    meta = pd.read_csv(path)
    grades = read_grades(path)
    claims_on = {m: ", ".join(CLAIMS_ON[m]) for m in grades if m in CLAIMS_ON}
    body = trust_table(meta, grades, ("claims resting on it", claims_on))
    return [
        *lines,
        f"From `{META_FOLDER}/{META_CSV}` ({META_FOLDER}/meta.md has every measure): a claim on a metric graded **low** "
        "rests on a metric whose verdicts do not hold up on this data; value [95% bootstrap CI over images].\n",
        *body,
    ]


def noise_mask_diagnostics(inputs: ReportInputs) -> list[str]:
    """Noise Mask's per-image preservation, loss term, iterations and time: mean, min, max."""
    metrics = inputs.metrics
    nm = metrics[
        (metrics["method"] == "noise_mask")
        & metrics["metric"].isin(["preservation", "loss_term_pct", "iterations", "converged", "method_seconds"])
    ]
    if nm.empty:
        return []
    table = nm.pivot_table(index="metric", values="value", aggfunc=["mean", "min", "max"])
    rows = [[metric, f"{r.iloc[0]:.4g}", f"{r.iloc[1]:.4g}", f"{r.iloc[2]:.4g}"] for metric, r in table.iterrows()]
    return ["\n## Noise Mask per-image diagnostics\n", *markdown.table(["", "mean", "min", "max"], rows)]


def figure_list(inputs: ReportInputs, grid: bool, traces: bool, convergence: bool) -> list[str]:
    """Links to the figures drawn for this report."""
    lines = ["\n## Figures\n"]
    for replacement in inputs.replacements:
        under = "" if replacement == DEFAULT_REPLACEMENT else f", {replacement.upper()} imputation"
        for order, label, figure in (("morf", "MoRF", "Fig. 7"), ("lerf", "LeRF", "Fig. 8")):
            name = curves_figure_name(order, replacement)
            lines.append(f"- {label} curves (thesis {figure}{under}): ![{label}](figures/{name})")
    if grid:
        lines.append(
            "- Maps (thesis Figs. 5-6; signed methods red = positive, blue = negative; image credits under each image): "
            "![maps](figures/maps.png)"
        )
    elif inputs.images is None:
        lines.append(f"- Maps: not drawn: {inputs.images_missing}")
    lines.append("- PNG size and SSIM per image: ![distributions](figures/distributions.png)")
    if traces:
        lines.append("- Noise Mask objective per iteration (one line per image): ![trace](figures/noise_mask_trace.png)")
    if convergence:
        lines.append(
            "- Noise Mask convergence against the faithful optimum (measured once): "
            "![convergence](figures/noise_mask_convergence.png)"
        )
    return lines


def timings(inputs: ReportInputs) -> list[str]:
    """Where the wall time went (the model's passes, ROAD's imputation, everything else), then the
    seconds per method and curve replacement, as run.json summed them."""
    spent = inputs.run.get("timings_s", {})
    if not spent:
        return []
    lines = ["\n## Timings (seconds, this machine)\n"]
    split = inputs.run.get(TIME_SPLIT)
    if split and split.get("wall"):
        wall, passes, imputation = split["wall"], split["model_passes"], split["imputation"]
        rest = wall - passes - imputation
        lines += [
            f"The computation took {wall:.1f} s of wall time. The first row is what its model passes alone take at the "
            "speed timed at the start of the run: the nearer its share to 100 %, the nearer the run came to the "
            "model's own speed.\n",
            *markdown.table(
                ["part", "seconds", "share of the wall time"],
                [
                    ["model passes (the methods' and one forward pass per curve step)", f"{passes:.1f}", f"{passes / wall:.0%}"],
                    [
                        "ROAD's imputation (a background thread, partly overlapping the passes)",
                        f"{imputation:.1f}",
                        f"{imputation / wall:.0%}",
                    ],
                    ["everything else (the rest of the wall time)", f"{rest:.1f}", f"{rest / wall:.0%}"],
                ],
            ),
            "",
        ]
    return lines + [f"- {k}: {v:.1f}" for k, v in spent.items()]


def replacement_section(inputs: ReportInputs) -> list[str]:
    """Table 3 and the curve claims (3-5) under each replacement of the run but random colours
    (whose are Table 3 and the claims above; their verdicts beside), and what the ROAD curves
    cost against the random-colour ones."""
    run, metrics, methods, chosen = inputs.run, inputs.metrics, inputs.done, inputs.replacements
    lines = [
        "\n## Do the curve verdicts survive ROAD's imputation?\n",
        "Random colours make an out-of-distribution image: a curve can fall because the image looks broken, and the "
        "shape of the replaced pixels can show the ranking. ROAD (Rong et al., ICML 2022) imputes each removed pixel "
        "from its neighbours (weights 1/6 direct, 1/12 diagonal, plus noise; `metrics/road.py`). The same maps, "
        "rankings and images under both replacements"
        + "".join(
            f"; {r} curves: {steps} steps of {pixels} pixels ({steps * pixels / np.prod(run['model_input_size']):.0%} of the image)"
            for r in chosen
            for steps, pixels in [curve_grid(run["metrics_settings"], r)]
        )
        + (
            " (ROAD's own protocol: removal fractions of 10 % to 90 %, as Rong et al. evaluate)"
            if curve_grid(run["metrics_settings"], "road")[0] == ROAD_PROTOCOL_STEPS
            else ""
        )
        + ":\n",
    ]
    others = [r for r in chosen if r != DEFAULT_REPLACEMENT]  # the default's are Table 3 and the claims above
    rows = []
    for replacement in others:
        area_sum = per_method_values(metrics, curve_metric_name("abpc_sum_logit", replacement))
        area_pct = per_method_values(metrics, curve_metric_name("abpc_sum_prob_pct", replacement))
        steps = curve_grid(run["metrics_settings"], replacement)[0]
        rows += [
            (f"{replacement}: sum over steps, logit", [inputs.cell(area_sum.get(m), 1) for m in methods]),
            (
                f"{replacement}: sum × 800/steps, logit",
                [inputs.cell(None if m not in area_sum else area_sum[m] * 800 / steps, 1) for m in methods],
            ),
            (
                f"{replacement}: sum over steps, probability %",
                [inputs.cell(area_pct.get(m), 1) for m in methods],
            ),
        ]
    above = DEFAULT_REPLACEMENT in chosen
    lines.append(
        _table(
            f"Table 3 under {', '.join(others)}: ABPC",
            methods,
            [("–" if thesis.TABLES["abpc"].get(m) is None else f"{thesis.TABLES['abpc'][m]}") for m in methods],
            rows,
            (f"The {DEFAULT_REPLACEMENT} rows are Table 3 above. " if above else "")
            + "The thesis measured with random colours only.",
        )
    )
    lines.append(f"### The curve claims under {', '.join(others)}\n")
    verdicts = [
        (r, evaluate_claims(metrics, inputs.curves, methods, n_boot=inputs.n_boot, seed=inputs.seed, replacement=r))
        for r in others
    ]
    beside = None
    if above:
        default = evaluate_claims(metrics, inputs.curves, methods, n_boot=inputs.n_boot, seed=inputs.seed)
        cells = {v.claim: f"{v.verdict} ({v.fraction:.0%})" for v in default if v.claim not in MAP_CLAIMS}
        beside = (f"under {DEFAULT_REPLACEMENT} (above)", cells)
    lines += claims_table(verdicts, first_column="replacement", beside=beside)
    lines += few_images_note(verdicts, full=False)
    timings = run.get("timings_s", {})
    cost = {r: timings.get(f"curves/{r}") for r in chosen}
    if DEFAULT_REPLACEMENT in cost and all(cost.values()):
        lines.append(
            "\nCost of the curves on this machine: "
            + ", ".join(f"{r} {v:.0f} s" for r, v in cost.items())
            + "; ROAD / random colours = "
            + ", ".join(f"{v / cost[DEFAULT_REPLACEMENT]:.1f}x" for r, v in cost.items() if r != DEFAULT_REPLACEMENT)
            + " (all methods and the random order)."
        )
    return lines
