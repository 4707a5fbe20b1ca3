"""JSON as it comes in from outside: parsed once, within limits, or refused with a reason.

``loads`` is the one parser of untrusted JSON (the intake's bodies, ``hotfix push --file``, the
daemon's stream entries). Invariants: it raises only ``WireError`` (a ``ValueError``), whose
message says what is wrong and where; no nesting deeper than ``MAX_DEPTH``, no number longer
than ``MAX_NUMBER_CHARS`` characters, no ``NaN`` / ``Infinity``, text that is UTF-8 and no string
holding an unpaired surrogate (``"\\ud800"``) — so nothing behind it meets a ``RecursionError``,
Python's integer digit limit, an infinite float or a ``UnicodeEncodeError`` (Redis, SMTP, Teams).
"""
from __future__ import annotations

import json
import re
from typing import Any

#: The deepest nesting of arrays and objects accepted (a Jira issue webhook needs about 8).
MAX_DEPTH = 64
#: The longest number accepted, in characters (a millisecond timestamp has 13 digits).
MAX_NUMBER_CHARS = 100


class WireError(ValueError):
    """Input that is not acceptable JSON; ``str()`` says why."""


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER_CHARS:
            raise WireError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
        return kind(text)
    return parse


def _constant(name: str) -> Any:
    raise WireError(f"{name} is not JSON (use null or a string)")


def decode(data: bytes | str) -> str:
    """Bytes as UTF-8 text (a BOM dropped), or ``WireError`` naming the first bad byte."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WireError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start})") from None


def loads(data: bytes | str) -> Any:
    """Parse one JSON document within the limits, or raise ``WireError``."""
    text = decode(data)
    try:
        value = json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_constant)
    except WireError:
        raise
    except RecursionError:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise WireError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # e.g. a float json cannot read
        raise WireError(f"not valid JSON ({exc})") from None
    if depth(value) > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE.search(text) or _ESCAPED_SURROGATE.search(text):  # the walk only when one may be there
        lone = _unpaired_surrogate(value)
        if lone is not None:
            raise WireError(f"a string holds an unpaired surrogate (\\u{ord(lone):04x}): not Unicode text")
    return value


#: A UTF-16 surrogate: JSON's ``\\udXXX`` escapes can spell one alone, which no UTF-8 text (an email, a card,
#: Redis) can carry.
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _unpaired_surrogate(value: Any) -> str | None:
    """The first unpaired surrogate in the strings (keys too) of ``value``, or None; iterative."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return found.group()
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (0 for a scalar); iterative, so any depth is measured."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
