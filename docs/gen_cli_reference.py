"""The command reference, generated from the parser itself (``bench.cli.build_parser``) so that
it cannot drift from the command line.

MkDocs runs this file as a hook (``hooks:`` in mkdocs.yml): on ``reference/cli.md`` it replaces
the line :data:`MARKER` with :func:`render`'s Markdown. ``tests/test_docs.py`` checks that every
command and flag of the parser is in it. argparse's own API (``_actions``, ``_SubParsersAction``)
is what ``--help`` itself walks; see https://docs.python.org/3/library/argparse.html.
"""

from __future__ import annotations

import argparse

from bench.cli import build_parser

MARKER = "<!-- cli-reference -->"
PAGE = "reference/cli.md"


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


def command_section(name: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"## {name}", "", f"{summary[:1].upper()}{summary[1:]}." if summary else "", ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
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


def on_page_markdown(markdown: str, page, **_) -> str:
    """MkDocs hook: fill :data:`PAGE`'s :data:`MARKER` with the reference."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} must contain the line {MARKER} (where the generated reference goes)")
    return markdown.replace(MARKER, render())
