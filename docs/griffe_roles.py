"""A griffe extension for the API reference: the docstrings cite code with Sphinx roles
(``:class:`Classifier```, ``:func:`~metrics.abpc```), which Markdown would print as they are;
this turns each into inline code (``Classifier``, ``abpc``).

mkdocstrings-python loads it (``extensions:`` in mkdocs.yml); griffe's extension API:
https://mkdocstrings.github.io/griffe/guide/users/extending/
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`~?([^`]+)`")


def plain(text: str) -> str:
    """``:role:`target``` -> ```target```."""
    return ROLE.sub(r"`\1`", text)


class SphinxRolesToCode(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **_) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
