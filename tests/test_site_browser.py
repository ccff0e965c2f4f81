"""bench site in a real browser: Debian's headless Chromium, started by Playwright for Python
(``executable_path``; Playwright's own browsers are never downloaded), loads the site from
``file://``. No console error, no request leaves the machine (every request but file:// is
aborted and counted), the leaderboard sorts on a click, the image explorer switches method,
rendering and image, and every chart is drawn (its div holds Plotly's svg).

Without Playwright or Chromium the tests are skipped, except under CI (``CI=true``), where they
fail: .ci/run installs both. ``BENCH_SITE_SCREENSHOTS=DIR`` saves screenshots of the views there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from site_support import built_site  # noqa: F401 - the shared session fixture

CHROMIUM = os.environ.get("BENCH_CHROMIUM") or shutil.which("chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = os.environ.get("BENCH_SITE_SCREENSHOTS")


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs Playwright and Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e .[test])")
    if CHROMIUM is None or not Path(CHROMIUM).is_file():
        _unavailable("no chromium on PATH (Debian: apt-get install chromium; or set BENCH_CHROMIUM to its executable)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Visit:
    """A page opened in its own context, with its console errors and outside requests."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, wait_until="load")

    def _route(self, route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def charts_drawn(self) -> tuple[int, int]:
        """(charts on the page, those with Plotly's svg or canvas inside)."""
        divs = self.page.locator(".plotly-graph-div")
        return divs.count(), self.page.locator(".plotly-graph-div:has(svg.main-svg, canvas)").count()

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"site_{name}.png"), full_page=True)

    def close(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], f"requests left the machine: {self.outside}"
        self.context.close()


def url(site: Path, page: str) -> str:
    return (site / page).resolve().as_uri()


def test_every_view_loads_offline_and_draws_its_charts(browser, built_site):  # noqa: F811
    site, _ = built_site
    explorer = sorted(site.glob("explore-*.html"))
    chosen = [p for p in site.glob("*.html") if not p.name.startswith("explore-")] + explorer[:2] + explorer[-2:]
    for page in sorted(set(chosen)):
        visit = Visit(browser, url(site, page.name))
        charts, drawn = visit.charts_drawn()
        assert charts == drawn, f"{page.name}: {drawn} of {charts} charts drawn"
        if page.name in ("history.html", "checks.html") or page.name.startswith("check-"):
            assert charts or page.name == "checks.html", page.name
        visit.close()


def test_leaderboard_sorts_on_a_click(browser, built_site):  # noqa: F811
    site, _ = built_site
    visit = Visit(browser, url(site, "index.html"))
    section = visit.page.locator("section", has_text="reference embedded-ci")
    table = section.locator("table.leaderboard")
    column = table.locator("th", has_text="ssim ↑")
    # one group of metrics at a time (issue 36, item 11): random colours' first, the maps' on a click
    assert not column.is_visible() and table.locator("th", has_text="abpc_sum_logit ↑").is_visible()
    section.locator(".groups button", has_text="map metrics").click()
    assert column.is_visible() and not table.locator("th", has_text="abpc_sum_logit ↑").is_visible()
    assert table.locator("tbody td:visible").count() == 4 * 7  # method, png_bytes, ssim, method_seconds; 7 rows
    index = table.locator("thead th").all_inner_texts().index(column.inner_text())

    def values() -> list[float]:
        cells = table.locator(f"tbody tr td:nth-child({index + 1})")
        return [float(v) for v in cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]

    before = values()
    column.click()
    assert values() == sorted(before, reverse=True)  # higher is better: the best first
    visit.shot("leaderboard")
    column.click()
    assert values() == sorted(before)
    png = table.locator("th", has_text="png_bytes ↓")
    png.click()  # lower is better: the first click puts the smallest first
    index = table.locator("thead th").all_inner_texts().index(png.inner_text())
    assert values() == sorted(values())
    section.locator(".groups button", has_text="ROAD").click()
    road = table.locator("th:visible")
    assert road.all_inner_texts()[0] == "method" and all("_road" in t for t in road.all_inner_texts()[1:])
    assert road.count() == 5 and section.locator('.groups button[aria-pressed="true"]').inner_text() == "ROAD"
    column = table.locator("th", has_text="abpc_sum_logit_road ↑")
    column.click()
    index = table.locator("thead th").all_inner_texts().index(column.inner_text())
    assert values() == sorted(values(), reverse=True)
    visit.close()


def test_explorer_switches_method_rendering_and_image(browser, built_site):  # noqa: F811
    site, _ = built_site
    visit = Visit(browser, url(site, "explore-embedded-ci-chelsea.html"))
    page = visit.page
    page.select_option("#method-select", "sensitivity-checked")
    assert page.locator("#focus-title").inner_text() == "sensitivity (checked)"
    assert page.locator("#focus-map img.map").count() == 1
    assert page.locator("table.scores tr.focused").get_attribute("data-method") == "sensitivity-checked"
    page.select_option("#rendering-select", "heatmap")
    assert page.locator(".map-card[data-method=sensitivity-checked] img").get_attribute("src").endswith("sensitivity-heatmap.png")
    page.wait_for_function(  # the heatmap file loads (a missing one never does: the wait fails)
        "() => { const img = document.querySelector('.map-card[data-method=sensitivity-checked] img');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    visit.shot("explorer")
    # the scores come in the leaderboard's groups: random colours' first, ROAD's on a click
    scores = page.locator("table.scores th:visible")
    assert scores.all_inner_texts()[1:] == [f"abpc_{k} ↑" for k in ("sum_logit", "mean_logit", "sum_prob_pct", "mean_prob_pct")]
    page.locator(".groups button", has_text="ROAD").click()
    assert all(t.endswith("_road ↑") for t in scores.all_inner_texts()[1:]) and scores.count() == 5
    page.select_option("#method-select", "deeplift")
    assert page.locator("#focus-title").inner_text() == "deeplift"
    assert page.locator("#focus-map .nomap").count() == 1  # a reference stores no maps, and says so
    page.select_option("#image-select", "explore-embedded-ci-coffee.html")
    page.wait_for_url("**/explore-embedded-ci-coffee.html")
    assert page.locator("h1").inner_text() == "Image coffee"
    visit.close()


def test_a_check_and_the_history(browser, built_site):  # noqa: F811
    site, checks = built_site
    check_page = next(site.glob("check-sensitivity-now-*.html")).name
    visit = Visit(browser, url(site, check_page))
    assert visit.charts_drawn() == (1, 1)
    assert visit.page.locator("table.verdicts tbody tr").count() > 0
    visit.shot("check")
    visit.close()
    visit = Visit(browser, url(site, "history.html"))
    charts, drawn = visit.charts_drawn()
    assert charts == drawn == 1
    points = visit.page.locator(".plotly-graph-div").first.evaluate("div => div.data.map(t => t.x.length)")
    assert set(points) == {len(checks)} == {3}
    visit.shot("history")
    visit.close()
