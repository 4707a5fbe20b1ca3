"""Text hygiene: no control character reaches a stored state, an email, a card or a page.

Invariant: ``printable`` keeps tabs and line breaks (``\\r\\n`` and ``\\r`` become ``\\n``) and drops every
other C0/C1 control character and DEL — NUL included, which some mail servers and Teams reject and
which hides text in some viewers — and the bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069), which can make a title read backwards or spill its direction into the
rest of a subject line, a card or a page ("Trojan Source"). The marks U+200E/U+200F/U+061C, which have no
such reach, and the joiners of emoji sequences stay. Events are cleaned where they enter (``parse_event``), messages and
pages again where they are written (the templates' ``finalize`` and the render context), so that a
state stored before this rule is cleaned on its way out too.
"""
from __future__ import annotations

import re
from typing import Any, TypeVar

from markupsafe import Markup

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_RETURN = re.compile(r"\r\n?")


def printable(text: str) -> str:
    """``text`` without control characters nor bidi overrides (tabs and line breaks kept, every line break as ``\\n``)."""
    if text.isprintable():  # the common case, at C speed
        return text
    cleaned = _CONTROL.sub("", _RETURN.sub("\n", text))
    return Markup(cleaned) if isinstance(text, Markup) else cleaned


def printable_all(data: T) -> T:
    """A copy of plain JSON data with every string (keys too) made ``printable``."""
    return _clean(data)  # type: ignore[no-any-return]


def _clean(data: Any) -> Any:
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {_clean(k): _clean(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_clean(v) for v in data]
    return data


def finalize(value: Any) -> Any:
    """Jinja's ``finalize``: every string a template writes goes through ``printable`` (escaping follows)."""
    return printable(value) if isinstance(value, str) else value
