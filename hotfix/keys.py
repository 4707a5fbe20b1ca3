"""Every Redis key and queue name Herald uses, in one place.

All keys start with ``PREFIX``; a ticket is validated against ``TICKET_PATTERN``
before it is ever put into a key, so no ticket can reach outside the prefix.
"""
from __future__ import annotations

import re

PREFIX = "hotfix:"

#: The stream producers XADD events to (public interface).
EVENTS_STREAM = "hotfix:events"
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
#: Timers: a sorted set of "<ticket>|<kind>" members scored by due time (epoch seconds).
TIMERS = "hotfix:timers"

#: Marks a delivery job that reached its end (sent or failed for good): ``done:<job id>``.
DONE_PREFIX = "hotfix:done:"

#: RQ queue names, most urgent first; workers listen in this order.
QUEUE_NAMES = ("hotfix-p0", "hotfix-p1", "hotfix-p2")

TICKET_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_TICKET_RE = re.compile(TICKET_PATTERN)


def _checked(ticket: str) -> str:
    if not _TICKET_RE.match(ticket):
        raise ValueError(f"invalid ticket {ticket!r}: expected 1-64 letters, digits, '.', '_' or '-'")
    return ticket


def hotfix(ticket: str) -> str:
    """The JSON state of one hotfix."""
    return f"{PREFIX}state:{_checked(ticket)}"


def deliveries(ticket: str) -> str:
    """A hash of delivery receipts of one hotfix: field ``<job>|<recipient>``."""
    return f"{PREFIX}deliveries:{_checked(ticket)}"


def open_by_severity(severity: str) -> str:
    """Tickets of the open hotfixes of one severity (a set), for the gauges."""
    return f"{PREFIX}open:{severity}"


def done(job_id: str) -> str:
    """Set once a delivery job has finished for good; later messages of the hotfix wait on it."""
    return f"{DONE_PREFIX}{job_id}"


def throttle(channel: str) -> str:
    """The token bucket of one Teams webhook."""
    return f"{PREFIX}throttle:{channel}"


def breaker(channel: str) -> str:
    """Set for a while after a Teams webhook failed transiently: jobs for it hold off meanwhile."""
    return f"{PREFIX}breaker:{channel}"


def queue_for(severity_rank: int) -> str:
    """The RQ queue for a severity rank (0 = P0)."""
    return QUEUE_NAMES[min(max(severity_rank, 0), len(QUEUE_NAMES) - 1)]


def intake_group(source: str, group: str) -> str:
    """What the HTTP intake remembers of one alert group / issue (``group`` is a hash, never raw input)."""
    if not re.match(r"^[a-z]{1,20}$", source) or not re.match(r"^[A-Za-z0-9._-]{1,80}$", group):
        raise ValueError("invalid intake group key")
    return f"{PREFIX}intake:{source}:{group}"
