"""report.md and figures/ of a run, rebuilt from the stored results alone.

The sections are :mod:`bench.report.sections` (tables, claims, ROAD), the rendering search
(:mod:`bench.report.rendering_search`), the sanity study's (:mod:`bench.studies.sanity`) and the
Noise Mask convergence (:mod:`bench.report.convergence`); this module checks the records, draws
the figures and puts the sections in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.plotting import maps_grid
from bench.datasets.imageset import credit_line
from bench.report import convergence, figures, rendering_search, sections
from bench.report.rendering_search import load_run_images
from bench.report.sections import ReportInputs, curves_figure_name
from bench.run.profile import bootstrap_samples, replacements
from bench.run.store import RunFolderError, RunStore
from bench.studies.sanity import SANITY_FOLDER, report_section
from common import thesis
from common.files import write_text
from methods import get_method
from metrics.perturbation import DEFAULT_REPLACEMENT


def write_report(run_dir: str | Path, data_dir: str | Path | None = None) -> Path:
    """Rebuild metrics.csv, curves.csv, figures/ and report.md from the records, holding the
    folder's lock. ``data_dir``: where the run's images are now, if not at run.json's
    ``data_dir`` (they draw the map grid and the rendering search; without them those two are
    left out and said so)."""
    store = RunStore(run_dir)
    if not store.run_json.is_file():
        raise RunFolderError(f"{store.run_json} not found: {run_dir} is not a run folder")
    with store.lock():
        return build_report(store, data_dir)


def build_report(store: RunStore, data_dir: str | Path | None = None) -> Path:
    """The report of the run in ``store``, for a caller that holds its lock. Everything is read
    and checked before anything is written, so a refused report changes nothing."""
    inputs = read_inputs(store, data_dir)
    traces = store.load_series("noise_mask", "trace")
    grid = _maps_grid_inputs(store, inputs)
    store.write_tables(inputs.metrics, inputs.curves)
    _draw_figures(inputs, traces, grid)
    lines = [*sections.header(inputs), *sections.thesis_tables(inputs), *sections.claims(inputs)]
    if inputs.replacements != [DEFAULT_REPLACEMENT]:
        lines += sections.replacement_section(inputs)
    lines += rendering_search.section(inputs)
    if (store.root / SANITY_FOLDER).is_dir():
        lines += ["", *report_section(store.root / SANITY_FOLDER, store.root)]
    lines += sections.noise_mask_diagnostics(inputs)
    converged = convergence.section(inputs.run, inputs.metrics, inputs.fig_dir / "noise_mask_convergence.png")
    lines += converged
    lines += sections.figure_list(inputs, grid is not None, bool(traces), bool(converged))
    lines += sections.timings(inputs)
    lines.append("\nPer-image values: `metrics.csv`; curves: `curves.csv`; maps: `maps/<method>/<image_id>.npy` (and `.png`).")
    path = store.root / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def read_inputs(store: RunStore, data_dir: str | Path | None = None) -> ReportInputs:
    """run.json, the records' consolidated tables and the run's images (from ``data_dir``, else
    run.json's); a run whose records are partly gone is refused."""
    run = store.read_run()
    if run is None:
        raise RunFolderError(f"{store.run_json} not found: {store.root} is not a run folder")
    check_records(store, run)
    h, w = run["model_input_size"]
    ms = run["metrics_settings"]
    metrics, curves = store.tables(ms, h * w)
    order = thesis.METHOD_ORDER
    methods = [m for m in order if m in run["methods"]] + [m for m in run["methods"] if m not in order]
    done = set(metrics["method"])
    return ReportInputs(
        store=store,
        run=run,
        metrics=metrics,
        curves=curves,
        methods=methods,
        done=[m for m in methods if m in done],
        replacements=replacements(ms),
        n_boot=bootstrap_samples(ms),
        seed=int(run.get("seed", 0)),
        images=load_run_images(run, run["image_ids"], data_dir),
        data_dir=Path(data_dir if data_dir is not None else run["data_dir"]),
    )


def _draw_figures(inputs: ReportInputs, traces: dict, grid: tuple[np.ndarray, list[str], dict[str, np.ndarray]] | None) -> None:
    for replacement in inputs.replacements:
        for order in ("morf", "lerf"):
            path = inputs.fig_dir / curves_figure_name(order, replacement)
            figures.curves_figure(inputs.curves, order, path, inputs.methods, replacement)
    figures.distributions_figure(inputs.metrics, inputs.fig_dir / "distributions.png", inputs.methods)
    if traces:
        figures.trace_figure(traces, inputs.fig_dir / "noise_mask_trace.png")
    if grid:
        maps_grid(*grid, inputs.fig_dir / "maps.png", {m: method_signed(inputs.run, m) for m in inputs.methods})


def _maps_grid_inputs(store: RunStore, inputs: ReportInputs) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]] | None:
    """(pixels, captions, maps per method) of the first images that every method has a map of;
    None when there are none, or the run's images are not found."""
    run, methods = inputs.run, inputs.methods
    grid_ids = [i for i in run["image_ids"] if all(store.map_path(m, i).is_file() for m in methods)]
    grid_ids = grid_ids[: int(run["metrics_settings"].get("grid_images", 4))]
    if not grid_ids or inputs.images is None:
        return None
    credit = {i: credit_line(i, a, lic) for i, a, lic in zip(run["image_ids"], run["authors"], run["licenses"])}
    pixels = np.stack([inputs.images[i] for i in grid_ids])
    return pixels, [credit[i] for i in grid_ids], {m: np.stack([store.load_map(m, i) for i in grid_ids]) for m in methods}


def method_signed(run: dict, method: str) -> bool:
    """Whether ``method``'s relevance is signed: as run.json recorded it, else as the
    method declares it now (runs from before run.json kept it)."""
    recorded = run.get("method_metadata", {}).get(method)
    if recorded is not None:
        return bool(recorded["signed"])
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
