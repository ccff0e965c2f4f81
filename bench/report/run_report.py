"""report.md and figures/ of a run, rebuilt from the stored results alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.plotting import maps_grid
from bench.datasets import load_image_set
from bench.report.claims import NOT_SUPPORTED_BELOW, SUPPORTED_AT, evaluate_claims
from bench.run.profile import replacements
from bench.run.store import RunFolderError, RunStore, per_method_values
from bench.studies.sanity.study import SANITY_FOLDER, report_section
from common import thesis
from common.files import write_text
from metrics import summarise
from metrics.per_image import curve_metric_name
from metrics.perturbation import DEFAULT_REPLACEMENT, REPLACEMENT_TEXT


def _cell(values: np.ndarray | None, digits: int, seed: int, n_boot: int) -> str:
    if values is None or len(values) == 0:
        return "n/a"
    s = summarise(values, n_boot=n_boot, seed=seed)
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} [{s.ci_low:.{digits}f}, {s.ci_high:.{digits}f}]"


def _table(title: str, methods: list[str], thesis_row: list[str], rows: list[tuple[str, list[str]]], note: str) -> str:
    head = "| | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods) + "\n"
    body = "| thesis | " + " | ".join(thesis_row) + " |\n"
    body += "".join(f"| {label} | " + " | ".join(cells) + " |\n" for label, cells in rows)
    return f"### {title}\n\n{head}{body}\n{note}\n"


def curves_figure_name(order: str, replacement: str) -> str:
    return f"{order}.png" if replacement == DEFAULT_REPLACEMENT else f"{order}_{replacement}.png"


def replacement_section(
    run: dict, metrics: pd.DataFrame, curves: pd.DataFrame, methods: list[str], chosen: list[str], n_boot: int, seed: int
) -> list[str]:
    """Table 3 and the curve claims (3-5) under each replacement of the run, side by side, and
    what the ROAD curves cost against the random-colour ones."""
    steps = run["metrics_settings"]["steps"]
    lines = [
        "\n## Do the curve verdicts survive ROAD's imputation?\n",
        "Random colours make an out-of-distribution image: a curve can fall because the image looks broken, and the "
        "shape of the replaced pixels can show the ranking. ROAD (Rong et al., ICML 2022) imputes each removed pixel "
        "from its neighbours (weights 1/6 direct, 1/12 diagonal, plus noise; `metrics/road.py`). The same maps, "
        "rankings and images under both replacements:\n",
    ]
    rows = []
    for replacement in chosen:
        area_sum = per_method_values(metrics, curve_metric_name("abpc_sum_logit", replacement))
        area_pct = per_method_values(metrics, curve_metric_name("abpc_sum_prob_pct", replacement))
        rows += [
            (f"{replacement}: sum over steps, logit", [_cell(area_sum.get(m), 1, seed, n_boot) for m in methods]),
            (
                f"{replacement}: sum × 800/steps, logit",
                [_cell(None if m not in area_sum else area_sum[m] * 800 / steps, 1, seed, n_boot) for m in methods],
            ),
            (
                f"{replacement}: sum over steps, probability %",
                [_cell(area_pct.get(m), 1, seed, n_boot) for m in methods],
            ),
        ]
    lines.append(
        _table(
            "Table 3 under each replacement: ABPC",
            methods,
            [("–" if thesis.TABLES["abpc"].get(m) is None else f"{thesis.TABLES['abpc'][m]}") for m in methods],
            rows,
            "The thesis measured with random colours only.",
        )
    )
    lines.append("### The curve claims under each replacement\n")
    verdicts = [(r, evaluate_claims(metrics, curves, methods, n_boot=n_boot, seed=seed, replacement=r)) for r in chosen]
    lines += claims_table(verdicts, first_column="replacement")
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
    if len(run["image_ids"]) != thesis.IMAGES:
        out.append(f"{len(run['image_ids'])} images, not {thesis.IMAGES}")
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


def claims_table(rows: list[tuple[str, list]], first_column: str | None = None) -> list[str]:
    """The claims' verdicts as a markdown table; ``rows``: (first-column label, verdicts), the
    label shown only when ``first_column`` names that column."""
    lead = f"| {first_column} " if first_column else ""
    lines = [lead + "| claim | verdict | holds in resamples | per image | evidence |", "|---" * (5 + bool(first_column)) + "|"]
    for label, verdicts in rows:
        cell = f"| {label} " if first_column else ""
        lines += [f"{cell}| {v.claim} | **{v.verdict}** | {v.fraction:.0%} | {v.win_rate:.0%} | {v.evidence} |" for v in verdicts]
    return lines


def rendering_section(store: RunStore, run: dict, methods: list[str], n_boot: int, seed: int) -> list[str]:
    """Tables 1-2 under every map rendering, their distance from the thesis, and claims 1-2
    under the spec's rendering and the closest one (bench.report.rendering_search)."""
    from bench.report import rendering_search as rs

    lines = ["\n## Which rendering of the maps did the thesis measure?\n"]
    images = rs.load_run_images(run, run["image_ids"])
    if images is None:
        return lines + [f"- not computed: the run's images are no longer in {run['data_dir']} with the same pixels"]
    is_mask = {m: run.get("method_metadata", {}).get(m, {}).get("attribution_space") == "mask" for m in methods}
    values = rs.rendering_values(store, images, is_mask, int(run["metrics_settings"]["png_compress_level"]))
    table = rs.means(values)
    ranking = rs.search(table)
    spec = rs.SPEC_RENDERING
    if ranking.empty:
        return lines + ["- not computed: the run lacks some of the thesis's six methods"]
    best = ranking.iloc[0]
    spec_distance = rs.distance(table, spec, spec)
    alike = (
        "draws Noise Mask like the baselines"
        if best["alike"]
        else (
            "draws Noise Mask differently from the baselines, as the thesis's figures do: if this is what the thesis "
            "measured, its Tables 1-2 compare a rendered mask with rendered heatmaps, not the methods' relevance alike"
        )
    )
    lines.append(
        f"Every map of this run drawn under each rendering (`metrics.RENDERINGS`), its PNG size per pixel and SSIM "
        f"against the thesis's Tables 1-2. Distance: {rs.DISTANCE_TEXT} Under the spec's rendering (`{spec}`) the "
        f"distance is {spec_distance:.2f}; the closest pairing draws the baselines as `{best['baseline_rendering']}` "
        f"and Noise Mask as `{best['noise_mask_rendering']}` (distance {best['distance']:.2f}), which {alike}. "
        "No rendering is tuned per method: every baseline is drawn alike.\n"
    )
    target = rs.thesis_targets()
    for column, title, digits, thesis_column in (
        ("bits_per_pixel", "PNG size, bits per pixel", 2, "bpp"),
        ("kib", "PNG size, KiB", 1, None),
        ("ssim", "SSIM to the grayscale image", 3, "ssim"),
    ):
        wide = table[column].unstack("method")
        cols = [m for m in methods if m in wide.columns]
        lines.append(f"### {title} under each rendering\n")
        lines.append("| rendering | " + " | ".join(cols) + " |" + (" distance (alike) |" if column == "ssim" else ""))
        lines.append("|---|" + "---|" * (len(cols) + (column == "ssim")))
        if thesis_column:
            lines.append(
                "| thesis | "
                + " | ".join(f"{target.loc[m, thesis_column]:.{digits}f}" if m in target.index else "–" for m in cols)
                + " |"
                + (" |" if column == "ssim" else "")
            )
        for rendering, row in wide.iterrows():
            cells = " | ".join("–" if pd.isna(row[m]) else f"{row[m]:.{digits}f}" for m in cols)
            extra = ""
            if column == "ssim":
                d = rs.distance(table, rendering, rendering)
                extra = f" {d:.2f} |" if np.isfinite(d) else " – |"
            lines.append(f"| `{rendering}` | {cells} |{extra}")
        lines.append("")
    lines.append("### Closest pairings (baseline rendering, Noise Mask rendering)\n")
    lines.append("| baselines drawn as | Noise Mask drawn as | alike | distance |\n|---|---|---|---|")
    lines += [
        f"| `{r.baseline_rendering}` | `{r.noise_mask_rendering}` | {'yes' if r.alike else 'no'} | {r.distance:.2f} |"
        for r in ranking.head(5).itertuples()
    ]
    lines.append("\n### Claims 1-2 under the spec's rendering and the closest pairing\n")
    pairings = (
        (f"`{spec}` (spec)", spec, spec),
        (
            f"`{best['baseline_rendering']}` / `{best['noise_mask_rendering']}` (closest)",
            best["baseline_rendering"],
            best["noise_mask_rendering"],
        ),
    )
    rows = [
        (label, evaluate_claims(rs.as_metrics(values, b, n), None, methods, n_boot=n_boot, seed=seed)) for label, b, n in pairings
    ]
    lines += claims_table(rows, first_column="rendering (baselines / Noise Mask)")
    lines.append("\nPer image and per rendering: `renderings.csv`.")
    return lines


def _noise_mask_setting(params: dict) -> str:
    """'preset `fast` (Adam lr 0.06)', plus the parameters a run changed from its preset."""
    from methods.noise_mask import PRESETS, NoiseMask

    name = params.get("preset", "faithful")  # runs from before presets were parameters have none
    expected = {**NoiseMask.defaults, **PRESETS.get(name, {})}
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


def _convergence_section(run: dict, metrics: pd.DataFrame, figure: Path) -> list[str]:
    """Where this run's Noise Mask setting sits against faithful runs continued to
    convergence (bench/convergence.py), with the measured curves as a figure."""
    params = run["method_params"].get("noise_mask")
    iterations = metrics[(metrics["method"] == "noise_mask") & (metrics["metric"] == "iterations")]["value"]
    if params is None or iterations.empty:
        return []
    from bench.report import figures
    from bench.report.convergence import MEASURED_MODEL, load_summary, measured_point

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
    figures.convergence_figure(summary, figure, (lo, point["gap_mean"], point["r_mean"]) if point else None)
    return lines


def _maps_grid_inputs(store: RunStore, run: dict, methods: list[str]) -> tuple | None:
    """(pixels, captions, maps per method) of the first images that every method has a map of."""
    grid_ids = [i for i in run["image_ids"] if all(store.map_path(m, i).is_file() for m in methods)]
    grid_ids = grid_ids[: int(run["metrics_settings"].get("grid_images", 4))]
    if not grid_ids:
        return None
    images = load_image_set(run["data_dir"], size=tuple(run["model_input_size"]), ids=grid_ids)
    captions = [images.attribution(k) for k in range(len(images))]
    return images.pixels, captions, {m: np.stack([store.load_map(m, i) for i in grid_ids]) for m in methods}


def method_signed(run: dict, method: str) -> bool:
    """Whether ``method``'s relevance is signed: as run.json recorded it, else as the
    method declares it now (runs from before run.json kept it)."""
    recorded = run.get("method_metadata", {}).get(method)
    if recorded is not None:
        return bool(recorded["signed"])
    from methods import get_method

    return get_method(method).signed


def check_records(store: RunStore, run: dict) -> None:
    """Refuse a report that would lose results: one of a complete run whose records are
    partly gone, or one with no records at all."""
    if not any((store.root / "records").glob("*/*.npz")):
        missing = ["records/ holds no records at all"]
    elif run["status"] == "complete":
        missing = store.missing_records(run["methods"], run["image_ids"])
    else:
        return  # a partial run's report shows what is done
    if missing:
        raise RunFolderError(
            f"{store.root}: {'; '.join(missing)} (run.json lists {len(run['methods'])} methods and "
            f"{len(run['image_ids'])} images); nothing was changed. Run the same `python -m bench run` with "
            f"--out {store.root} again to recompute them."
        )


def write_report(run_dir: str | Path) -> Path:
    """Rebuild metrics.csv, curves.csv, figures/ and report.md from the records, holding the folder's lock."""
    store = RunStore(run_dir)
    if not store.run_json.is_file():
        raise RunFolderError(f"{store.run_json} not found: {run_dir} is not a run folder")
    with store.lock():
        return build_report(store)


def build_report(store: RunStore) -> Path:
    """The report of the run in ``store``, for a caller that holds its lock. Everything is read
    and checked before anything is written, so a refused report changes nothing."""
    run = store.read_run()
    if run is None:
        raise RunFolderError(f"{store.run_json} not found: {store.root} is not a run folder")
    check_records(store, run)
    h, w = run["model_input_size"]
    ms = run["metrics_settings"]
    metrics, curves = store.tables(ms["pixels_per_step"], h * w)
    order = thesis.METHOD_ORDER
    methods = [m for m in order if m in run["methods"]] + [m for m in run["methods"] if m not in order]
    n_boot, seed = int(ms.get("bootstrap_samples", 2000)), int(run.get("seed", 0))
    traces = store.load_series("noise_mask", "trace")
    grid = _maps_grid_inputs(store, run, methods)
    fig_dir = store.root / "figures"

    from bench.report import figures

    store.write_tables(metrics, curves)
    chosen = replacements(ms)
    for replacement in chosen:
        for order in ("morf", "lerf"):
            figures.curves_figure(curves, order, fig_dir / curves_figure_name(order, replacement), methods, replacement)
    figures.distributions_figure(metrics, fig_dir / "distributions.png", methods)
    if traces:
        figures.trace_figure(traces, fig_dir / "noise_mask_trace.png")
    if grid:
        maps_grid(*grid, fig_dir / "maps.png", {m: method_signed(run, m) for m in methods})

    done = metrics.groupby("method")["image_id"].nunique().to_dict()
    png = per_method_values(metrics, "png_bytes", 1 / 1024)
    ssim = per_method_values(metrics, "ssim")
    area_sum, area_mean = per_method_values(metrics, "abpc_sum_logit"), per_method_values(metrics, "abpc_mean_logit")
    area_pct = per_method_values(metrics, "abpc_sum_prob_pct")

    def row(values, digits):
        return [_cell(values.get(m), digits, seed, n_boot) for m in methods]

    def thesis_row(key, digits):
        cells = []
        for m in methods:
            v = thesis.TABLES[key].get(m)
            cells.append("–" if v is None else (f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}" if isinstance(v, tuple) else f"{v}"))
        return cells

    lines = [f"# Noise Mask benchmark report: profile `{run['profile']}`\n"]
    lines.append(
        f"- **model**: {run['model']} ({run['model_input_size'][0]}x{run['model_input_size'][1]}, preprocessing `{run['preprocessing']}`), weights {run['weights']} (sha256 {str(run['weights_sha256'])[:16]}…)"
    )
    lines.append(f"- **data**: {run['data']}; **{len(run['image_ids'])} images**; status: {run['status']}")
    lines.append(
        f"- **methods**: {', '.join(methods)}; images done per method: " + ", ".join(f"{m} {done.get(m, 0)}" for m in methods)
    )
    lines.append(
        f"- **curves**: {ms['steps']} steps of {ms['pixels_per_step']} pixels, "
        + "; separately, ".join(REPLACEMENT_TEXT[r] for r in chosen)
        + "; target = each image's top-1 class"
    )
    lines.append(
        f"- **baselines**: IG and DeepLIFT use zeros in the model's input space, i.e. the pixel value {run['input_space_zero_pixel']} (a mid-grey image); occlusion patches are that value too"
    )
    lines.append("- **versions**: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()))
    dep = departures(run)
    lines.append("\n## Departures from the thesis's protocol\n")
    lines += [f"- {d}" for d in dep] if dep else ["- none: this is the thesis's protocol"]
    lines.append("\nCells: mean ± standard deviation [95% bootstrap CI of the mean] over images.\n")
    lines.append("## Tables\n")
    lines.append(
        _table(
            "Table 1: PNG size of the grayscale maps (KiB)",
            methods,
            thesis_row("png_kb", 1),
            [("this run", row(png, 1))],
            f"8-bit grayscale PNG, zlib level {ms['png_compress_level']}; KiB = 1,024 bytes (the thesis says KB). Smaller: less high-frequency noise.",
        )
    )
    lines.append(
        _table(
            "Table 2: SSIM between the grayscale map and the grayscale image",
            methods,
            thesis_row("ssim", 3),
            [("this run", row(ssim, 3))],
            "scikit-image structural_similarity, data_range 255, default 7x7 window.",
        )
    )
    lines.append(
        _table(
            "Table 3: ABPC (area between the LeRF and MoRF curves)",
            methods,
            thesis_row("abpc", 1),
            [
                ("sum over steps, logit", row(area_sum, 1)),
                ("sum × 800/steps, logit", row({m: v * 800 / ms["steps"] for m, v in area_sum.items()}, 1)),
                ("mean over steps, logit", row(area_mean, 3)),
                ("sum over steps, probability %", row(area_pct, 1)),
            ],
            "The thesis does not state its unit (logit or probability %); its values suggest a sum over 800 steps. The 'sum × 800/steps' row puts runs with fewer steps on that scale.",
        )
    )
    lines.append("## The thesis's claims on this run\n")
    lines.append(
        f"A claim is **supported** when it holds in at least {SUPPORTED_AT:.0%} of {n_boot} bootstrap resamples of the "
        f"images (the same resample for every method), **not supported** below {NOT_SUPPORTED_BELOW:.0%}, else "
        "**undecided**: the verdict a reader should expect on another sample of as many such images. 'Per image': "
        "the share of images on which the claim holds for that image alone. PNG size and SSIM here use the spec's "
        "rendering; the next section shows them under the others.\n"
    )
    lines += claims_table([("", evaluate_claims(metrics, curves, [m for m in methods if m in done], n_boot=n_boot, seed=seed))])
    if len(chosen) > 1 or chosen != [DEFAULT_REPLACEMENT]:
        lines += replacement_section(run, metrics, curves, [m for m in methods if m in done], chosen, n_boot, seed)
    lines += rendering_section(store, run, [m for m in methods if m in done], n_boot, seed)
    if (store.root / SANITY_FOLDER).is_dir():
        lines += ["", *report_section(store.root / SANITY_FOLDER, store.root)]
    nm = metrics[
        (metrics["method"] == "noise_mask")
        & metrics["metric"].isin(["preservation", "loss_term_pct", "iterations", "converged", "method_seconds"])
    ]
    if not nm.empty:
        table = nm.pivot_table(index="metric", values="value", aggfunc=["mean", "min", "max"])
        lines.append("\n## Noise Mask per-image diagnostics\n")
        lines.append("| | mean | min | max |\n|---|---|---|---|")
        lines += [f"| {metric} | {r.iloc[0]:.4g} | {r.iloc[1]:.4g} | {r.iloc[2]:.4g} |" for metric, r in table.iterrows()]
    convergence = _convergence_section(run, metrics, fig_dir / "noise_mask_convergence.png")
    lines += convergence
    lines.append("\n## Figures\n")
    for replacement in chosen:
        under = "" if replacement == DEFAULT_REPLACEMENT else f", {replacement.upper()} imputation"
        for order, label, figure in (("morf", "MoRF", "Fig. 7"), ("lerf", "LeRF", "Fig. 8")):
            name = curves_figure_name(order, replacement)
            lines.append(f"- {label} curves (thesis {figure}{under}): ![{label}](figures/{name})")
    if grid:
        lines.append(
            "- Maps (thesis Figs. 5-6; signed methods red = positive, blue = negative; image credits under each image): ![maps](figures/maps.png)"
        )
    lines.append("- PNG size and SSIM per image: ![distributions](figures/distributions.png)")
    if traces:
        lines.append("- Noise Mask objective per iteration (one line per image): ![trace](figures/noise_mask_trace.png)")
    if convergence:
        lines.append(
            "- Noise Mask convergence against the faithful optimum (measured once): ![convergence](figures/noise_mask_convergence.png)"
        )
    timings = run.get("timings_s", {})
    if timings:
        lines.append("\n## Timings (seconds, this machine)\n")
        lines += [f"- {k}: {v:.1f}" for k, v in timings.items()]
    lines.append("\nPer-image values: `metrics.csv`; curves: `curves.csv`; maps: `maps/<method>/<image_id>.npy` (and `.png`).")
    path = store.root / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path
