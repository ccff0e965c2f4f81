"""``bench site``: the whole site, staged in a temporary folder beside OUT and moved into place
only when every page is written, so a failed build leaves the previous site as it was. OUT is
replaced only when it is a site (it holds site.json) or empty."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from bench.site import charts
from bench.site.checks import write_checks
from bench.site.collect import Results, SiteInputError, collect
from bench.site.explorer import write_explorer
from bench.site.history import write_history
from bench.site.html import write_page
from bench.site.leaderboard import leaderboard_page
from bench.site.studies import write_studies
from bench.site.thesis import write_thesis
from common.files import replace_dir, write_json

SITE_JSON = "site.json"
ASSETS = ("site.css", "site.js")


@dataclass
class Built:
    path: Path
    pages: int
    files: int
    bytes: int
    seconds: float


def check_out(out: Path) -> None:
    if out.exists() and not (out / SITE_JSON).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise SiteInputError(f"--out {out} exists and is not a site built by bench site (no {SITE_JSON}); choose another --out")


def build_site(folders: list[str | Path], out: str | Path) -> Built:
    """Read ``folders`` and write the site to ``out``; returns what was written."""
    start = time.perf_counter()
    out = Path(out)
    check_out(out)
    results = collect(folders)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        pages = write_pages(results, staged)
        staged.chmod(0o755)
        replace_dir(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    written = [p for p in out.rglob("*") if p.is_file()]
    return Built(out, pages, len(written), sum(p.stat().st_size for p in written), time.perf_counter() - start)


def write_pages(results: Results, site: Path) -> int:
    assets = files("bench.site") / "assets"
    for name in ASSETS:
        write_page(site / "assets" / name, (assets / name).read_text(encoding="utf-8"))
    charts.write_plotly_js(site)
    write_page(site / "index.html", leaderboard_page(results))
    pages = 1 + write_explorer(results, site) + write_checks(results, site) + write_history(results, site)
    pages += write_thesis(results, site) + write_studies(results, site)
    write_json(site / SITE_JSON, {"built": datetime.now(UTC).isoformat(timespec="seconds"), "sources": results.sources})
    return pages
