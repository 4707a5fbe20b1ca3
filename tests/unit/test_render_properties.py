"""Property: the coordination document and every message render, in both locales and on both channels, for any state.

Hypothesis generates hotfix states with any mix of fields present or absent (long, unicode, Markdown
and HTML-looking texts included), delivery receipts sent / retrying / failed (with or without a
reason), and the event or notice each message is rendered from. Nothing may raise; the card stays a
valid, small card; subjects stay one line.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.document import document_md
from hotfix.enums import Channel, DeliveryStatus, EventType, Locale, MessageName, Phase, Severity, Status
from hotfix.events import dump_event, parse_event
from hotfix.limits import SUBJECT_CHARS, TEAMS_CARD_BYTES
from hotfix.settings import SHIPPED_TEMPLATES, Settings
from hotfix.state import HotfixState
from hotfix.text import printable
from tests.fixtures.herald import BASE_CONFIG, merge
from workers.cards import card_problems, envelope_size
from workers.render import Renderer

#: A frozen clock: every generated time is around it.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
SETTINGS = Settings(**merge(BASE_CONFIG, {"audiences": {"stakeholders": {"kind": "stakeholders"}}}))
RENDERER = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
CHECKS = ("branch", "tests", "review", "merged", "staging", "smoke_test", "production", "confirmed", "monitoring",
          "cherry_pick", "something_else")
#: The event that triggers each message (the others are the daemon's own notices).
TRIGGERS = {MessageName.ANNOUNCEMENT: EventType.DECLARED, MessageName.UPDATE: EventType.UPDATED,
            MessageName.RESOLUTION: EventType.RESOLVED, MessageName.ROLLBACK: EventType.ROLLED_BACK,
            MessageName.CANCELLATION: EventType.CANCELLED}

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300),
    st.sampled_from(["<script>alert(1)</script>", "**bold** _x_ [a](javascript:1) | pipe", "```\ncode\n```",
                     "line one\nline two\r\n\tthree", "\u202eRTL\u2028sep\x00nul", "{{ 7 * 7 }} {% raw %}"]),
    st.builds(lambda n: "Traceback (most recent call last):\n" + "  frame\n" * n, st.integers(1_000, 9_000)),
)
maybe_text = st.none() | texts
names = st.none() | st.text(min_size=1, max_size=30)
times = st.none() | st.integers(-3 * 86400, 3 * 86400).map(lambda s: NOW + timedelta(seconds=s))
iso = times.map(lambda t: t.isoformat() if t else None)


@st.composite
def states(draw: st.DrawFn) -> HotfixState:
    """A declared hotfix with any mix of fields."""
    status = draw(st.sampled_from(list(Status)))
    declared_at = draw(times) or NOW - timedelta(minutes=30)
    data: dict[str, Any] = {
        "ticket": draw(st.from_regex(r"[A-Z]{2,5}-[0-9]{1,6}", fullmatch=True)), "declared": True,
        "status": status.value, "severity": draw(st.none() | st.sampled_from([s.value for s in Severity])),
        "title": draw(texts) or "t", "phase": draw(st.sampled_from([p.value for p in Phase])),
        "declared_at": declared_at, "deadline": draw(times), "eta": draw(times), "last_update_at": draw(times),
        "closed_at": draw(times) if status is not Status.OPEN else None,
        "team": {role: draw(names) for role in ("coordinator", "developer", "reviewer", "devops")},
        "checks": draw(st.dictionaries(st.sampled_from(CHECKS), st.booleans(), max_size=6)),
        "fix": {"pr": draw(names), "commit": draw(names), "description": draw(maybe_text)},
        "postmortem_at": draw(times), "postmortem_by_policy": draw(st.booleans()),
        "service_restored": draw(st.booleans()), "service_restored_at": draw(times),
        "source": draw(names), "link": draw(st.none() | st.sampled_from(["https://t.example/1", "javascript:x", "x"])),
        "guardrails": draw(st.lists(st.sampled_from(["review@x", "smoke_test@y"]), max_size=2)),
        "timeline": [{"at": NOW - timedelta(minutes=i), "type": t, "id": f"e{i}", "summary": s, "late": late}
                     for i, (t, s, late) in enumerate(draw(st.lists(st.tuples(
                         st.sampled_from([*(e.value for e in EventType), *(m.value for m in MessageName)]),
                         st.text(max_size=60), st.booleans()), max_size=5)))],
    }
    for name in ("impact", "users_affected", "message", "next_step", "root_cause", "reason", "next_approach"):
        data[name] = draw(maybe_text)
    attempts = draw(st.integers(0, 2))
    data["rollbacks"] = attempts
    data["attempts"] = [{"number": n + 1, "rolled_back_at": NOW, "reason": draw(maybe_text),
                         "next_approach": draw(maybe_text), "service_restored": draw(st.booleans()),
                         "fix": {"pr": draw(names)}} for n in range(attempts)]
    return HotfixState.model_validate(data)


receipts = st.lists(st.fixed_dictionaries(
    {"message": st.sampled_from([m.value for m in MessageName]),
     "audience": st.sampled_from(["oncall", "stakeholders", "management", "coordinator:Alice", "gone"]),
     "channel": st.sampled_from([c.value for c in Channel]), "recipient": st.text(min_size=1, max_size=80),
     "status": st.sampled_from([s.value for s in DeliveryStatus])},
    optional={"reason": st.text(max_size=200), "at": iso, "via": st.sampled_from(["smtp", "teams", "outbox"])}),
    max_size=8)


def event_for(message: MessageName, ticket: str, draw: st.DrawFn) -> dict[str, Any] | None:
    """A valid event of the type that triggers ``message`` (as a job carries it), or None."""
    kind = TRIGGERS.get(message)
    if kind is None:
        return None
    fields = {"type": kind.value, "ticket": ticket, "at": draw(iso) or NOW.isoformat(), "message": draw(maybe_text)}
    extra = {
        EventType.DECLARED: {"title": printable(draw(texts)).strip() or "t", "severity": "P0", "impact": draw(maybe_text)},
        EventType.UPDATED: {"next_step": draw(maybe_text), "phase": draw(st.none() | st.just("review")),
                            "checks": draw(st.none() | st.just({"review": True}))},
        EventType.RESOLVED: {"root_cause": draw(maybe_text), "postmortem_at": draw(iso)},
        EventType.ROLLED_BACK: {"reason": draw(maybe_text), "next_approach": draw(maybe_text),
                                "service_restored": draw(st.none() | st.booleans())},
        EventType.CANCELLED: {"reason": draw(maybe_text)},
    }[kind]
    raw = {k: v for k, v in {**fields, **extra}.items() if v not in (None, "")}
    return dump_event(parse_event(raw, now=NOW))


def notice_for(message: MessageName, draw: st.DrawFn) -> dict[str, Any] | None:
    """The daemon's notice for ``message``, in the shapes the timers and the planner give it."""
    if message is MessageName.REMINDER:
        return {"overdue_by": draw(st.integers(0, 10_000)), "last_update_at": draw(iso),
                "update_every": draw(st.integers(1, 3600))}
    if message is MessageName.ESCALATION:
        return {"reason": draw(st.sampled_from(["deadline_breached", "deadline_at_risk", "update_overdue"])),
                "time_left": draw(st.integers(-10_000, 10_000)), "propose_rollback": draw(st.booleans()),
                "last_update_at": draw(iso)}
    if message is MessageName.GUARDRAIL:
        return {"missing": draw(st.lists(st.sampled_from(["review", "smoke_test"]), min_size=1, unique=True)),
                "phase": "production"}
    if message is MessageName.POSTMORTEM:
        return {"postmortem_at": draw(iso)}
    if message is MessageName.ANNOUNCEMENT:
        return draw(st.none() | st.just({"raised_from": "P2"}))
    if message is MessageName.UPDATE:
        return draw(st.none() | st.just({"digest": [{"type": "updated", "message": "folded", "at": NOW.isoformat()}]}))
    return None


QUICK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@QUICK
@given(state=states(), rows=receipts)
def test_the_document_renders_for_any_state(state: HotfixState, rows: list[dict[str, Any]]) -> None:
    """``hotfix show`` (md) renders in fr and en for any state and receipts, headed by its ticket."""
    for locale in Locale:
        text = document_md(state, rows, SETTINGS, NOW, locale)
        assert text.startswith(f"# 🚨 Hotfix: {state.ticket} - ")
        assert "## Communication" in text and "## Follow-up" in text


@pytest.mark.parametrize("message", list(MessageName))
@QUICK
@given(data=st.data(), state=states())
def test_every_message_renders_for_any_state(message: MessageName, data: st.DataObject, state: HotfixState) -> None:
    """Each message renders on both channels in both locales: a valid card under 28 KB, a one-line subject."""
    event = event_for(message, state.ticket, data.draw)
    notice = notice_for(message, data.draw)
    for locale in Locale:
        card = RENDERER.teams(message, locale, state, event=event, notice=notice, now=NOW)
        assert not card_problems(card.card) and envelope_size(card.card) < TEAMS_CARD_BYTES
        email = RENDERER.email(message, locale, state, event=event, notice=notice, now=NOW)
        for subject in (card.title, email.subject):
            assert subject and "\n" not in subject and len(subject) <= SUBJECT_CHARS
        assert email.text.strip() and email.html.strip()
