"""Text from outside (applications' answers, identity providers' errors, request parameters)
made safe to write into a log line or show in the admin.

A control character could start a forged log line (``"oops\\n2026-01-01 CRITICAL ..."``), and
an invisible or bidirectional formatting character could make a line read otherwise than it is:
each is written as its escape sequence instead (``\\n``, ``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

#: Controls, formatting characters, line and paragraph separators, surrogates, private use.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in ESCAPED_CATEGORIES:
        return char
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def printable(text: str, *, limit: int | None = None) -> str:
    """``text`` with every control or invisible formatting character escaped, cut to ``limit``
    characters (before escaping) with an ellipsis when longer."""
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    escaped = "".join(_escaped(char) for char in text)
    return escaped + "…" if cut else escaped
