"""Post-mortem follow-through, pure: the ``postmortem`` event, its default date in working hours, its reminders,
who hears of it, and what the messages and the coordination document say."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from daemon.document import document_md
from daemon.lifecycle import Outcome, Rules, apply
from daemon.policy import route
from daemon.timers import TimerKind, fire, schedule
from hotfix.dates import WorkingHours
from hotfix.enums import Locale, MessageName, Phase, Severity, Status
from hotfix.events import InvalidEvent, dump_event, parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState
from tests.fixtures.clock import frozen_at
from workers.render import Renderer

#: A Wednesday, 09:12 UTC (10:12 in Paris).
T0 = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)
#: Every wall clock stands at T0 in each test: the dates written here hold on any day.
frozen_clock = frozen_at(T0)
SETTINGS = Settings(
    audiences={"oncall": {"emails": ["oncall@example.com"]}, "cto": {"emails": ["cto@example.com"], "kind": "stakeholders"},
               "customers": {"emails": ["status@customers.example"], "kind": "users"}},
    severity={"P0": {"resolve_within": "1h", "announce": ["oncall", "cto"], "updates": ["oncall"],
                     "resolution": ["oncall", "cto", "customers"], "remind": ["oncall"]}},
    people={"Alice": {"email": "alice@example.com"}},
)
RULES = Rules(postmortem_hours=SETTINGS.postmortem.hours(SETTINGS.timezone))
REPORT = {"summary": "A config push set the payment timeout to 0", "root_cause_analysis": "No validation of timeouts",
          "why_not_caught": "Staging uses another timeout", "prevention": "Validate timeouts in CI",
          "actions": [{"title": "Timeout validation", "owner": "Bob", "ticket": "OPS-12"}, {"title": "Staging parity"}],
          "follow_up": "OPS-13"}


def ev(type_: str, minutes: float = 0, **fields: Any):
    data = {"type": type_, "ticket": "INC-5", "id": f"{type_}-{minutes}",
            "at": (T0 + timedelta(minutes=minutes)).isoformat(), **fields}
    if type_ == "declared":
        data.update(title="Payments down", severity="P0", team={"coordinator": "Alice"})
    return parse_event(data, now=T0)


def run(*events: Any) -> HotfixState:
    state = None
    for event in events:
        state = apply(state, event, T0, RULES)[-1].after
    assert state is not None
    return state


def test_postmortem_on_a_resolved_hotfix_enters_the_postmortem_phase() -> None:
    """A postmortem event on a resolved hotfix keeps it resolved, moves the phase to postmortem and keeps every answer."""
    state = run(ev("declared"), ev("resolved", 40), ev("postmortem", 3000, by="Alice", **REPORT))
    assert (state.status, state.phase) == (Status.RESOLVED, Phase.POSTMORTEM)
    pm = state.postmortem
    assert pm is not None and pm.by == "Alice" and pm.follow_up == "OPS-13"
    assert [(a.title, a.owner, a.ticket) for a in pm.actions] == [("Timeout validation", "Bob", "OPS-12"),
                                                                 ("Staging parity", None, None)]
    assert pm.answered() == ["root_cause_analysis", "why_not_caught", "prevention", "actions"]
    assert state.last_update_at == T0 + timedelta(minutes=40)  # not a status update
    assert state.timeline[-1].type == "postmortem" and state.timeline[-1].summary == REPORT["summary"]


def test_postmortem_before_the_resolution_waits_for_it() -> None:
    """A postmortem event that overtakes the resolution waits and is applied right after it."""
    state = run(ev("declared"), ev("postmortem", 50, **REPORT))
    assert state.postmortem is None and state.phase is Phase.TRIAGE and len(state.pending) == 1
    steps = apply(state, ev("resolved", 40), T0, RULES)
    assert [(s.event.type.value, s.outcome) for s in steps] == [("resolved", Outcome.APPLIED),
                                                               ("postmortem", Outcome.APPLIED)]
    final = steps[-1].after
    assert final.phase is Phase.POSTMORTEM and final.pending == [] and final.postmortem is not None


def test_postmortem_after_a_rollback_is_recorded_while_the_fix_goes_on() -> None:
    """On a rolled-back hotfix the answers are recorded and the phase stays fix; the resolution ends in postmortem."""
    state = run(ev("declared"), ev("rolled_back", 20, reason="Refunds broken", service_restored=True),
                ev("postmortem", 200, **REPORT))
    assert state.is_open and state.phase is Phase.FIX and state.postmortem is not None
    state = apply(state, ev("resolved", 300), T0, RULES)[-1].after
    assert (state.status, state.phase) == (Status.RESOLVED, Phase.POSTMORTEM)


def test_postmortem_of_a_cancelled_hotfix_is_late() -> None:
    """A false alarm has no post-mortem: the event is recorded as late and changes nothing."""
    state = run(ev("declared"), ev("cancelled", 5))
    steps = apply(state, ev("postmortem", 10, **REPORT), T0, RULES)
    assert steps[-1].outcome is Outcome.LATE and steps[-1].after.postmortem is None


def test_a_later_postmortem_event_completes_the_first() -> None:
    """A second postmortem event overwrites the answers it gives and keeps the others."""
    state = run(ev("declared"), ev("resolved", 40), ev("postmortem", 100, summary="First draft"),
                ev("postmortem", 200, follow_up="OPS-99", actions=[{"title": "Alert on p99", "owner": "Dan"}]))
    pm = state.postmortem
    assert pm is not None and (pm.summary, pm.follow_up) == ("First draft", "OPS-99")
    assert [a.title for a in pm.actions] == ["Alert on p99"] and pm.at == T0 + timedelta(minutes=200)


@pytest.mark.parametrize("raw,field", [
    ({"actions": [{"owner": "Bob"}]}, "actions.0.title"),
    ({"actions": [{"title": "x", "due": "soon"}]}, "actions.0.due"),
    ({"actions": "fix it"}, "actions"),
    ({"follow_up": "x" * 600}, "follow_up"),
])
def test_a_bad_postmortem_event_names_the_field(raw: dict[str, Any], field: str) -> None:
    """A malformed post-mortem is refused naming the field at fault."""
    with pytest.raises(InvalidEvent) as caught:
        parse_event({"type": "postmortem", "ticket": "INC-5", **raw}, now=T0)
    assert caught.value.reason.startswith(field + ":"), caught.value.reason


@pytest.mark.parametrize("since,after,expected", [
    (datetime(2026, 11, 25, 9, 42, tzinfo=timezone.utc), timedelta(days=2), datetime(2026, 11, 27, 13, 0, tzinfo=timezone.utc)),
    # resolved on a Friday night: two days later is a Sunday → Monday 14:00
    (datetime(2026, 11, 27, 22, 30, tzinfo=timezone.utc), timedelta(days=2), datetime(2026, 11, 30, 13, 0, tzinfo=timezone.utc)),
    # a short delay past today's working time → tomorrow at 14:00, never at night
    (datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc), timedelta(hours=2), datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)),
    # summer time: 14:00 in Paris is 12:00 UTC
    (datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc), timedelta(days=2), datetime(2026, 6, 3, 12, 0, tzinfo=timezone.utc)),
])
def test_default_postmortem_date_falls_in_working_hours(since: datetime, after: timedelta, expected: datetime) -> None:
    """The default date is the day `after` later at 14:00 local, moved to the next weekday when it is a weekend."""
    slot = WorkingHours().slot(since, after)
    assert slot == expected and slot.astimezone(WorkingHours().slot(since, after).tzinfo).hour == 14


def test_working_days_and_time_come_from_the_configuration() -> None:
    """[postmortem] time and weekdays choose the slot: here Tuesdays and Thursdays at 10:30."""
    hours = Settings(postmortem={"time": "10:30", "weekdays": ["tue", "thu"]}).postmortem.hours("Europe/Paris")
    assert hours.at == time(10, 30)
    assert hours.slot(datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc), timedelta(days=2)) == \
        datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)  # Friday 27 → Tuesday 1 December


def test_overdue_reminder_fires_once_without_a_postmortem_event() -> None:
    """A day after its date with no postmortem event, the responders and the coordinator are told it is overdue, once."""
    state = run(ev("declared"), ev("resolved", 40))
    assert state.postmortem_at is not None
    due = schedule(state, SETTINGS.policy(Severity.P0), None, SETTINGS.postmortem)[TimerKind.POSTMORTEM_OVERDUE]
    assert due == state.postmortem_at + timedelta(days=1)
    assert fire(state, TimerKind.POSTMORTEM_OVERDUE, due - timedelta(seconds=1), SETTINGS) is None
    fired = fire(state, TimerKind.POSTMORTEM_OVERDUE, due, SETTINGS)
    assert fired is not None
    assert {(d.message, d.audience) for d in fired.deliveries} == {(MessageName.POSTMORTEM, "oncall"),
                                                                 (MessageName.POSTMORTEM, "coordinator:Alice")}
    assert fired.deliveries[0].notice == {"postmortem_at": state.postmortem_at.isoformat(), "overdue": True,
                                          "overdue_by": 86400}
    assert fire(fired.state, TimerKind.POSTMORTEM_OVERDUE, due + timedelta(hours=1), SETTINGS) is None


def test_postmortem_reminders_stop_once_it_is_reported() -> None:
    """Once a postmortem event reported it held, neither the reminder before nor the overdue one is due."""
    state = run(ev("declared"), ev("resolved", 40), ev("postmortem", 60, **REPORT))
    due = schedule(state, SETTINGS.policy(Severity.P0), None, SETTINGS.postmortem)
    assert TimerKind.POSTMORTEM not in due and TimerKind.POSTMORTEM_OVERDUE not in due


def test_postmortem_reminder_and_report_never_reach_users() -> None:
    """The reminder before the meeting and the report go to the team and stakeholders, never to a users audience."""
    state = run(ev("declared"), ev("resolved", 40))
    assert state.postmortem_at is not None
    reminder = fire(state, TimerKind.POSTMORTEM, state.postmortem_at, SETTINGS)
    assert reminder is not None
    assert {d.audience for d in reminder.deliveries} == {"oncall", "cto", "coordinator:Alice"}
    steps = apply(state, ev("postmortem", 3000, **REPORT), T0, RULES)
    assert {(d.message, d.audience) for d in route(steps[-1], SETTINGS)} == {(MessageName.POSTMORTEM, "oncall"),
                                                                           (MessageName.POSTMORTEM, "cto")}


RENDERER = Renderer(SETTINGS.templates_path(), SETTINGS.timezone, {}, SETTINGS.resolve_within())


@pytest.mark.parametrize("locale,subject,lines", [
    (Locale.FR, "📝 POST-MORTEM — compte rendu", ["Pourquoi pas détecté avant ?", "Staging uses another timeout",
                                                 "Timeout validation — Bob — OPS-12",
                                                 "Staging parity — responsable à désigner", "Ticket de suivi : OPS-13"]),
    (Locale.EN, "📝 POST-MORTEM — report", ["Why wasn't it caught before?", "Validate timeouts in CI",
                                           "Timeout validation — Bob — OPS-12", "Staging parity — owner to name",
                                           "Follow-up ticket: OPS-13"]),
])
def test_the_report_message_gives_answers_actions_and_follow_up(locale: Locale, subject: str, lines: list[str]) -> None:
    """The message a postmortem event sends carries each answer, each action with its owner, and the follow-up ticket."""
    event = ev("postmortem", 3000, **REPORT)
    state = run(ev("declared"), ev("resolved", 40), event)
    mail = RENDERER.email(MessageName.POSTMORTEM, locale, state, event=dump_event(event), notice=None,
                          now=T0 + timedelta(days=2))
    assert subject in mail.subject
    for line in lines:
        assert line in mail.text, line


@pytest.mark.parametrize("locale,words", [(Locale.FR, ["POST-MORTEM EN RETARD", "était prévu le", "hotfix push postmortem"]),
                                          (Locale.EN, ["POST-MORTEM OVERDUE", "was scheduled for", "hotfix push postmortem"])])
def test_the_overdue_reminder_says_so(locale: Locale, words: list[str]) -> None:
    """The overdue reminder says the post-mortem is late and how to record it."""
    state = run(ev("declared"), ev("resolved", 40))
    assert state.postmortem_at is not None
    notice = {"postmortem_at": state.postmortem_at.isoformat(), "overdue": True, "overdue_by": 86400}
    mail = RENDERER.email(MessageName.POSTMORTEM, locale, state, event=None, notice=notice,
                          now=state.postmortem_at + timedelta(days=1))
    for word in words:
        assert word in mail.subject + mail.text, word


@pytest.mark.parametrize("locale,expected", [
    (Locale.FR, ["## Statut: 🟢 Résolu — 📝 post-mortem tenu le ", "- [x] Root cause analysis — No validation of timeouts",
                 "- [x] Comment éviter à l'avenir ? — Validate timeouts in CI", "| Staging parity | à désigner | — |",
                 "- [x] Post-mortem planifié : tenu le ", "- [x] Ticket de suivi créé : OPS-13",
                 "Résumé : A config push set the payment timeout to 0"]),
    (Locale.EN, ["## Status: 🟢 Resolved — 📝 post-mortem held on ", "- [x] Why wasn't it caught before? — Staging uses",
                 "| Timeout validation | Bob | OPS-12 |", "- [x] Follow-up ticket created: OPS-13"]),
])
def test_the_document_fills_its_postmortem_and_follow_up_sections(locale: Locale, expected: list[str]) -> None:
    """The coordination document shows the post-mortem's answers and actions, and ticks the follow-up lines."""
    state = run(ev("declared"), ev("resolved", 40), ev("postmortem", 3000, **REPORT))
    md = document_md(state, [], SETTINGS, T0 + timedelta(days=3), locale)
    for line in expected:
        assert line in md, line


def test_the_document_before_the_postmortem_lists_its_questions() -> None:
    """Until a postmortem event, the section says it is not held yet and lists the playbook's four questions unticked."""
    md = document_md(run(ev("declared"), ev("resolved", 40)), [], SETTINGS, T0 + timedelta(hours=1), Locale.FR)
    section = md[md.index("## Post-mortem"):md.index("## Follow-up")]
    assert "_Pas encore tenu (prévu le " in section and section.count("- [ ] ") == 4
    assert "- [ ] Ticket de suivi créé" in md


def test_a_postmortem_waiting_for_the_resolution_is_said_in_the_document() -> None:
    """A postmortem event pushed while the hotfix is open is not lost: the document says it waits for the resolution."""
    state = run(ev("declared"), ev("postmortem", 20, **REPORT))
    assert "_Un compte rendu de post-mortem a été reçu : il sera appliqué à la résolution" in \
        document_md(state, [], SETTINGS, T0 + timedelta(minutes=30), Locale.FR)
    resolved = apply(state, ev("resolved", 40), T0, RULES)[-1].after
    assert "a été reçu" not in document_md(resolved, [], SETTINGS, T0 + timedelta(minutes=50), Locale.FR)
