"""The image explorer: a page per (board, image) with the image, every method's map side by side in
a chosen rendering (:data:`bench.site.images.RENDERINGS`), one method brought forward (its map
large, its row of scores and its curves highlighted), the MoRF / LeRF curves under each pixel
replacement the board holds, and the image's per-image scores. explorer.html lists the images.
A reference stores no maps: its methods' curves and scores are shown and the missing maps said so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.jsonfiles import read_json_object
from bench.run.profile import curve_grid, replacements
from bench.run.store import RANDOM_ORDER, RunStore, curve_key
from bench.site import charts
from bench.site.collect import Board, Results, slug
from bench.site.html import esc, number, page, table, write_page
from bench.site.images import RENDERINGS, write_map, write_picture
from bench.site.leaderboard import board_groups, group_buttons, latest_checks, metric_group
from metrics import PER_IMAGE_METRICS
from metrics.perturbation import REPLACEMENT_TEXT


@dataclass
class Entry:
    """One method's row in the explorer: a baseline of the board or a checked method."""

    key: str
    label: str
    curves: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    """metric -> per-image values in the board's image order."""
    store: RunStore | None
    method: str
    signed: bool


def entries(results: Results, board: Board) -> list[Entry]:
    out = []
    table = board.metrics
    for method in board.methods:
        part = table[table["method"] == method]
        values = {
            str(metric): group.set_index("image_id")["value"].reindex(board.image_ids).to_numpy()
            for metric, group in part.groupby("metric")
        }
        curves = {k.split(".", 1)[1]: v for k, v in board.curves.items() if k.split(".", 1)[0] == method}
        out.append(Entry(method, method, curves, values, board.maps.get(method), method, board.signed[method]))
    for check in latest_checks(results, board):
        index = [check.result["images"].index(i) for i in board.image_ids]
        values = {m: np.asarray(v, np.float64)[index] for m, v in check.result["values"].items()}
        curves = {k.split(".", 1)[1]: v[index] for k, v in check.curves.items()}
        run_json = check.path / "run" / "run.json"
        recorded = read_json_object(run_json).get("method_metadata", {}) if run_json.is_file() else {}
        signed = bool(recorded.get(check.method, {}).get("signed", True))
        out.append(
            Entry(
                f"{check.method}-checked",
                f"{check.method} (checked)",
                curves,
                values,
                check.maps.get(check.method),
                check.method,
                signed,
            )
        )
    return out


def pictures(results: Results, board: Board) -> dict[str, np.ndarray]:
    """The board's images: its run's, else those of a check against it (the same pixels: the
    check verified them against the board's fingerprint)."""
    if board.pictures is not None:
        return board.pictures
    for check in results.checks_of(board):
        if check.pictures is not None:
            return check.pictures
    return {}


def page_name(board: Board, image_id: str) -> str:
    return f"explore-{slug(board.name)}-{slug(image_id)}.html"


def write_explorer(results: Results, site: Path) -> int:
    """Every board's image pages and explorer.html; returns the number of pages."""
    count, listing = 0, []
    for board in results.boards:
        rows = entries(results, board)
        shown = pictures(results, board)
        links = []
        for n, image_id in enumerate(board.image_ids):
            folder = Path("img") / slug(board.name) / slug(image_id)
            picture = None
            if image_id in shown:
                picture = (folder / "image.jpg").as_posix()
                write_picture(shown[image_id], site / picture)
            written = {e.key: write_map(e.store, e.method, image_id, e.signed, site / folder) for e in rows if e.store}
            maps = {k: {r: (folder / f).as_posix() for r, f in v.items()} for k, v in written.items() if v is not None}
            html = image_page(board, rows, n, picture, maps)
            write_page(site / page_name(board, image_id), html)
            count += 1
            thumb = f'<img src="{esc(picture)}" alt="">' if picture else ""
            links.append(f'<a class="thumb" href="{page_name(board, image_id)}">{thumb}<span>{esc(image_id)}</span></a>')
        listing.append(f'<section><h2>{esc(board.label)}</h2><div class="thumbs">{"".join(links)}</div></section>')
    body = "<p>Pick an image: its maps, curves and scores for every method.</p>" + "".join(listing)
    write_page(site / "explorer.html", page("Image explorer", body, "explorer.html"))
    return count + 1


def image_page(board: Board, rows: list[Entry], n: int, picture: str | None, maps: dict[str, dict[str, str]]) -> str:
    image_id = board.image_ids[n]
    images = "".join(
        f'<option value="{page_name(board, i)}"{" selected" if i == image_id else ""}>{esc(i)}</option>' for i in board.image_ids
    )
    shown = [e.key for e in rows if e.key in maps] or [rows[0].key]
    methods = "".join(
        f'<option value="{esc(e.key)}"{" selected" if e.key == shown[-1] else ""}>{esc(e.label)}</option>' for e in rows
    )
    renderings = "".join(f'<option value="{r}" title="{esc(t)}">{r}</option>' for r, t in RENDERINGS.items())
    controls = (
        '<div class="controls">'
        f'<label>image <select id="image-select">{images}</select></label>'
        f'<label>method <select id="method-select">{methods}</select></label>'
        f'<label>rendering <select id="rendering-select">{renderings}</select></label></div>'
    )
    gallery = [
        f'<figure class="picture"><img src="{esc(picture)}" alt="{esc(image_id)}"><figcaption>image</figcaption></figure>'
        if picture
        else ""
    ]
    for e in rows:
        srcs = maps.get(e.key)
        if srcs is None:
            inner = '<div class="nomap">map not stored</div>'
        else:
            data = " ".join(f'data-{r}="{esc(src)}"' for r, src in srcs.items())
            inner = f'<img class="map" src="{esc(srcs["grayscale"])}" {data} alt="{esc(e.label)}">'
        gallery.append(
            f'<figure class="map-card" data-method="{esc(e.key)}">{inner}<figcaption>{esc(e.label)}</figcaption></figure>'
        )
    missing = [e.label for e in rows if e.key not in maps]
    note = (
        f'<p class="note">Maps absent for {esc(", ".join(missing))}: '
        f"{'a reference keeps values and curves, not maps' if board.kind == 'reference' else 'not stored in the run'}.</p>"
        if missing
        else ""
    )
    if picture is None:
        note += '<p class="note">The image itself is not shown: no run or check given holds its pixels.</p>'
    focus = '<div id="focus"><h2 id="focus-title"></h2><div id="focus-map"></div></div>'
    body = (
        f"{controls}<p class=meta>{esc(board.label)}, image {n + 1} of {len(board.image_ids)}</p>"
        f'<div class="gallery">{"".join(gallery)}</div>{note}{focus}'
        f"<section><h2>Scores of this image</h2>{scores_table(rows, n)}</section>"
        f"<h2>Perturbation curves</h2>{curve_charts(board, rows, n)}"
    )
    return page(f"Image {image_id}", body, "explorer.html", charts=True)


def scores_table(rows: list[Entry], n: int) -> str:
    """The image's scores, one group of metrics shown at a time as on the leaderboard (its buttons first)."""
    metrics = [m for m in PER_IMAGE_METRICS if any(m in e.values for e in rows)]
    groups = board_groups(metrics)
    shown = groups[0] if len(groups) > 1 else None
    group = {m: f' data-group="{metric_group(m)}"' + (" hidden" if shown and metric_group(m) != shown else "") for m in metrics}
    header = [
        "method",
        *(f"<th{group[m]}>{esc(m)} {'↑' if PER_IMAGE_METRICS[m].higher_is_better else '↓'}</th>" for m in metrics),
    ]
    body = [
        [esc(e.label), *(f"<td{group[m]}>{number(float(e.values[m][n])) if m in e.values else '–'}</td>" for m in metrics)]
        for e in rows
    ]
    attrs = [f' data-method="{esc(e.key)}"' for e in rows]
    return f'{group_buttons(groups)}<div class="scroll">{table(header, body, "scores", attrs)}</div>'


def curve_charts(board: Board, rows: list[Entry], n: int) -> str:
    settings = board.run["metrics_settings"]
    height, width = board.run["model_input_size"]
    out = []
    for replacement in replacements(settings):
        lines = []
        random_key = f"{RANDOM_ORDER}.{curve_key(replacement, 'random')}_logit"
        for label, key, series in [(RANDOM_ORDER, "random", board.curves.get(random_key))] + [
            (e.key, order, e.curves.get(f"{curve_key(replacement, order)}_logit")) for e in rows for order in ("morf", "lerf")
        ]:
            if series is None:
                continue
            y = series[n]
            x = np.arange(len(y)) * curve_grid(settings, replacement)[1] / (height * width)
            lines.append({"method": label, "order": key, "x": x.round(4).tolist(), "y": [float(f"{v:.5g}") for v in y]})
        if lines:
            chart = charts.curves_chart(
                f"pixels replaced: {replacement}", lines, f"curves-{slug(replacement)}", [e.key for e in rows]
            )
            out.append(
                f'{chart}<p class="caption">{esc(REPLACEMENT_TEXT[replacement])}; solid MoRF, dashed LeRF, dotted the random order.</p>'
            )
    return "".join(out) or "<p>No curves stored for this image.</p>"
