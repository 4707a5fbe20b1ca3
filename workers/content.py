"""What rendering produces and senders consume: plain, immutable message contents."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hotfix import palette
from hotfix.enums import Severity


@dataclass(frozen=True)
class EmailContent:
    """A rendered email: one-line subject (no CR/LF), plain text and autoescaped HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class TeamsContent:
    """A rendered Teams message.

    ``card`` is the Adaptive Card itself (``{"type": "AdaptiveCard", "version": "1.5", ...}``),
    which the workflow format wraps in the message envelope; ``title``, ``text`` (Markdown-safe)
    and ``facts`` feed the legacy connector's MessageCard; ``color`` is a hex theme colour.
    """

    title: str
    text: str
    card: dict[str, Any]
    facts: list[tuple[str, str]] = field(default_factory=list)
    color: str = palette.SEVERITY[Severity.P0]
