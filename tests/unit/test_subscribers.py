"""Who is in an audience: configured addresses, changed by people (double opt-in, one-click out) and operators."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import fakeredis
import pytest

from hotfix import subscribers
from hotfix.settings import Settings
from hotfix.subscribers import InvalidAddress, Origin, SubscriptionState
from hotfix.subscription_links import CONFIRM_TTL

NOW = datetime.now(timezone.utc)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    lines = tmp_path / "customers.txt"
    lines.write_text("# the status list\nAnna@Customers.example\nbob@customers.example\n")
    return Settings(audiences={"customers": {"emails": ["ops@corp.example", "anna@customers.example"],
                                             "emails_file": str(lines), "self_service": True}})


def read(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_recipients_leave_out_who_left_and_add_who_confirmed(settings: Settings, fake_redis: fakeredis.FakeRedis) -> None:
    """A file address that unsubscribed gets nothing; a confirmed form address does; a pending one does not yet."""
    subscribers.unsubscribe(fake_redis, "customers", "BOB@customers.example", NOW)
    assert subscribers.request(fake_redis, settings, "customers", "new@customers.example", NOW, read)
    assert subscribers.request(fake_redis, settings, "customers", "later@customers.example", NOW, read)
    subscribers.confirm(fake_redis, "customers", "new@customers.example", NOW)
    changes = subscribers.entries(fake_redis, "customers")
    assert subscribers.recipients(settings, "customers", changes, read) == [
        "ops@corp.example", "anna@customers.example", "new@customers.example"]
    rows = {r.address: (r.origin, r.state) for r in subscribers.roster(settings, "customers", changes, read)}
    assert rows == {"ops@corp.example": (Origin.CONFIG, SubscriptionState.SUBSCRIBED),
                    "anna@customers.example": (Origin.CONFIG, SubscriptionState.SUBSCRIBED),
                    "bob@customers.example": (Origin.FILE, SubscriptionState.UNSUBSCRIBED),
                    "new@customers.example": (Origin.SELF, SubscriptionState.SUBSCRIBED),
                    "later@customers.example": (Origin.SELF, SubscriptionState.PENDING)}


def test_a_request_sends_one_confirmation_and_none_for_a_subscriber(settings: Settings,
                                                                      fake_redis: fakeredis.FakeRedis) -> None:
    """Asking twice in a row sends one email; a configured address asks for nothing; it comes back after leaving."""
    assert subscribers.request(fake_redis, settings, "customers", "x@customers.example", NOW, read)
    assert not subscribers.request(fake_redis, settings, "customers", "x@customers.example", NOW + timedelta(minutes=1), read)
    assert subscribers.request(fake_redis, settings, "customers", "x@customers.example", NOW + timedelta(hours=1), read)
    assert not subscribers.request(fake_redis, settings, "customers", "ops@corp.example", NOW, read)
    subscribers.unsubscribe(fake_redis, "customers", "ops@corp.example", NOW)
    assert subscribers.request(fake_redis, settings, "customers", "ops@corp.example", NOW, read)
    changes = subscribers.entries(fake_redis, "customers")
    assert "ops@corp.example" not in subscribers.recipients(settings, "customers", changes, read)  # until confirmed
    subscribers.confirm(fake_redis, "customers", "ops@corp.example", NOW)
    changes = subscribers.entries(fake_redis, "customers")
    assert "ops@corp.example" in subscribers.recipients(settings, "customers", changes, read)
    assert [r.origin for r in subscribers.roster(settings, "customers", changes, read)][0] is Origin.CONFIG


def test_a_confirmation_confirms_only_a_pending_request(settings: Settings, fake_redis: fakeredis.FakeRedis) -> None:
    """An address removed by an operator (or unsubscribed) after asking is not brought back by its old link."""
    with pytest.raises(subscribers.NotPending):  # nobody asked
        subscribers.confirm(fake_redis, "customers", "eve@customers.example", NOW)
    assert subscribers.request(fake_redis, settings, "customers", "x@customers.example", NOW, read)
    subscribers.unsubscribe(fake_redis, "customers", "x@customers.example", NOW, by="operator")
    with pytest.raises(subscribers.NotPending):
        subscribers.confirm(fake_redis, "customers", "x@customers.example", NOW + timedelta(minutes=5))
    assert subscribers.entries(fake_redis, "customers")["x@customers.example"].state is SubscriptionState.UNSUBSCRIBED
    assert subscribers.request(fake_redis, settings, "customers", "x@customers.example", NOW + timedelta(hours=1), read)
    assert subscribers.confirm(fake_redis, "customers", "x@customers.example", NOW + timedelta(hours=1))  # asked again


def test_an_audience_takes_a_bounded_number_of_requests_an_hour(settings: Settings, fake_redis: fakeredis.FakeRedis,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: the form mailed a confirmation to every distinct address asked (a+1@…, a+2@… all reach one inbox).
    Past REQUESTS_PER_HOUR requests of an audience in an hour, whatever the address, TooManyRequests; the next hour
    takes requests again."""
    monkeypatch.setattr(subscribers, "REQUESTS_PER_HOUR", 3)
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    for i in range(3):
        assert subscribers.request(fake_redis, settings, "customers", f"a+{i}@victim.example", hour, read)
    with pytest.raises(subscribers.TooManyRequests):
        subscribers.request(fake_redis, settings, "customers", "a+3@victim.example", hour + timedelta(minutes=59), read)
    assert "a+3@victim.example" not in subscribers.entries(fake_redis, "customers")
    assert subscribers.request(fake_redis, settings, "customers", "a+3@victim.example", hour + timedelta(hours=1), read)


def test_still_subscribed_checks_right_before_sending(fake_redis: fakeredis.FakeRedis) -> None:
    """A job built before the unsubscribe does not reach the address that left (whatever its case)."""
    subscribers.unsubscribe(fake_redis, "customers", "bob@customers.example", NOW)
    assert subscribers.still_subscribed(fake_redis, "customers", ["Bob@Customers.example", "anna@customers.example"]) == [
        "anna@customers.example"]


@pytest.mark.parametrize("address,domains,problem", [
    ("not an address", [], "must have an @-sign"),
    ("a@b", [], "should have a period"),
    ("x" * 300 + "@corp.example", [], "expected an email address"),
    ("eve@evil.example", ["corp.example"], "only addresses of corp.example"),
    ("a@corp.example\r\nBcc: x@y.z", [], "invalid characters"),
])
def test_check_address_refuses_what_is_not_an_allowed_address(address: str, domains: list[str], problem: str) -> None:
    """Malformed addresses, header injection and other domains are refused with the reason."""
    with pytest.raises(InvalidAddress, match=problem):
        subscribers.check_address(address, domains)


def test_check_address_normalises() -> None:
    """An allowed address comes back trimmed and lower-case."""
    assert subscribers.check_address("  Ann@Corp.Example ", ["corp.example"]) == "ann@corp.example"


def test_the_book_reads_again_only_after_a_change(fake_redis: fakeredis.FakeRedis) -> None:
    """The daemon's book keeps what it read until a change bumps the version."""
    book = subscribers.Book(fake_redis)
    book.refresh()
    assert book.get("customers") == {}
    subscribers.unsubscribe(fake_redis, "customers", "bob@customers.example", NOW)
    assert book.get("customers") == {}
    book.refresh()
    assert set(book.get("customers")) == {"bob@customers.example"}


def test_a_self_service_audience_with_no_configured_address_reaches_who_joined() -> None:
    """An audience made only of people who joined on their own gets an email job for them, and none while it is empty."""
    from hotfix.enums import Channel, MessageName, Severity
    from hotfix.jobs import build_jobs
    from hotfix.routing import expand
    from hotfix.state import HotfixState

    now = datetime.now(timezone.utc)
    settings = Settings(audiences={"watchers": {"self_service": True}})
    state = HotfixState(ticket="INC-1", declared=True, severity=Severity.P2, declared_at=now)
    deliveries = expand(MessageName.UPDATE, ["watchers"], settings, "ev-1")
    assert [(d.audience, d.channel) for d in deliveries] == [("watchers", Channel.EMAIL)]
    joined = {"eve@corp.example": subscribers.Entry(state=SubscriptionState.SUBSCRIBED, origin=Origin.SELF, at=now)}
    [job] = build_jobs(deliveries, state, None, settings, now, changes=lambda audience: joined)
    assert job.payload.recipients == ["eve@corp.example"]
    assert build_jobs(deliveries, state, None, settings, now) == []


def test_a_request_left_unconfirmed_past_its_link_is_forgotten(settings: Settings,
                                                               fake_redis: fakeredis.FakeRedis) -> None:
    """At the audience's next request, a form-only address whose confirmation link expired leaves the list and a
    configured one that had left is unsubscribed again (never back in by the pruning); a fresh request stays."""
    subscribers.unsubscribe(fake_redis, "customers", "BOB@customers.example", NOW)
    assert subscribers.request(fake_redis, settings, "customers", "stale@customers.example", NOW, read)
    assert subscribers.request(fake_redis, settings, "customers", "bob@customers.example", NOW, read)
    valid = NOW + CONFIRM_TTL + timedelta(hours=1)  # a link minted late by a busy worker may still confirm
    assert subscribers.request(fake_redis, settings, "customers", "other@customers.example", valid, read)
    assert subscribers.entries(fake_redis, "customers")["stale@customers.example"].state is SubscriptionState.PENDING
    later = NOW + CONFIRM_TTL + subscribers.LINK_MINTED_WITHIN + timedelta(minutes=1)
    assert subscribers.request(fake_redis, settings, "customers", "fresh@customers.example", later, read)
    stored = subscribers.entries(fake_redis, "customers")
    assert "stale@customers.example" not in stored
    assert stored["bob@customers.example"].state is SubscriptionState.UNSUBSCRIBED
    assert stored["fresh@customers.example"].state is SubscriptionState.PENDING
    assert "bob@customers.example" not in subscribers.recipients(settings, "customers", stored, read)
    with pytest.raises(subscribers.NotPending):
        subscribers.confirm(fake_redis, "customers", "stale@customers.example", later)
