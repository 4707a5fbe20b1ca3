"""Messages held for approval: holding, superseding, deciding and timing out (pure), and what the planner sends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon import approvals
from daemon.document import document_md
from daemon.lifecycle import apply
from daemon.planner import plan, plan_fired, plan_released
from daemon.timers import fire, schedule
from hotfix.enums import Decision, Locale, MessageName
from hotfix.events import parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
SETTINGS = Settings(
    people={"Alice": {"email": "alice@corp.example"}, "Bob": {"email": "bob@corp.example"}},
    audiences={"oncall": {"emails": ["oncall@corp.example"]},
               "customers": {"emails": ["status@customers.example"], "approval": ["Alice", "Bob"], "locale": "en"}},
    severity={"P0": {"resolve_within": "1h", "announce": ["oncall", "customers"], "updates": ["oncall", "customers"],
                     "resolution": ["oncall", "customers"], "approval_timeout": "5m"},
              "P1": {"resolve_within": "4h", "announce": ["oncall", "customers"], "updates": ["oncall", "customers"]}},
)


def ev(type_: str, minutes: float, **fields: Any) -> Any:
    data = {"type": type_, "ticket": "AP-1", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "id": f"{type_}-{minutes}", **fields}
    if type_ == "declared":
        data.setdefault("title", "Checkout returns 500")
        data.setdefault("severity", "P0")
    return parse_event(data)


def run(state: HotfixState | None, event: Any, minutes: float) -> tuple[HotfixState, list[dict[str, Any]], list[tuple[str, ...]]]:
    """Apply and plan one event at T0 + minutes; the new state, its jobs' payloads and its counters."""
    planned = plan(apply(state, event, T0 + timedelta(minutes=minutes)), SETTINGS, T0 + timedelta(minutes=minutes))
    assert planned.state is not None
    return planned.state, [j.payload.wire() for j in planned.jobs], planned.counts


def told(jobs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(j["message"], j["audience"]) for j in jobs}


def declared() -> HotfixState:
    state, _, _ = run(None, ev("declared", 0), 0)
    return state


def test_a_message_to_an_audience_with_approvers_is_held_and_they_are_asked() -> None:
    """The announcement reaches on-call; customers' copy is held and each approver gets an approval request."""
    state, jobs, counts = run(None, ev("declared", 0), 0)
    assert told(jobs) == {("announcement", "oncall"), ("approval_request", "person:Alice"),
                          ("approval_request", "person:Bob")}
    [held] = state.held
    assert (held.audience, held.message, held.since) == ("customers", MessageName.ANNOUNCEMENT, T0)
    assert "customers" not in state.announced_to
    asked = next(j for j in jobs if j["audience"] == "person:Alice")
    assert asked["recipients"] == ["alice@corp.example"] and asked["after"] == []
    assert asked["notice"]["approval"]["id"] == held.id and asked["notice"]["approval"]["timeout_at"]
    assert ("messages_held", "customers") in counts
    assert [e.type for e in state.timeline] == ["declared", "held"]


def test_a_later_update_supersedes_the_held_message_but_an_unsent_announcement_stays_one() -> None:
    """The held announcement absorbs an update (new id, same since); a resolution then replaces it."""
    first = declared()
    state, jobs, counts = run(first, ev("updated", 2, message="Fix in review"), 2)
    [held] = state.held
    assert held.message is MessageName.ANNOUNCEMENT and held.since == T0 and held.id != first.held[0].id
    assert held.replaces == [first.held[0].id] and held.event is not None and held.event["message"] == "Fix in review"
    assert [(d.id, d.decision) for d in state.decisions] == [(first.held[0].id, Decision.SUPERSEDED)]
    assert told(jobs) == {("update", "oncall"), ("approval_request", "person:Alice"), ("approval_request", "person:Bob")}
    assert ("approvals", "superseded") in counts
    state, _, _ = run(state, ev("resolved", 4, root_cause="timeout"), 4)
    assert [h.message for h in state.held] == [MessageName.RESOLUTION] and len(state.held[0].replaces) == 2


def test_approving_releases_the_latest_state_once() -> None:
    """Approved: customers get the announcement rendered from the hotfix as it is now; a second approval is refused."""
    state, _, _ = run(declared(), ev("updated", 2, message="Fix in review"), 2)
    held = state.held[0]
    released = approvals.decide(state, held.id, Decision.APPROVED, SETTINGS, T0 + timedelta(minutes=3), by="Alice")
    assert released.state.held == [] and [(d.message, d.audience) for d in released.deliveries] == [
        (MessageName.ANNOUNCEMENT, "customers")]
    record = released.state.decisions[-1]
    assert (record.decision, record.by, record.at) == (Decision.APPROVED, "Alice", T0 + timedelta(minutes=3))
    assert released.state.timeline[-1].type == "approved" and "by Alice" in released.state.timeline[-1].summary
    planned = plan_released(released, SETTINGS, T0 + timedelta(minutes=3))
    assert planned.state is not None and "customers" in planned.state.announced_to
    [job] = [j.payload for j in planned.jobs]
    assert job.audience == "customers" and job.recipients == ["status@customers.example"]
    assert job.job_key in planned.state.announcement_jobs and job.hotfix.message == "Fix in review"
    with pytest.raises(approvals.NotHeld, match="already approved by Alice"):
        approvals.decide(released.state, held.id, Decision.APPROVED, SETTINGS, T0 + timedelta(minutes=4), by="Bob")


def test_approving_for_an_audience_gone_from_the_configuration_says_nothing_was_sent() -> None:
    """An audience removed from the configuration while its message was held: the approval is recorded, nothing is
    sent, and the answer says so instead of "sent"."""
    state, _, _ = run(declared(), ev("updated", 2, message="Fix in review"), 2)
    held = state.held[0]
    gone = SETTINGS.model_copy(update={"audiences": {"oncall": SETTINGS.audiences["oncall"]}})
    released = approvals.decide(state, held.id, Decision.APPROVED, gone, T0 + timedelta(minutes=3), by="Alice")
    assert released.deliveries == [] and released.state.decisions[-1].decision is Decision.APPROVED
    assert "nothing was sent" in released.answer and "'customers'" in released.answer and " sent to " not in released.answer


#: What the record says when a released message reached nobody (its audience left the configuration meanwhile).
NOTHING_SENT = {Locale.EN: "nothing was sent", Locale.FR: "rien n'a été envoyé"}
NOT_SENT = {Locale.EN: "not sent: nobody decided in time", Locale.FR: "non envoyée : personne n'a décidé à temps"}


@pytest.mark.parametrize("how", ["approved", "timeout"])
def test_the_record_never_says_sent_when_the_audience_left_the_configuration(how: str) -> None:
    """Approved or timed out after its audience left the configuration: nothing goes out, and the timeline and both
    documents say so — no "sent UNAPPROVED" for a message nobody received."""
    state, _, _ = run(declared(), ev("updated", 2, message="Fix in review"), 2)
    gone = SETTINGS.model_copy(update={"audiences": {"oncall": SETTINGS.audiences["oncall"]}})
    now = T0 + timedelta(minutes=6)
    if how == "approved":
        released = approvals.decide(state, state.held[0].id, Decision.APPROVED, gone, now, by="Alice")
    else:
        found = approvals.expire(state, "customers", gone, now)
        assert found is not None
        released = found
    assert released.deliveries == []
    entry = released.state.timeline[-1]
    assert "nothing was sent" in entry.summary and "sent UNAPPROVED" not in entry.summary
    for locale in Locale:
        md = document_md(released.state, [], gone, now, locale)
        wanted = NOTHING_SENT[locale] if how == "approved" else NOT_SENT[locale]
        assert wanted in md, md
        assert "sent UNAPPROVED" not in md and "SANS approbation : personne" not in md


def test_an_approver_edits_the_free_text() -> None:
    """Edited wording goes out in the event and the hotfix the message is rendered from; the record says edited."""
    state, _, _ = run(declared(), ev("updated", 2, message="Payment client timeout set to 0 by Bob"), 2)
    state = approvals.decide(state, state.held[0].id, Decision.APPROVED, SETTINGS, T0 + timedelta(minutes=3),
                             by="Alice").state
    state, _, _ = run(state, ev("updated", 5, message="internal detail"), 5)
    released = approvals.decide(state, state.held[0].id, Decision.APPROVED, SETTINGS, T0 + timedelta(minutes=6),
                                by="Alice", edits={"message": "Payments are being fixed"})
    assert released.event is not None and released.event["message"] == "Payments are being fixed"
    assert released.view is not None and released.view.message == "Payments are being fixed"
    assert released.state.message == "internal detail"  # the record keeps what the team said
    assert released.state.decisions[-1].decision is Decision.EDITED
    assert released.state.decisions[-1].edits == {"message": "Payments are being fixed"}
    with pytest.raises(ValueError, match="severity: not an editable part"):
        approvals.check_edits(state.held[0], {"severity": "P2"})


def test_an_approvers_texts_are_cleaned_like_an_events() -> None:
    """Attack: an edit or a decline reason posted from the page with NUL, BEL and ESC reached the stored state as is
    (the event door cleans them; this one did not). Control characters go, line breaks stay, the reason is bounded."""
    state, _, _ = run(declared(), ev("updated", 2, message="internal detail"), 2)
    released = approvals.decide(state, state.held[0].id, Decision.APPROVED, SETTINGS, T0 + timedelta(minutes=3),
                                by="Alice\x07", edits={"message": "Pay\x00ments\x1b[31m back\r\nsoon"})
    assert released.state.decisions[-1].edits == {"message": "Payments[31m back\nsoon"}
    assert released.event is not None and released.event["message"] == "Payments[31m back\nsoon"
    assert released.state.decisions[-1].by == "Alice"
    state, _, _ = run(released.state, ev("updated", 5, message="more detail"), 5)
    declined = approvals.decide(state, state.held[0].id, Decision.DECLINED, SETTINGS, T0 + timedelta(minutes=6),
                                by="Bob", reason="\x1b]0;title\x07" + "r" * 10_000)
    reason = declined.state.decisions[-1].reason
    assert reason is not None and reason.startswith("]0;title") and len(reason) == approvals.EDIT_MAX
    with pytest.raises(ValueError, match="by: "):
        approvals.decide(state, state.held[0].id, Decision.DECLINED, SETTINGS, T0, by="\x00 ")


def test_declining_sends_nothing_and_says_why() -> None:
    """Declined: nothing released, the reason in the record and the timeline."""
    state = declared()
    released = approvals.decide(state, state.held[0].id, Decision.DECLINED, SETTINGS, T0 + timedelta(minutes=1),
                                by="Bob", reason="Not for customers yet")
    assert released.deliveries == [] and released.state.held == []
    assert released.state.decisions[-1].reason == "Not for customers yet"
    assert "declined by Bob: Not for customers yet" in released.state.timeline[-1].summary


def test_the_timeout_sends_it_unapproved() -> None:
    """Five minutes after the first hold (P0 approval_timeout), the held message goes out marked unapproved."""
    state, _, _ = run(declared(), ev("updated", 2, message="m"), 2)
    due = schedule(state, SETTINGS.policy(state.severity))  # type: ignore[arg-type]
    assert due["approval:customers"] == T0 + timedelta(minutes=5)
    assert fire(state, "approval:customers", T0 + timedelta(minutes=4), SETTINGS) is None
    fired = fire(state, "approval:customers", T0 + timedelta(minutes=5), SETTINGS)
    assert fired is not None and fired.released is not None
    planned = plan_fired(fired, SETTINGS, T0 + timedelta(minutes=5))
    assert planned.state is not None and planned.state.held == []
    assert [(j.payload.message, j.payload.audience) for j in planned.jobs] == [(MessageName.ANNOUNCEMENT, "customers")]
    assert planned.state.decisions[-1].decision is Decision.TIMEOUT and ("approvals", "timeout") in planned.counts
    assert planned.state.timeline[-1].type == "approval_timeout" and "UNAPPROVED" in planned.state.timeline[-1].summary


def test_closing_withdraws_what_was_held_of_the_hotfix_in_progress() -> None:
    """Attack: an update held for customers, the hotfix then resolved without telling them, went out UNAPPROVED at its
    timeout (or on a late click) saying the hotfix was still in progress. A closing step withdraws it: no timer, no
    link; a closing message for them would have replaced it and stayed held."""
    settings = Settings(**(SETTINGS.model_dump() | {"severity": {"P0": {
        "resolve_within": "1h", "announce": ["oncall"], "updates": ["oncall", "customers"], "resolution": ["oncall"],
        "approval_timeout": "5m"}}}))
    state = None
    for minutes, event in ((0, ev("declared", 0)), (2, ev("updated", 2, message="Fix in review"))):
        planned = plan(apply(state, event, T0 + timedelta(minutes=minutes)), settings, T0 + timedelta(minutes=minutes))
        state = planned.state
    assert state is not None and [h.message for h in state.held] == [MessageName.UPDATE]
    held = state.held[0]
    planned = plan(apply(state, ev("resolved", 3, root_cause="timeout"), T0 + timedelta(minutes=3)), settings,
                   T0 + timedelta(minutes=3))
    state = planned.state
    assert state is not None and state.held == [] and ("approvals", "withdrawn") in planned.counts
    assert not any(j.payload.audience == "customers" for j in planned.jobs)
    record = state.decisions[-1]
    assert (record.id, record.decision, record.reason) == (held.id, Decision.WITHDRAWN,
                                                           "the hotfix was resolved before a decision")
    assert [e.type for e in state.timeline][-2:] == ["resolved", "withdrawn"]
    assert "never sent" in state.timeline[-1].summary
    now = T0 + timedelta(minutes=3)
    assert "retirée, jamais envoyée : le hotfix a été résolu" in document_md(state, [], settings, now, Locale.FR)
    assert "🚫 Withdrawn" in document_md(state, [], settings, now, Locale.EN)
    assert "approval:customers" not in schedule(state, settings.policy(state.severity))  # type: ignore[arg-type]
    with pytest.raises(approvals.NotHeld, match="already withdrawn"):
        approvals.decide(state, held.id, Decision.APPROVED, settings, T0 + timedelta(minutes=4), by="Alice")


def test_without_a_timeout_a_held_message_waits() -> None:
    """A P1 (no approval_timeout) keeps its held message, with no timer."""
    state, _, _ = run(None, ev("declared", 0, severity="P1"), 0)
    assert state.held and "approval:customers" not in schedule(state, SETTINGS.policy(state.severity))  # type: ignore[arg-type]
