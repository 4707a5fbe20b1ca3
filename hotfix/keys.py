"""Every Redis key and queue name Herald uses, in one place.

All keys start with ``PREFIX``; a ticket is validated against ``TICKET_PATTERN``
before it is ever put into a key, so no ticket can reach outside the prefix.
"""
from __future__ import annotations

import hashlib
import re
from enum import Enum

from hotfix.connection import as_text

PREFIX = "hotfix:"

#: The stream producers XADD events to (public interface).
EVENTS_STREAM = "hotfix:events"
#: The P0 lane (internal): P0 events the intake and ``hotfix push`` write; daemons read it first (``daemon.lanes``).
P0_STREAM = "hotfix:events:p0"
#: Every stream the daemons read, the most urgent first.
EVENT_STREAMS = (P0_STREAM, EVENTS_STREAM)
#: The field of a stream entry that holds the event JSON (public interface).
EVENT_FIELD = "event"
#: The consumer group every daemon joins.
CONSUMER_GROUP = "hotfix-daemons"
#: Invalid events, with the reason and the raw payload.
DEAD_LETTERS = "hotfix:dead-letters"
#: Deliveries that failed for good or ran out of retries.
DELIVERY_DEAD_LETTERS = "hotfix:dead-letters:deliveries"
#: Tickets of the hotfixes not yet closed (a set).
OPEN_SET = "hotfix:open"
#: Every ticket ever seen (a set), for listing closed ones too.
ALL_SET = "hotfix:all"
#: Timers: a sorted set of ``timer_member(ticket, name)`` members scored by due time (epoch seconds).
TIMERS = "hotfix:timers"
#: Separates the ticket from the timer name in a member of ``TIMERS`` (never in a valid ticket).
TIMER_SEPARATOR = "|"

#: Communication figures shared by every process (a hash; see ``hotfix.communication``).
COMMUNICATION = "hotfix:communication"

#: Tickets that have a message held for approval (a set), for ``hotfix approvals``.
HELD_TICKETS = "hotfix:held"

#: Bumped at every change of any audience's subscribers, so readers know to read them again.
SUBSCRIBERS_VERSION = "hotfix:subscribers-version"

#: Marks a delivery job that reached its end (sent or failed for good): ``done:<job id>``.
DONE_PREFIX = "hotfix:done:"

#: RQ queue names, most urgent first; workers listen in this order.
QUEUE_NAMES = ("hotfix-p0", "hotfix-p1", "hotfix-p2")

#: The longest ticket.
TICKET_MAX = 64
#: Letters, digits, ``.``, ``_``, ``-``, not dots only (``.``, ``..`` are path names); with ``TICKET_MAX``.
TICKET_PATTERN = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
_TICKET_RE = re.compile(TICKET_PATTERN)


def valid_ticket(ticket: str) -> bool:
    """Whether ``ticket`` may name a hotfix (and so be put into a key, a path or a URL)."""
    return len(ticket) <= TICKET_MAX and _TICKET_RE.fullmatch(ticket) is not None


#: What a valid ticket is, in words (errors say it instead of the pattern).
TICKET_RULE = f"expected 1-{TICKET_MAX} letters, digits, '.', '_' or '-', not dots only"


def _checked(ticket: str) -> str:
    if not valid_ticket(ticket):
        raise ValueError(f"invalid ticket {ticket!r}: {TICKET_RULE}")
    return ticket


def hotfix(ticket: str) -> str:
    """The JSON state of one hotfix."""
    return f"{PREFIX}state:{_checked(ticket)}"


def receipts(ticket: str) -> str:
    """A hash of delivery receipts of one hotfix: field ``<job>|<recipient>``."""
    return f"{PREFIX}deliveries:{_checked(ticket)}"


def timer_member(ticket: str, name: str | Enum) -> str:
    """The member of ``TIMERS`` for one timer of one hotfix: ``<ticket>|<name>``, by value.

    ``name`` may be a timer kind (a ``str`` Enum): its value is used, never ``str()`` of the member,
    which Python 3.11+ spells ``TimerKind.BREACHED``.
    """
    value = name.value if isinstance(name, Enum) else name
    return f"{_checked(ticket)}{TIMER_SEPARATOR}{value}"


def parse_timer_member(member: bytes | str) -> tuple[str, str]:
    """(ticket, timer name) of a ``TIMERS`` member; the ``Kind.NAME`` spelling of older releases reads as ``name``."""
    ticket, _, name = as_text(member).partition(TIMER_SEPARATOR)
    if re.fullmatch(r"TimerKind\.[A-Z_]+", name):
        name = name.split(".", 1)[1].lower()
    return ticket, name


def approval(held_id: str) -> str:
    """The ticket of a held message, by its id (``ap-`` and hex digits), for ``hotfix approve ID``."""
    if not re.match(r"^ap-[0-9a-f]{6,32}$", held_id):
        raise ValueError(f"invalid approval id {held_id[:40]!r}: expected ap- and hex digits, as `hotfix approvals` lists")
    return f"{PREFIX}approval:{held_id}"


def subscribers(audience: str) -> str:
    """What people and operators changed in one audience (a hash: address → entry; see ``hotfix.subscribers``)."""
    return f"{PREFIX}subscribers:{_audience(audience)}"


def subscription_requests(audience: str, hour: int) -> str:
    """How many confirmation emails one audience's form sent in one hour (``hour``: hours since the epoch)."""
    return f"{PREFIX}subscription-requests:{_audience(audience)}:{int(hour)}"


def _audience(name: str) -> str:
    if not 1 <= len(name) <= 100 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"invalid audience name {name[:40]!r}: expected 1-100 characters without control characters")
    return name


def open_by_severity(severity: str) -> str:
    """Tickets of the open hotfixes of one severity (a set), for the gauges."""
    return f"{PREFIX}open:{severity}"


def lane_mark(ticket: str) -> str:
    """Set for a while when a producer sent a ticket's event to the P0 lane: its next events go there too."""
    return f"{PREFIX}lane:{_checked(ticket)}"


def done(job_id: str) -> str:
    """Set once a delivery job has finished for good; later messages of the hotfix wait on it."""
    return f"{DONE_PREFIX}{job_id}"


def throttle(channel: str) -> str:
    """The token bucket of one Teams webhook."""
    return f"{PREFIX}throttle:{channel}"


def announced(ticket: str, declaration: str) -> str:
    """Set when a declaration's first announcement was sent (its time to announce is counted once)."""
    digest = hashlib.sha256(f"{ticket}\x1f{declaration}".encode("utf-8")).hexdigest()[:32]
    return f"{PREFIX}announced:{digest}"


def breaker(channel: str) -> str:
    """Set for a while after a Teams webhook failed transiently: jobs for it hold off meanwhile."""
    return f"{PREFIX}breaker:{channel}"


def queue_for(severity_rank: int) -> str:
    """The RQ queue for a severity rank (0 = P0)."""
    return QUEUE_NAMES[min(max(severity_rank, 0), len(QUEUE_NAMES) - 1)]


def link_post(post_id: str) -> str:
    """Set when the action page pushed the event of one form post, so a second post of it pushes nothing."""
    if not re.match(r"^[a-f0-9]{16,64}$", post_id):
        raise ValueError("invalid link post id")
    return f"{PREFIX}link:{post_id}"


def intake_group(source: str, group: str) -> str:
    """What the HTTP intake remembers of one alert group / issue (``group`` is a hash, never raw input)."""
    if not re.match(r"^[a-z]{1,20}$", source) or not re.match(r"^[A-Za-z0-9._-]{1,80}$", group):
        raise ValueError("invalid intake group key")
    return f"{PREFIX}intake:{source}:{group}"
