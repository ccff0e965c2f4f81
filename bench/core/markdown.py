"""Markdown for reports and check.md (which CI may post as a pull-request comment): one table
writer, and escaping of every string a user chose (names, ids, paths), so none can break out of
its cell or code span."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")
_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


def escape(text: object) -> str:
    """``text`` with Markdown's special characters escaped (and newlines folded), for a table
    cell or a line of prose."""
    return " ".join(str(text).splitlines()).translate(_SPECIAL)


def code(text: object) -> str:
    """``text`` as an inline code span that no backtick inside it can close early."""
    text = " ".join(str(text).splitlines())
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: Sequence[object], rows: Iterable[Sequence[object]], align: Sequence[str] | None = None) -> list[str]:
    """A Markdown table's lines. Cells are written as given (format numbers before; escape user
    strings with :func:`escape`); a ``|`` inside a cell is escaped so it cannot add a column.
    ``align``: per column ``"l"``, ``"r"`` or ``""`` (default)."""
    marks = {"l": ":---", "r": "---:", "": "---"}
    align = list(align) if align is not None else [""] * len(header)
    if len(align) != len(header):
        raise ValueError(f"align has {len(align)} entries for {len(header)} columns")

    def line(cells: Sequence[object]) -> str:
        if len(cells) != len(header):
            raise ValueError(f"a row has {len(cells)} cells for {len(header)} columns: {list(cells)!r}")
        return "| " + " | ".join(_UNESCAPED_BAR.sub(r"\\|", str(c)) for c in cells) + " |"

    return [line(header), "|" + "|".join(marks[a] for a in align) + "|", *(line(r) for r in rows)]
