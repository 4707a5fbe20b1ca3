"""Every size limit of Herald, in one place: what is accepted, what is stored, what each channel shows.

Invariants:

- No event is refused for the length of a free text: the HTTP intake takes bodies up to
  ``[http] max_body`` (default ``MAX_BODY_DEFAULT``); a free text is stored whole up to
  ``STORED_TEXT_MAX`` characters (longer ones, which only a direct ``XADD`` can bring, are cut with
  ``STORED_CUT``). Only malformed events go to the dead letters.
- A job carries each text cut to ``JOB_TEXT_MAX``, which is longer than every channel's budget,
  so a text cut for the job is always cut again, with the visible marker, by the channel.
- Each channel cuts texts to its budget with ``truncation_marker`` (locale, ticket): a reader
  always sees that there is more, and where to read it.
"""
from __future__ import annotations

from typing import Any, TypeVar, cast

from hotfix.enums import Channel

#: Default of ``[http] max_body``: the largest request body the intake reads (bytes).
MAX_BODY_DEFAULT = 1024 * 1024
#: Free text stored whole up to this many characters (the default body limit).
STORED_TEXT_MAX = MAX_BODY_DEFAULT
#: Names, identifiers, URLs: refused (422 naming the field) when longer.
SHORT_TEXT_MAX = 500
#: What closes a text cut on intake (only a direct XADD can bring a text that long).
STORED_CUT = "… [cut at 1 MiB]"

#: The classification table reads this many characters of the title and of the impact (each).
CLASSIFY_CHARS = 1_000
#: A timeline entry's summary (the full text stays in the state's fields).
SUMMARY_CHARS = 300
#: Each text a delivery job carries (longer than any channel budget below).
JOB_TEXT_MAX = 16_000
#: Each text in an email body (text and HTML parts).
EMAIL_TEXT_CHARS = 8_000
#: Each text in a Teams card.
CARD_TEXT_CHARS = 1_500
#: Teams rejects messages over 28 KB: the card's envelope stays under this many bytes.
TEAMS_CARD_BYTES = 28_000
#: Email subjects and Teams titles: one line of at most this many characters.
SUBJECT_CHARS = 200
#: A value in a table cell of the coordination document or the status page.
DOCUMENT_CELL_CHARS = 300
#: A text in the coordination document's "full texts" section, and on the status page.
DOCUMENT_TEXT_CHARS = 20_000
#: Events waiting in one hotfix's state (before its declaration; a post-mortem before its resolution): at most
#: this many, and this many characters of JSON together; one more is dead-lettered, since every later event of
#: the ticket loads and writes them all (Redis refuses a value over 512 MB: the desk would stop).
WAITING_EVENTS_MAX = 100
WAITING_CHARS_MAX = 4 * STORED_TEXT_MAX

J = TypeVar("J")

_MARKERS = {
    "fr": "… (texte tronqué, version complète : `hotfix show {ticket}`)",
    "en": "… (text truncated, full version: `hotfix show {ticket}`)",
}


def channel_text_chars(channel: Channel | str | None) -> int:
    """The budget of each text in a message of ``channel`` (an email's when unknown)."""
    return CARD_TEXT_CHARS if channel in (Channel.TEAMS, Channel.TEAMS.value) else EMAIL_TEXT_CHARS


def truncation_marker(locale: str, ticket: str) -> str:
    """What ends a text cut for a channel, in the reader's language."""
    return _MARKERS.get(str(locale), _MARKERS["en"]).format(ticket=ticket)


def clip(text: str, limit: int, marker: str = "…") -> str:
    """``text`` if it fits ``limit`` characters, else its start (at a word when close) and ``marker``."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(marker), 0)
    head = text[:keep]
    space = head.rfind(" ")
    if space > 0 and space > keep - 40:
        head = head[:space]
    return head.rstrip() + marker


def clip_all(data: J, limit: int, marker: str = "…") -> J:
    """A copy of plain JSON data with every string longer than ``limit`` clipped (keys untouched)."""
    return cast(J, _clip_any(data, limit, marker))


def _clip_any(data: Any, limit: int, marker: str) -> Any:
    if isinstance(data, str):
        return clip(data, limit, marker)
    if isinstance(data, dict):
        return {k: _clip_any(v, limit, marker) for k, v in data.items()}
    if isinstance(data, list):
        return [_clip_any(v, limit, marker) for v in data]
    return data
