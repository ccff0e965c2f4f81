"""The command line's own behaviour: its help texts."""

from __future__ import annotations

import argparse

from bench.cli import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_help_shows_percent_signs_once():
    # argparse %-formats an argument's help but prints a description as written: a `%%` in a
    # description reaches the user as `%%`
    for name, parser in _commands().items():
        assert "%%" not in parser.format_help(), f"bench {name} --help prints '%%'"
