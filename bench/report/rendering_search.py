"""Which rendering of a map did the thesis measure? Tables 1-2 of a run under every named
rendering (:data:`metrics.RENDERINGS`), recomputed from the stored relevance maps, and
their distance from the thesis's twelve values.

Distance: the root mean square, over the six methods of Table 1 and Table 2, of
``(ours - thesis) / thesis_std``: each difference in units of the thesis's own per-image
standard deviation of that cell. PNG sizes are compared per pixel (bits per pixel), as the
thesis's maps were 299x299 (its "KB" read as 1,024 bytes) and a run's may be smaller.

A rendering is never tuned per method: every baseline is drawn with one rendering. Noise
Mask's relevance is a mask, which the thesis's figures draw as a mask or a masked image
while the baselines are heatmaps; so the search also pairs each baseline rendering with
each rendering of Noise Mask, and says whether the best match draws them alike.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core import markdown
from bench.core.provenance import image_sha256
from bench.datasets import load_image_set
from bench.report.claims import evaluate_claims
from bench.report.sections import ReportInputs, claims_table, few_images_note
from bench.run.store import RunStore
from common import thesis
from common.files import atomic_path
from metrics import MASK_RENDERINGS, RENDERINGS, bits_per_pixel, png_size, render_map, ssim_to_image

SUITE_RENDERING = "abs-p99.5"
"""The suite's grayscale map (:func:`metrics.grayscale_map`), the one a run's metrics.csv measures."""
DISTANCE_TEXT = (
    "the root mean square, over the six methods of both tables, of (this run - thesis) / the thesis's per-image "
    "standard deviation of that cell, PNG sizes compared in bits per pixel (the thesis's maps were 299x299, its KB "
    "read as 1,024 bytes)."
)
CACHE = "renderings.csv"
COLUMNS = ["image_id", "method", "rendering", "map_sha256", "png_bytes", "bits_per_pixel", "ssim"]
MASK_METHOD = "noise_mask"
THESIS_PIXELS = thesis.INPUT_SIZE * thesis.INPUT_SIZE


def renderings_for(method: str, is_mask: bool) -> tuple[str, ...]:
    """Every rendering for a mask method; the others only for the rest."""
    return RENDERINGS if is_mask else tuple(r for r in RENDERINGS if r not in MASK_RENDERINGS)


def rendering_values(store: RunStore, images: dict[str, np.ndarray], methods: dict[str, bool], png_level: int) -> pd.DataFrame:
    """PNG size and SSIM of every (image, method, rendering), from the stored maps.

    ``images``: image id -> uint8 pixels at the map's size; ``methods``: name -> whether its
    relevance is a mask. Values are cached in RUN_DIR/renderings.csv, keyed by the map
    file's sha256, so a rebuilt report recomputes only new or changed maps.
    """
    cache_path = store.root / CACHE
    cached = (
        pd.read_csv(cache_path, dtype={"image_id": str}, float_precision="round_trip")
        if cache_path.is_file()
        else pd.DataFrame(columns=COLUMNS)
    )
    known = {(r.image_id, r.method, r.rendering, r.map_sha256): r for r in cached.itertuples(index=False)}
    rows = []
    for method, is_mask in methods.items():
        for image_id, pixels in images.items():
            path = store.map_path(method, image_id)
            if not path.is_file():
                continue
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            relevance = None
            for rendering in renderings_for(method, is_mask):
                hit = known.get((image_id, method, rendering, sha))
                if hit is not None:
                    rows.append(tuple(hit))
                    continue
                if relevance is None:
                    relevance = store.load_map(method, image_id)
                gray = render_map(relevance, pixels, rendering)
                size = png_size(gray, level=png_level)
                rows.append(
                    (image_id, method, rendering, sha, size, bits_per_pixel(size, gray.shape), ssim_to_image(gray, pixels))
                )
    table = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(cache_path) as tmp:
        table.to_csv(tmp, index=False)
    return table


def thesis_targets() -> pd.DataFrame:
    """The thesis's Tables 1-2 per method: bits per pixel and SSIM, means and stds."""
    rows = []
    for method in thesis.METHOD_ORDER:
        (kb, kb_std), (ssim, ssim_std) = thesis.TABLES["png_kb"][method], thesis.TABLES["ssim"][method]
        to_bpp = 8 * 1024 / THESIS_PIXELS
        rows.append((method, kb * to_bpp, kb_std * to_bpp, ssim, ssim_std))
    return pd.DataFrame(rows, columns=["method", "bpp", "bpp_std", "ssim", "ssim_std"]).set_index("method")


def means(values: pd.DataFrame) -> pd.DataFrame:
    """Mean bits per pixel, KiB and SSIM per (rendering, method)."""
    grouped = values.groupby(["rendering", "method"])
    out = grouped[["bits_per_pixel", "ssim"]].mean()
    out["kib"] = grouped["png_bytes"].mean() / 1024
    out["images"] = grouped.size()
    return out


def distance(table: pd.DataFrame, baseline_rendering: str, mask_rendering: str) -> float:
    """RMS of the standardised differences from the thesis over Tables 1-2 (see the module
    docstring); NaN when a thesis method is missing from ``table``."""
    target = thesis_targets()
    z = []
    for method in thesis.METHOD_ORDER:
        key = (mask_rendering if method == MASK_METHOD else baseline_rendering, method)
        if key not in table.index:
            return float("nan")
        ours = table.loc[key]
        z += [(ours["bits_per_pixel"] - target.loc[method, "bpp"]) / target.loc[method, "bpp_std"]]
        z += [(ours["ssim"] - target.loc[method, "ssim"]) / target.loc[method, "ssim_std"]]
    return float(np.sqrt(np.mean(np.square(z))))


def search(table: pd.DataFrame) -> pd.DataFrame:
    """Every (baseline rendering, Noise Mask rendering) pair with its distance, best first."""
    baseline = [r for r in RENDERINGS if r not in MASK_RENDERINGS]
    rows = [(b, n, b == n, distance(table, b, n)) for b in baseline for n in RENDERINGS]
    out = pd.DataFrame(rows, columns=["baseline_rendering", "noise_mask_rendering", "alike", "distance"])
    return out.dropna().sort_values("distance", kind="stable").reset_index(drop=True)


def as_metrics(values: pd.DataFrame, baseline_rendering: str, mask_rendering: str) -> pd.DataFrame:
    """The long metrics table (image_id, method, metric, value) of png_bytes and ssim under a
    rendering pair, as the claims read it."""
    pick = values[
        ((values["method"] == MASK_METHOD) & (values["rendering"] == mask_rendering))
        | ((values["method"] != MASK_METHOD) & (values["rendering"] == baseline_rendering))
    ]
    long = pick.melt(id_vars=["image_id", "method"], value_vars=["png_bytes", "ssim"], var_name="metric")
    return long[["image_id", "method", "metric", "value"]]


def load_run_images(run: dict, ids: list[str], data_dir: str | Path | None = None) -> dict[str, np.ndarray] | None:
    """The run's images from its data folder (``data_dir``, else run.json's), when they are still
    there with the same pixels (run.json's sha256 of each), else None."""
    folder = Path(data_dir if data_dir is not None else run["data_dir"])
    if not folder.is_dir():
        return None
    try:
        images = load_image_set(folder, size=tuple(run["model_input_size"]), ids=ids)
    except (FileNotFoundError, KeyError, ValueError):
        return None
    if image_sha256(images.ids, images.pixels) != {i: run.get("image_sha256", {}).get(i) for i in images.ids}:
        return None
    return dict(zip(images.ids, images.pixels))


def section(inputs: ReportInputs) -> list[str]:
    """The report's section: Tables 1-2 under every map rendering, their distance from the
    thesis, and claims 1-2 under the suite's rendering and the closest one."""
    run, methods = inputs.run, inputs.done
    lines = ["\n## Which rendering of the maps did the thesis measure?\n"]
    images = inputs.images
    if images is None:
        return [*lines, f"- not computed: {inputs.images_missing}"]
    is_mask = {m: run.get("method_metadata", {}).get(m, {}).get("attribution_space") == "mask" for m in methods}
    values = rendering_values(inputs.store, images, is_mask, int(run["metrics_settings"]["png_compress_level"]))
    table = means(values)
    ranking = search(table)
    if ranking.empty:
        return [*lines, "- not computed: the run lacks some of the thesis's six methods"]
    best = ranking.iloc[0]
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
        f"against the thesis's Tables 1-2. Distance: {DISTANCE_TEXT} Under the suite's rendering (`{SUITE_RENDERING}`) the "
        f"distance is {distance(table, SUITE_RENDERING, SUITE_RENDERING):.2f}; the closest pairing draws the baselines as "
        f"`{best['baseline_rendering']}` and Noise Mask as `{best['noise_mask_rendering']}` (distance "
        f"{best['distance']:.2f}), which {alike}. No rendering is tuned per method: every baseline is drawn alike.\n"
    )
    lines += _tables_per_rendering(table, methods)
    lines += _closest_pairings(ranking)
    lines.append("\n### Claims 1-2 under the suite's rendering and the closest pairing\n")
    pairings = (
        (f"`{SUITE_RENDERING}` (suite's)", SUITE_RENDERING, SUITE_RENDERING),
        (
            f"`{best['baseline_rendering']}` / `{best['noise_mask_rendering']}` (closest)",
            best["baseline_rendering"],
            best["noise_mask_rendering"],
        ),
    )
    rows = [
        (label, evaluate_claims(as_metrics(values, b, n), None, methods, n_boot=inputs.n_boot, seed=inputs.seed))
        for label, b, n in pairings
    ]
    lines += claims_table(rows, first_column="rendering (baselines / Noise Mask)")
    lines += few_images_note(rows, full=False)
    lines.append("\nPer image and per rendering: `renderings.csv`.")
    return lines


def _tables_per_rendering(table: pd.DataFrame, methods: list[str]) -> list[str]:
    """PNG size (bits per pixel, KiB) and SSIM of every method under every rendering, the
    thesis's values first; SSIM's table also gives each rendering's distance from the thesis."""
    target = thesis_targets()
    lines = []
    for column, title, digits, thesis_column in (
        ("bits_per_pixel", "PNG size, bits per pixel", 2, "bpp"),
        ("kib", "PNG size, KiB", 1, None),
        ("ssim", "SSIM to the grayscale image", 3, "ssim"),
    ):
        wide = table[column].unstack("method")
        cols = [m for m in methods if m in wide.columns]
        with_distance = column == "ssim"
        rows = []
        if thesis_column:
            rows.append(
                ["thesis", *(f"{target.loc[m, thesis_column]:.{digits}f}" if m in target.index else "–" for m in cols)]
                + [""] * with_distance
            )
        for rendering, row in wide.iterrows():
            cells = ["–" if pd.isna(row[m]) else f"{row[m]:.{digits}f}" for m in cols]
            if with_distance:
                d = distance(table, rendering, rendering)
                cells.append(f"{d:.2f}" if np.isfinite(d) else "–")
            rows.append([markdown.code(rendering), *cells])
        lines.append(f"### {title} under each rendering\n")
        lines += markdown.table(["rendering", *cols] + ["distance (alike)"] * with_distance, rows)
        lines.append("")
    return lines


def _closest_pairings(ranking: pd.DataFrame, count: int = 5) -> list[str]:
    rows = [
        [
            markdown.code(r.baseline_rendering),
            markdown.code(r.noise_mask_rendering),
            "yes" if r.alike else "no",
            f"{r.distance:.2f}",
        ]
        for r in ranking.head(count).itertuples()
    ]
    return [
        "### Closest pairings (baseline rendering, Noise Mask rendering)\n",
        *markdown.table(["baselines drawn as", "Noise Mask drawn as", "alike", "distance"], rows),
    ]
