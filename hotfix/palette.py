"""Herald's colours, one owner for every channel: Teams cards and MessageCards, emails, the status pages.

Values are hex without ``#`` (what a MessageCard's ``themeColor`` takes); ``css`` writes them for HTML.
"""
from __future__ import annotations

from hotfix.enums import Severity

#: By severity: P0 red, P1 orange, P2 yellow (Microsoft Teams' own palette).
SEVERITY = {Severity.P0: "D13438", Severity.P1: "F7630C", Severity.P2: "FFB900"}
#: Good news (a resolution).
GOOD = "107C10"
#: A false alarm, or a hotfix whose severity is not known yet.
NEUTRAL = "8A8886"


def of(severity: Severity | None) -> str:
    """The colour of a severity (neutral when unknown)."""
    return SEVERITY[severity] if severity is not None else NEUTRAL


def css(colour: str) -> str:
    """``#d13438``: a colour as HTML and CSS write it."""
    return f"#{colour.lower()}"
