"""A Griffe extension (mkdocs.yml, mkdocstrings' ``extensions``): the ``#:`` comments above an
attribute are its docstring, as Sphinx reads them.

logout_sso documents module attributes that way (``logout_sso.signals``, ``RegistrationError``
in ``logout_sso.api``); Griffe reads only a string literal after the assignment.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import griffe

COMMENT = "#:"


class SphinxAttributeComments(griffe.Extension):
    def on_attribute_instance(
        self,
        *,
        node: ast.AST | griffe.ObjectNode,
        attr: griffe.Attribute,
        agent: Any,
        **kwargs: Any,
    ) -> None:
        if attr.docstring is not None or attr.lineno is None:
            return
        filepath = attr.filepath
        if not isinstance(filepath, Path) or filepath not in attr.lines_collection:
            return
        lines = attr.lines_collection[filepath]
        comment: list[str] = []
        index = attr.lineno - 2  # The line above the assignment (line numbers start at 1).
        while index >= 0 and lines[index].lstrip().startswith(COMMENT):
            comment.insert(0, lines[index].lstrip()[len(COMMENT) :].strip())
            index -= 1
        if comment:
            attr.docstring = griffe.Docstring(
                "\n".join(comment), lineno=index + 2, endlineno=attr.lineno - 1, parent=attr
            )
