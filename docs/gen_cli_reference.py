"""The command reference, generated from the parser itself (``bench.cli.build_parser``) so that
it cannot drift from the command line.

The page is committed with the reference between :data:`BEGIN` and :data:`END`, so that it reads
on GitHub too: ``python docs/gen_cli_reference.py`` rewrites it, and ``tests/test_docs.py`` checks
that it is current and that every command and flag of the parser is in it. MkDocs also runs this
file as a hook (``hooks:`` in mkdocs.yml): the site shows the reference as the parser has it when
the site is built, without the markers. argparse's own API (``_actions``, ``_SubParsersAction``)
is what ``--help`` itself walks; see https://docs.python.org/3/library/argparse.html.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's commands, also when run as a script

from bench.cli import build_parser  # noqa: E402

BEGIN = "<!-- cli-reference -->"
END = "<!-- /cli-reference -->"
PAGE = "reference/cli.md"
REGENERATE = "python docs/gen_cli_reference.py"
"""The command that rewrites the committed page."""
WIDTH = 100
"""Usage lines are wrapped here, at this width, not by argparse: its wrapping differs between
Python versions and follows the terminal, and the committed page must be the same everywhere."""


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """Each command's name -> (its one-line help, its parser), in ``--help``'s order."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {name: (summaries.get(name, ""), sub) for name, sub in action.choices.items()}


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a user gives (positionals and options), without ``--help``."""
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS]


def names(action: argparse.Action) -> list[str]:
    """How an argument is written on the command line: its flags, or a positional's name."""
    return list(action.option_strings) or [action.metavar if isinstance(action.metavar, str) else action.dest]


def _help(action: argparse.Action, prog: str) -> str:
    # argparse %-formats help strings (``%(default)s``, ``%%``) when it prints them: do the same
    text = action.help or ""
    return text % {**vars(action), "prog": prog} if "%" in text else text


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "(flag)"
    if action.choices:
        return " \\| ".join(f"`{c}`" for c in action.choices)
    metavar = action.metavar or (action.dest.upper() if action.option_strings else None)
    return f"`{metavar}`" if isinstance(metavar, str) else ""


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.required:
        return ""
    return f"`{action.default}`"


def _usage_parts(text: str) -> list[str]:
    """A one-line usage split at the spaces outside brackets, an option kept with its value."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char in "[{(") - (char in "]})")
        if char == " " and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    merged: list[str] = []
    for part in [*parts, current]:
        if merged and merged[-1].startswith("-") and " " not in merged[-1] and not part.startswith(("-", "[")):
            merged[-1] += f" {part}"
        else:
            merged.append(part)
    return merged


def usage(parser: argparse.ArgumentParser) -> str:
    """``parser``'s usage, wrapped at :data:`WIDTH` under the command's name."""
    formatter = argparse.HelpFormatter(parser.prog, width=100_000)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    head = f"usage: {parser.prog} "
    lines = [head]
    for part in _usage_parts(formatter.format_help().strip().removeprefix(parser.prog).strip()):
        if len(lines[-1]) + len(part) > WIDTH and lines[-1].strip():
            lines.append(" " * len(head))
        lines[-1] += f"{part} "
    return "\n".join(line.rstrip() for line in lines)


def command_section(name: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"## {name}", "", f"{summary[:1].upper()}{summary[1:]}." if summary else "", ""]
    lines += ["```text", usage(parser), "```", ""]
    if parser.description:
        lines += [" ".join(parser.description.split()), ""]
    rows = [
        f"| {', '.join(f'`{n}`' for n in names(a))} | {_value(a)} | {_default(a)} | {_cell(_help(a, parser.prog))} |"
        for a in arguments(parser)
    ]
    if rows:
        lines += ["| argument | value | default | what |", "|---|---|---|---|", *rows, ""]
    return lines


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown: a table of the commands, then each command's usage, description and arguments."""
    parser = parser or build_parser()
    commands = subcommands(parser)
    lines = ["| command | what |", "|---|---|"]
    lines += [f"| [`{name}`](#{name}) | {_cell(summary)} |" for name, (summary, _) in commands.items()]
    lines.append("")
    for name, (summary, sub) in commands.items():
        lines += command_section(name, summary, sub)
    return "\n".join(lines)


def _split(page: str) -> tuple[str, str]:
    """The page before :data:`BEGIN` and after :data:`END`."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise ValueError(f"docs/{PAGE} must hold the lines {BEGIN} and {END} (the generated reference goes between)")
    return head, tail


def updated(page: str) -> str:
    """``page`` (docs/reference/cli.md's text) with the current reference between the markers."""
    head, tail = _split(page)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def on_page_markdown(markdown: str, page, **_) -> str:
    """MkDocs hook: :data:`PAGE` shows the reference as the parser has it now, without the markers."""
    if page.file.src_uri != PAGE:
        return markdown
    head, tail = _split(markdown)
    return f"{head}{render()}{tail}"


def main() -> int:
    """Rewrite the committed page (:data:`REGENERATE`)."""
    path = Path(__file__).resolve().parent / PAGE
    text = updated(path.read_text())
    if text != path.read_text():
        path.write_text(text)
    print(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines, current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
