"""Untrusted JSON parsed within limits: depth, number size, constants, UTF-8, no lone surrogate — or a ``WireError`` saying why."""
from __future__ import annotations

import pytest

from hotfix import wire

HOSTILE = [
    ("[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
    ('{"a":' * 65 + "1" + "}" * 65, "nested deeper than 64 levels"),
    ("[" * 5000, "nested deeper than 64 levels"),  # unclosed, still never a RecursionError
    ("1" * 5000, "a number of 5000 characters"),
    ('{"n": -' + "9" * 4301 + "}", "a number of 4302 characters"),  # past Python's int digit limit
    ('{"n": 1.' + "5" * 200 + "}", "a number of 202 characters"),
    ('{"n": NaN}', "NaN is not JSON"),
    ("[Infinity]", "Infinity is not JSON"),
    (b'{"t": "\xff"}', "not UTF-8 text (byte 0xff at position 7)"),
    ("[1, 2", "not valid JSON (Expecting"),
    ("", "not valid JSON (Expecting value"),
    ('{"team": {"oncall": "\\ud800"}}', "a string holds an unpaired surrogate (\\ud800)"),
    ('["ok", {"\\uDFFF": 1}]', "a string holds an unpaired surrogate (\\udfff)"),
    ('"\ud800"', "a string holds an unpaired surrogate (\\ud800)"),  # a str handed over as is
]


@pytest.mark.parametrize(("raw", "reason"), HOSTILE)
def test_hostile_json_is_a_wire_error_naming_the_fault(raw: str | bytes, reason: str) -> None:
    """Each hostile document raises ``WireError`` (only), with a reason a producer can act on."""
    with pytest.raises(wire.WireError) as caught:
        wire.loads(raw)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(("raw", "value"), [
    ('{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
    ("\ufeff[1]".encode(), [1]),
    ('{"a":' * 63 + "[1]" + "}" * 63, None),
    ("1" * 100, int("1" * 100)),
    ('"\\ud83d\\udea8 \\u00e9"', "🚨 é"),  # a surrogate pair is one character
])
def test_acceptable_json_parses(raw: str | bytes, value: object) -> None:
    """Ordinary JSON, a UTF-8 BOM, 64 levels and a 100-digit number are accepted."""
    parsed = wire.loads(raw)
    assert value is None or parsed == value
    assert wire.depth(parsed) <= wire.MAX_DEPTH
