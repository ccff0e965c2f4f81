"""The site's HTML: the page every view shares (navigation, the shared stylesheet and scripts),
escaping, tables, and the Markdown of the suite's reports (headings, paragraphs, pipe tables,
bold, italic and code spans, as :mod:`bench.core.markdown` writes them) turned into HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.site.charts import PLOTLY_JS

NAV = (
    ("index.html", "Leaderboard"),
    ("explorer.html", "Image explorer"),
    ("checks.html", "Checks"),
    ("history.html", "History"),
    ("thesis.html", "Thesis tables"),
    ("studies.html", "Studies"),
)


def write_page(path: Path, text: str) -> None:
    """A page or asset of the site, in UTF-8 whatever the locale (the pages declare it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: str, active: str, charts: bool = False) -> str:
    """A whole page: every script and style is a file of the site (no network); Plotly's only
    where the page has charts."""
    nav = "".join(f'<a href="{href}"{" class=active" if href == active else ""}>{esc(label)}</a>' for href, label in NAV)
    plotly = f'<script src="{PLOTLY_JS}"></script>' if charts else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · saliency benchmark</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="assets/site.css">'
        f"{plotly}"
        '<script src="assets/site.js" defer></script>'
        "</head><body>"
        f'<header><span class="brand">Noise Mask saliency benchmark</span><nav>{nav}</nav></header>'
        f"<main><h1>{esc(title)}</h1>{body}</main>"
        "<footer>Built by <code>python -m bench site</code> from stored results; nothing here was recomputed.</footer>"
        "</body></html>\n"
    )


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], css_class: str = "", row_attrs: Sequence[str] | None = None
) -> str:
    """A table of HTML cells (escape text before); a cell that is a whole ``<td>`` or ``<th>``
    (with attributes) is kept as it is."""
    head = "".join(h if h.startswith("<th") else f"<th>{h}</th>" for h in header)
    rows = list(rows)
    attrs = list(row_attrs) if row_attrs is not None else [""] * len(rows)
    body = "".join(
        f"<tr{a}>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>" for r, a in zip(rows, attrs)
    )
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def number(value: float, digits: int = 4) -> str:
    """A value for a cell: thousands in full, else ``digits`` significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


_INLINE = (
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])"), r"<em>\1</em>"),
)
_CODE = re.compile(r"`([^`]+)`")
_ESCAPED = re.compile(r"\\([\\`*_\[\]<>|#])")


def inline(text: str) -> str:
    """One line of the reports' Markdown as HTML: bold, italic and code spans; ``\\x`` escapes kept literal."""
    kept: list[str] = []

    def hold(match: re.Match) -> str:
        kept.append(match.group(1))
        return f"\ue000{len(kept) - 1}\ue001"

    out = esc(_ESCAPED.sub(hold, text))
    code: list[str] = []  # a code span is literal: no bold or italic inside (`records/*/*.npz`)

    def hold_code(match: re.Match) -> str:
        code.append(match.group(1))
        return f"\ue002{len(code) - 1}\ue003"

    out = _CODE.sub(hold_code, out)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    out = re.sub("\ue002(\\d+)\ue003", lambda m: f"<code>{code[int(m.group(1))]}</code>", out)
    return re.sub("\ue000(\\d+)\ue001", lambda m: esc(kept[int(m.group(1))]), out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


_NUMBER = re.compile(r"[-+−]?\.?\d")
_NO_VALUE = {"", "–", "-", "n/a"}


def _report_table(rows: list[list[str]]) -> str:
    """A pipe table's rows (header, separator, body) as a report table: a column of text (no cell
    a number; the claims, their verdicts and evidence) is left-aligned, a column of numbers right."""
    header, body = rows[0], rows[2:]
    text = [
        k > 0
        and any(r[k] not in _NO_VALUE for r in body if k < len(r))
        and not any(_NUMBER.match(r[k]) for r in body if k < len(r))
        for k in range(len(header))
    ]

    def cell(tag: str, k: int, value: str) -> str:
        return f'<{tag} class="text">{inline(value)}</{tag}>' if k < len(text) and text[k] else f"<{tag}>{inline(value)}</{tag}>"

    return table(
        [cell("th", k, h) for k, h in enumerate(header)], [[cell("td", k, c) for k, c in enumerate(r)] for r in body], "report"
    )


def markdown_to_html(lines: list[str]) -> str:
    """The subset of Markdown the suite's report sections write: ``#`` headings, pipe tables,
    paragraphs."""
    out: list[str] = []
    rows: list[list[str]] = []
    for raw in "\n".join(lines).splitlines():
        line = raw.strip()
        if line.startswith("|"):
            rows.append(_cells(line))
            continue
        if rows:
            out.append(_report_table(rows))
            rows = []
        if not line:
            continue
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            level = min(len(heading.group(1)) + 1, 6)
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        else:
            out.append(f"<p>{inline(line)}</p>")
    if rows:
        out.append(_report_table(rows))
    return "\n".join(out)
