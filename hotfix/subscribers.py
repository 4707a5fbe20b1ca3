"""Who is in an audience: its configured addresses, changed by people themselves and by operators.

An audience's addresses come from the configuration (``emails``, ``emails_file``); what people and
operators change is kept in Redis, one hash per audience (``keys.subscribers``): address → the
latest ``Entry`` (state, origin, when). An address joins a ``self_service`` audience in two steps
(``pending`` until its confirmation link is followed, then ``subscribed``) and leaves any audience
with ``unsubscribed`` — for good, whether it came from ``emails``, ``emails_file`` or the form.

Invariants:

- addresses are compared normalised (``normalize``: trimmed, lower-case), so a file's ``Bob@Corp``
  and a form's ``bob@corp`` are one person;
- an ``unsubscribed`` entry wins over the configuration: the address gets nothing more of that
  audience, from the next message on — the daemon leaves it out when it builds jobs, and the worker
  checks again right before sending (a job built earlier, a message released from approval);
- a ``pending`` address receives nothing until it confirms; a request left unconfirmed past its link's life
  (``CONFIRM_TTL``) is forgotten at the audience's next request: a form-only address leaves the list, one of the
  configuration goes back to ``unsubscribed`` (it had left before asking again);
- ``recipients`` is pure: the stored entries are read once (``entries``) and passed in.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict
from redis import Redis

from hotfix import keys
from hotfix.connection import as_text
from hotfix.settings import Settings
from hotfix.subscription_links import CONFIRM_TTL

log = logging.getLogger(__name__)

#: A pending subscription asked again within this time sends no second confirmation email.
RESEND_AFTER = timedelta(minutes=10)
#: The most subscription requests one audience takes in an hour: anyone holding an invitation reaches the form,
#: and each request mails an address of their choosing (``a+1@…``, ``a+2@…`` are distinct addresses).
REQUESTS_PER_HOUR = 100


class Origin(str, Enum):
    """Where an address of an audience comes from."""

    CONFIG = "config"  # [audiences.X] emails
    FILE = "file"      # [audiences.X] emails_file
    SELF = "self"      # the subscription form (double opt-in)


class SubscriptionState(str, Enum):
    """Whether an address receives the audience's messages."""

    SUBSCRIBED = "subscribed"
    PENDING = "pending"
    UNSUBSCRIBED = "unsubscribed"


class Entry(BaseModel):
    """The latest change of one address in one audience, as stored."""

    model_config = ConfigDict(extra="ignore")

    state: SubscriptionState
    origin: Origin | None = None
    at: datetime
    by: str | None = None


class Subscriber(BaseModel):
    """One address of an audience, as ``hotfix subscribers`` lists it."""

    address: str
    origin: Origin
    state: SubscriptionState
    at: datetime | None = None
    by: str | None = None


class InvalidAddress(ValueError):
    """An address the form or the CLI cannot take; ``str()`` says why."""


def normalize(address: str) -> str:
    """The form addresses are compared in: trimmed, lower-case."""
    return address.strip().lower()


def check_address(address: str, allowed_domains: Iterable[str] = ()) -> str:
    """The normalised address, or ``InvalidAddress`` (not an address, or a domain not allowed)."""
    text = address.strip()
    if not text or len(text) > 254:
        raise InvalidAddress("expected an email address such as name@example.com")
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    normalized = normalize(valid.normalized)
    domains = [d.lower() for d in allowed_domains]
    domain = normalized.rpartition("@")[2]
    if domains and domain not in domains:
        raise InvalidAddress(f"only addresses of {', '.join(domains)} may join")
    return normalized


def entries(redis: Redis, audience: str) -> dict[str, Entry]:
    """The stored changes of an audience, by normalised address."""
    out: dict[str, Entry] = {}
    for field, raw in redis.hgetall(keys.subscribers(audience)).items():
        try:
            out[as_text(field)] = Entry.model_validate_json(raw)
        except ValueError:
            log.warning("subscribers of %s: unreadable entry skipped", audience)
    return out


def configured(settings: Settings, audience: str,
               reader: Callable[[Path], list[str]]) -> list[tuple[str, Origin]]:
    """The audience's addresses from the configuration, each once (``emails`` first, then ``emails_file``)."""
    found = settings.audiences.get(audience)
    if found is None:
        return []
    pairs = [(a, Origin.CONFIG) for a in found.emails]
    if found.emails_file is not None:
        pairs += [(a, Origin.FILE) for a in reader(found.emails_file)]
    out: dict[str, tuple[str, Origin]] = {}
    for address, origin in pairs:
        if address.strip():
            out.setdefault(normalize(address), (address.strip(), origin))
    return list(out.values())


def recipients(settings: Settings, audience: str, changes: Mapping[str, Entry],
               reader: Callable[[Path], list[str]]) -> list[str]:
    """Who receives the audience's messages: the configured addresses not taken out, then the confirmed ones."""
    out = [address for address, _ in configured(settings, audience, reader)
           if changes.get(normalize(address)) is None
           or changes[normalize(address)].state is SubscriptionState.SUBSCRIBED]
    known = {normalize(a) for a in out}
    for address, entry in changes.items():
        if entry.state is SubscriptionState.SUBSCRIBED and address not in known:
            out.append(address)
            known.add(address)
    return out


def roster(settings: Settings, audience: str, changes: Mapping[str, Entry],
           reader: Callable[[Path], list[str]]) -> list[Subscriber]:
    """Every address the audience knows, with its origin and state (configured ones first)."""
    out: list[Subscriber] = []
    seen: set[str] = set()
    for address, origin in configured(settings, audience, reader):
        key = normalize(address)
        entry = changes.get(key)
        if entry is not None:
            out.append(Subscriber(address=address, origin=origin, state=entry.state, at=entry.at, by=entry.by))
        else:
            out.append(Subscriber(address=address, origin=origin, state=SubscriptionState.SUBSCRIBED))
        seen.add(key)
    for address, entry in sorted(changes.items(), key=lambda item: item[1].at):
        if address not in seen:
            out.append(Subscriber(address=address, origin=entry.origin or Origin.SELF, state=entry.state, at=entry.at,
                                  by=entry.by))
    return out


def _write(redis: Redis, audience: str, address: str, entry: Entry) -> None:
    pipe = redis.pipeline()
    pipe.hset(keys.subscribers(audience), normalize(address), entry.model_dump_json(exclude_none=True))
    pipe.incr(keys.SUBSCRIBERS_VERSION)
    pipe.execute()


#: What ``hotfix.jobs.build_jobs`` asks for each audience it expands: the stored entries (``Book.get``).
Changes = Callable[[str], Mapping[str, Entry]]


def no_changes(audience: str) -> Mapping[str, Entry]:
    """The configuration alone (pure tests, previews)."""
    return {}


class Book:
    """The stored entries of the audiences, read once and read again only after a change.

    Every change bumps ``keys.SUBSCRIBERS_VERSION``; ``refresh`` (one GET) drops what was read when it moved,
    so the daemon does not read a large audience's hash for every batch.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._version: bytes | None = None
        self._cache: dict[str, dict[str, Entry]] = {}

    def refresh(self) -> None:
        version = self.redis.get(keys.SUBSCRIBERS_VERSION)
        if version != self._version:
            self._cache.clear()
            self._version = version  # type: ignore[assignment]

    def get(self, audience: str) -> Mapping[str, Entry]:
        if audience not in self._cache:
            self._cache[audience] = entries(self.redis, audience)
        return self._cache[audience]


def unsubscribe(redis: Redis, audience: str, address: str, now: datetime, *, by: str | None = None) -> bool:
    """Take ``address`` out of ``audience`` for good; False when it was already out."""
    key = normalize(address)
    current = entries_of(redis, audience, [key]).get(key)
    if current is not None and current.state is SubscriptionState.UNSUBSCRIBED:
        return False
    origin = current.origin if current is not None else None
    _write(redis, audience, key, Entry(state=SubscriptionState.UNSUBSCRIBED, origin=origin, at=now, by=by))
    return True


class TooManyRequests(Exception):
    """The audience took ``REQUESTS_PER_HOUR`` subscription requests this hour already: ask again later."""


def request(redis: Redis, settings: Settings, audience: str, address: str, now: datetime,
            reader: Callable[[Path], list[str]]) -> bool:
    """Note a subscription waiting for its confirmation; True when a confirmation email should go out.

    Nothing changes (and no email goes) for an address already receiving the audience's messages, or
    one that asked a moment ago; an unsubscribed address may come back through the confirmation. Past
    ``REQUESTS_PER_HOUR`` requests of the audience this hour, whatever the address, ``TooManyRequests``.
    """
    counter = keys.subscription_requests(audience, int(now.timestamp() // 3600))
    pipe = redis.pipeline()
    pipe.incr(counter)
    pipe.expire(counter, 2 * 3600)
    if int(pipe.execute()[0]) > REQUESTS_PER_HOUR:
        raise TooManyRequests(f"{audience} took {REQUESTS_PER_HOUR} subscription requests this hour")
    forget_unconfirmed(redis, audience, now)
    key = normalize(address)
    current = entries_of(redis, audience, [key]).get(key)
    listed = {normalize(a): o for a, o in configured(settings, audience, reader)}
    if current is None and key in listed:
        return False
    if current is not None and current.state is SubscriptionState.SUBSCRIBED:
        return False
    if current is not None and current.state is SubscriptionState.PENDING and now - current.at < RESEND_AFTER:
        return False
    # a configured address says so (it left before asking again: ``forget_unconfirmed`` must not let it back in)
    origin = listed.get(key) or (current.origin if current is not None and current.origin is not None else Origin.SELF)
    _write(redis, audience, key, Entry(state=SubscriptionState.PENDING, origin=origin, at=now))
    return True


#: A request's confirmation link is minted by a worker after the request (a queue may be slow): its entry is kept
#: this long past ``CONFIRM_TTL``, so that no link still valid finds its request forgotten.
LINK_MINTED_WITHIN = timedelta(days=1)


def forget_unconfirmed(redis: Redis, audience: str, now: datetime) -> int:
    """Forget the audience's requests whose confirmation link expired (``CONFIRM_TTL`` after the last one sent, and
    ``LINK_MINTED_WITHIN``): a form-only address leaves the list, a configured one is ``unsubscribed`` again. How
    many; nothing else changes. No link can confirm them any more, so no confirmation races this."""
    stale = {address: entry for address, entry in entries(redis, audience).items()
             if entry.state is SubscriptionState.PENDING and now - entry.at > CONFIRM_TTL + LINK_MINTED_WITHIN}
    if not stale:
        return 0
    pipe = redis.pipeline()
    for address, entry in stale.items():
        if entry.origin is Origin.SELF:
            pipe.hdel(keys.subscribers(audience), address)
        else:
            back = Entry(state=SubscriptionState.UNSUBSCRIBED, origin=entry.origin, at=now, by="confirmation expired")
            pipe.hset(keys.subscribers(audience), address, back.model_dump_json(exclude_none=True))
    pipe.incr(keys.SUBSCRIBERS_VERSION)
    pipe.execute()
    log.info("%s: %d unconfirmed subscription request(s) forgotten", audience, len(stale))
    return len(stale)


class NotPending(LookupError):
    """A confirmation with no request waiting for it: the address left (one click, ``--remove``) after asking."""


def confirm(redis: Redis, audience: str, address: str, now: datetime) -> bool:
    """The address confirmed (its link's form was posted): it receives the audience's messages. False if already.

    Only a pending request is confirmed: an address unsubscribed, or removed by an operator, since it asked
    (its confirmation link lasts days) raises ``NotPending`` and stays out until it asks again.
    """
    key = normalize(address)
    current = entries_of(redis, audience, [key]).get(key)
    if current is not None and current.state is SubscriptionState.SUBSCRIBED:
        return False
    if current is None or current.state is not SubscriptionState.PENDING:
        raise NotPending(f"no subscription of {key} to {audience} waits for a confirmation")
    origin = current.origin if current.origin is not None else Origin.SELF
    _write(redis, audience, key, Entry(state=SubscriptionState.SUBSCRIBED, origin=origin, at=now))
    return True


def entries_of(redis: Redis, audience: str, addresses: list[str]) -> dict[str, Entry]:
    """The stored entries of some addresses (normalised) of an audience."""
    if not addresses:
        return {}
    raws = redis.hmget(keys.subscribers(audience), [normalize(a) for a in addresses])
    out: dict[str, Entry] = {}
    for address, raw in zip(addresses, raws, strict=True):
        if raw:
            try:
                out[normalize(address)] = Entry.model_validate_json(raw)
            except ValueError:
                continue
    return out


def still_subscribed(redis: Redis, audience: str, addresses: list[str]) -> list[str]:
    """``addresses`` without those that left ``audience`` (checked right before sending)."""
    gone = {a for a, e in entries_of(redis, audience, addresses).items() if e.state is not SubscriptionState.SUBSCRIBED}
    return [a for a in addresses if normalize(a) not in gone]


def dump(subscriber: Subscriber) -> dict[str, str | None]:
    """One row of ``hotfix subscribers --format json``."""
    return json.loads(subscriber.model_dump_json())  # type: ignore[no-any-return]
