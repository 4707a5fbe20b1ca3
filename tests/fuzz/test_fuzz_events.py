"""Fuzz: generated events (valid and not) through ``parse_event``, a real daemon, and the HTTP intake."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from daemon.consumer import READ_WINDOW
from daemon.intake.app import create_app
from hotfix import dates, keys
from hotfix.events import InvalidEvent, parse_event
from tests.chaos.support import SIZES, record
from tests.fixtures.herald import drain, make_daemon, make_settings, xadd  # noqa: F401
from tests.integration.test_intake_support import TestClient

TOKEN = "fuzz-token"
FUZZ = settings(max_examples=SIZES.fuzz_examples, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

junk_text = st.one_of(st.text(max_size=50), st.text(min_size=4000, max_size=5000),
                      st.sampled_from(["", " ", "\x00", "\r\nBcc: x@y", "<script>alert(1)</script>", "{{ 7*7 }}",
                                       "../../etc", "*", "🚨" * 300, "INC-1", "P0", "declared", "\x1b[2J", "\u202e",
                                       "\ud800", ".", "..", "..."]))
#: Dates at and beyond the window's edges (issue 17), at the calendar's ends, in odd zones, or not dates at all.
NOW = datetime.now(timezone.utc)
edge_dates = st.one_of(
    st.builds(lambda edge, s, z: (NOW + edge + timedelta(seconds=s)).astimezone(timezone(timedelta(minutes=z))).isoformat(),
              st.sampled_from([dates.WINDOW, -dates.WINDOW, timedelta(0)]), st.integers(-5, 5), st.integers(-1439, 1439)),
    st.sampled_from(["9999-12-31T23:30:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-23:59",
                     "2026-02-30T00:00:00Z", "2026-11-25T09:12:00", "+275760-09-13T00:00:00Z"]))
#: Raw documents the JSON parser must refuse within its limits: deep nesting, huge numbers, lone surrogates.
hostile_raw = st.sampled_from(["[" * 5000 + "]" * 5000, '{"type": "declared", "ticket": ' + "[" * 70 + "]" * 70 + "}",
                               '{"type": "declared", "ticket": "A", "title": "t", "severity": "P0", "n": ' + "9" * 5000 + "}",
                               '{"type": "declared", "ticket": "A", "title": "\\ud800", "severity": "P0"}',
                               '{"type": "declared", "ticket": "A", "title": "t", "severity": "P0", "x": 1e999}',
                               '{"type": "declared", "ticket": "A", "title": "t", "severity": "P0", "x": NaN}'])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), junk_text)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                              st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                          max_leaves=12)
FIELDS = ["type", "ticket", "id", "at", "source", "severity", "title", "impact", "users_affected", "team", "eta",
          "message", "next_step", "phase", "checks", "fix", "root_cause", "postmortem_at", "reason", "link"]
plausible = st.fixed_dictionaries(
    {"type": st.sampled_from(["declared", "updated", "resolved", "rolled_back", "cancelled", "nope", 7]),
     "ticket": st.one_of(st.from_regex(r"\AFZ-[A-Za-z0-9._-]{1,20}\Z"), junk_text)},
    optional={name: st.one_of(json_value, edge_dates, st.sampled_from(["P0", "P1", "P2", "fix"]))
              for name in FIELDS[2:]})
events = st.one_of(plausible, st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=8), json_value)
raw_inputs = st.one_of(events.map(lambda e: json.dumps(e)), st.text(max_size=300),
                       st.binary(max_size=300).map(lambda b: b.decode("latin-1")), hostile_raw)

valid = st.fixed_dictionaries(
    {"type": st.just("declared"), "ticket": st.from_regex(r"\AFZ-[A-Za-z0-9._-]{1,20}\Z"),
     "title": st.text(min_size=1, max_size=300).filter(str.strip), "severity": st.sampled_from(["P0", "P1", "P2"])},
    optional={"impact": st.text(max_size=4000), "message": st.text(max_size=4000), "at": edge_dates, "eta": edge_dates,
              "started_at": edge_dates,
              "team": st.fixed_dictionaries({}, optional={"coordinator": st.text(max_size=500)})})
events = st.one_of(valid, events)
raw_inputs = st.one_of(events.map(lambda e: json.dumps(e)), raw_inputs)
DAEMON_FUZZ = settings(FUZZ, max_examples=max(30, SIZES.fuzz_examples // 4))

counts: dict[str, int] = {"parse_valid": 0, "parse_refused": 0, "daemon_applied": 0, "daemon_dead_lettered": 0,
                          "http_cases": 0, "http_refused": 0}


@FUZZ
@given(raw=raw_inputs)
def test_parse_event_accepts_or_names_the_fault(raw: str) -> None:
    """``parse_event`` never raises anything but ``InvalidEvent`` with a non-empty reason."""
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        counts["parse_refused"] += 1
        assert exc.reason.strip()
        return
    counts["parse_valid"] += 1
    assert event.id and event.at is not None and event.ticket


@DAEMON_FUZZ
@given(raw=raw_inputs)
def test_daemon_applies_or_dead_letters_every_entry(redis: Redis, make_daemon, raw: str) -> None:
    """A real daemon never crashes on an entry: it applies it or dead-letters it with the reason."""
    daemon = make_daemon()
    before = redis.xlen(keys.DEAD_LETTERS)
    [entry] = xadd(redis, raw)
    drain(daemon)
    pending = redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"]
    assert pending == 0  # acknowledged either way
    try:
        event = parse_event(raw, default_id=f"x-{entry}", window=READ_WINDOW)  # the daemon's door
    except InvalidEvent as exc:
        counts["daemon_dead_lettered"] += 1
        assert redis.xlen(keys.DEAD_LETTERS) == before + 1
        [(_id, row)] = redis.xrevrange(keys.DEAD_LETTERS, count=1)
        assert row[b"id"].decode() == entry and row[b"error"].decode() == exc.reason
        return
    counts["daemon_applied"] += 1
    assert redis.xlen(keys.DEAD_LETTERS) == before
    state = json.loads(redis.get(keys.hotfix(event.ticket)))
    assert event.event_id in state["applied_ids"] or any(p.get("id") == event.event_id for p in state["pending"])


@pytest.fixture
def client(redis: Redis, make_settings) -> TestClient:
    """The intake app on the test Redis, with a token."""
    settings = make_settings(http={"token": TOKEN})
    return TestClient(create_app(settings, redis), raise_server_exceptions=False)


@FUZZ
@given(path=st.sampled_from(["/events", "/hooks/alertmanager", "/hooks/grafana", "/hooks/jira"]),
       body=st.one_of(json_value.map(json.dumps), events.map(json.dumps), st.binary(max_size=300),
                      st.lists(events, max_size=3).map(json.dumps), hostile_raw,
                      st.fixed_dictionaries({"version": st.just("4"), "status": st.sampled_from(["firing", "resolved"]),
                                             "alerts": st.lists(st.dictionaries(st.text(max_size=8), json_value,
                                                                                max_size=5), max_size=3),
                                             "groupKey": junk_text, "commonLabels": st.dictionaries(
                                                 st.text(max_size=8), junk_text, max_size=4)}).map(json.dumps),
                      st.fixed_dictionaries({"webhookEvent": st.sampled_from(["jira:issue_created", "x"]),
                                             "issue": json_value}).map(json.dumps)))
def test_intake_never_answers_500(client: TestClient, path: str, body: str | bytes) -> None:
    """No body, however malformed, makes the intake answer 5xx: it is accepted (202) or refused (4xx)."""
    answer = client.post(path, content=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                      "Content-Type": "application/json"})
    counts["http_cases"] += 1
    counts["http_refused"] += answer.status_code != 202
    assert answer.status_code in (202, 400, 413, 422), answer.text[:500]


@pytest.mark.parametrize("raw", ['{"type": []}', '{"type": {"a": 1}, "ticket": "X"}'])
def test_event_type_of_wrong_kind_is_invalid(raw: str) -> None:
    """An event whose ``type`` is an array or an object is refused with ``InvalidEvent`` naming ``type``."""
    with pytest.raises(InvalidEvent, match="type"):
        parse_event(raw)


def test_daemon_dead_letters_event_type_of_wrong_kind(redis: Redis, make_daemon) -> None:
    """The daemon dead-letters an entry whose ``type`` is an array instead of dying on it."""
    daemon = make_daemon()
    xadd(redis, '{"type": ["declared"], "ticket": "FZ-1"}')
    drain(daemon)
    assert redis.xlen(keys.DEAD_LETTERS) == 1


def test_intake_refuses_event_type_of_wrong_kind_with_422(client: TestClient) -> None:
    """POST /events with ``type`` an array is a 422, not a 500."""
    answer = client.post("/events", json={"type": [], "ticket": "FZ-1"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422


def test_zz_fuzz_figures() -> None:
    """Reports how many generated cases the fuzz tests ran (figures for docs/RELIABILITY.md)."""
    record("fuzz", **counts)
    assert counts["parse_valid"] + counts["parse_refused"] > 0
