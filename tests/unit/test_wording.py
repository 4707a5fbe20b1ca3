"""French that reads native, English with one label per concept: the timeline in the reader's language, the texts
the intakes write in the configured locale, "échéance" and "mise à jour" in French messages and documents."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.document import document_md
from daemon.intake.alerts import AlertGroup
from daemon.intake.alerts import translate as alerts
from daemon.intake.jira import JiraPayload
from daemon.intake.jira import translate as jira
from daemon.lifecycle import Rules, apply
from daemon.timers import TimerKind, fire
from hotfix.enums import Locale
from hotfix.events import parse_event
from hotfix.service_settings import AlertmanagerIntake, JiraIntake
from hotfix.settings import Settings
from hotfix.state import HotfixState
from tests.fixtures.clock import frozen_at
from tests.fixtures.intake import change, jira_comment, jira_created, jira_updated

T0 = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)
frozen_clock = frozen_at(T0)
SETTINGS = Settings(audiences={"oncall": {"emails": ["oncall@example.com"]}},
                    severity={"P0": {"resolve_within": "1h", "update_every": "10m", "remind": ["oncall"],
                                     "escalate": ["oncall"], "warn_before": "15m"}})


def story(*events: tuple[str, int, dict[str, Any]]) -> HotfixState:
    state = None
    for i, (type_, minutes, fields) in enumerate(events):
        data = {"type": type_, "ticket": "INC-3", "id": f"e{i}", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
                **fields}
        state = apply(state, parse_event(data, now=T0), T0, Rules())[-1].after
    assert state is not None
    return state


STORY = (("declared", 0, {"title": "Checkout returns 500", "severity": "P0"}),
         ("updated", 5, {"message": "Reproduced", "phase": "fix", "team": {"coordinator": "Alice", "devops": "Dan"},
                         "checks": {"branch": True}}),
         ("rolled_back", 20, {"reason": "Refunds broken"}))


@pytest.mark.parametrize("locale,rows", [
    (Locale.FR, ["| 10:12 | 🚨 Déclaré : Checkout returns 500 |",
                 "| 10:17 | 🔄 Mise à jour : Reproduced · phase → Fix · Coordinateur → Alice · DevOps → Dan · "
                 "✓ Branche hotfix/TICKET-description créée |",
                 "| 10:32 | ↩️ Rollback : Refunds broken |",
                 "| 10:57 | 🔺 Escalade : échéance proche (reste 15 min) → escalade |"]),
    (Locale.EN, ["| 10:12 | 🚨 Declared: Checkout returns 500 |",
                 "| 10:17 | 🔄 Update: Reproduced · phase → Fix · Coordinator → Alice · DevOps → Dan · "
                 "✓ Branch hotfix/TICKET-description created |",
                 "| 10:57 | 🔺 Escalation: deadline at risk (15 min left) → escalated |"]),
])
def test_the_timeline_speaks_the_readers_language(locale: Locale, rows: list[str]) -> None:
    """Event types, phases, roles, checks and Herald's notices read in the document's language; people's text as given."""
    state = story(*STORY)
    fired = fire(state, TimerKind.AT_RISK, T0 + timedelta(minutes=45), SETTINGS)
    assert fired is not None
    md = document_md(fired.state, [], SETTINGS, T0 + timedelta(minutes=40), locale)
    for row in rows:
        assert row in md, row
    assert fired.state.timeline[-1].summary.startswith("deadline at risk")  # the JSON keeps its English summary


def test_an_entry_stored_before_what_keeps_its_summary() -> None:
    """A timeline entry written by an older version (no ``what``) shows its stored summary."""
    state = story(*STORY)
    data = state.model_dump(mode="json")
    for entry in data["timeline"]:
        entry.pop("what")
    md = document_md(HotfixState.model_validate(data), [], SETTINGS, T0 + timedelta(minutes=40), Locale.FR)
    assert "| 10:17 | 🔄 Mise à jour : Reproduced · phase → fix · coordinator → Alice" in md


def test_french_says_echeance_and_mise_a_jour() -> None:
    """French documents and messages say "Échéance", not "Deadline"; nothing calls an update "une update"."""
    md = document_md(story(*STORY), [], SETTINGS, T0 + timedelta(minutes=40), Locale.FR)
    assert "| Échéance | " in md and "Deadline" not in md and "deadline" not in md


def _group(status: str, *fingerprints: str) -> AlertGroup:
    return AlertGroup.model_validate({
        "version": "4", "groupKey": '{}:{alertname="X"}', "status": status, "receiver": "herald",
        "groupLabels": {"alertname": "X"}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{"status": status, "labels": {"alertname": "X", "severity": "critical", "instance": fp},
                    "annotations": {}, "fingerprint": fp} for fp in fingerprints]})


@pytest.mark.parametrize("locale,declared,recovery,changed", [
    (Locale.FR, "2 alerte(s) en cours : X (f1), X (f2)", "le monitoring signale le retour à la normale",
     "alertes en cours modifiées : 1 alerte(s) en cours; terminées : X (f2)"),
    (Locale.EN, "2 alert(s) firing: X (f1), X (f2)", "monitoring reports recovery",
     "firing alerts changed: 1 alert(s) firing; cleared: X (f2)"),
])
def test_alert_intakes_write_in_the_configured_locale(locale: Locale, declared: str, recovery: str, changed: str) -> None:
    """What Alertmanager and Grafana groups become ("N alertes en cours…") is written in the configured locale."""
    cfg = AlertmanagerIntake()
    first = alerts("alertmanager", "AM", cfg, _group("firing", "f1", "f2"), None, T0, locale)
    fewer = alerts("alertmanager", "AM", cfg, _group("firing", "f1"), first.state, T0, locale)
    calm = alerts("alertmanager", "AM", cfg, _group("resolved", "f1"), fewer.state, T0, locale)
    assert [t.events[0].message for t in (first, fewer, calm)] == [declared, changed, recovery]


def test_jira_updates_are_written_in_the_configured_locale() -> None:
    """A Jira transition, an assignee and a comment read in French when the configured locale is fr."""
    cfg = JiraIntake()
    declared = jira(cfg, JiraPayload.model_validate(jira_created()), None, T0, Locale.FR)
    moved = jira(cfg, JiraPayload.model_validate(jira_updated([change("status", "To Do", "In Progress"),
                                                                change("assignee", None, "Bob")])),
                 declared.state, T0, Locale.FR)
    said = jira(cfg, JiraPayload.model_validate(jira_comment("Patch ready")), moved.state, T0, Locale.FR)
    assert moved.events[0].message == "Statut : To Do → In Progress\nAssigné à : Bob"
    assert said.events[0].message is not None and said.events[0].message.startswith("Commentaire de ")


APPROVALS = Settings(
    people={"Alice": {"email": "alice@corp.example"}},
    audiences={"oncall": {"emails": ["oncall@corp.example"]},
               "customers": {"emails": ["status@customers.example"], "approval": ["Alice"]}},
    severity={"P0": {"resolve_within": "1h", "announce": ["oncall", "customers"], "updates": ["oncall", "customers"],
                     "resolution": ["oncall"]}})


def test_approval_steps_read_in_the_documents_language() -> None:
    """Held, approved and withdrawn messages are told in French in a French document (and in English in English)."""
    from daemon import approvals
    from daemon.planner import plan
    from hotfix.enums import Decision

    state: HotfixState | None = None
    for minutes, data in ((0, STORY[0][2] | {"type": "declared"}), (2, {"type": "updated", "message": "On it"}),
                          (4, {"type": "updated", "message": "Still on it"}), (6, {"type": "resolved"})):
        event = parse_event({"ticket": "INC-3", "id": f"a{minutes}", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
                             **data}, now=T0)
        planned = plan(apply(state, event, T0 + timedelta(minutes=minutes)), APPROVALS, T0 + timedelta(minutes=minutes))
        state = planned.state
        if minutes == 0:
            assert state is not None
            state = approvals.decide(state, state.held[0].id, Decision.APPROVED, APPROVALS,
                                     T0 + timedelta(minutes=1), by="Alice").state
    assert state is not None
    fr = document_md(state, [], APPROVALS, T0 + timedelta(minutes=10), Locale.FR)
    en = document_md(state, [], APPROVALS, T0 + timedelta(minutes=10), Locale.EN)
    assert "⏸️ Retenu : l'annonce pour customers retenue, à approuver par Alice" in fr
    assert "✅ Approuvé : l'annonce pour customers approuvée par Alice" in fr
    assert "✅ Approuvé : l'annonce pour customers approuvée par Alice |" in fr  # who decided, said once
    assert "retirée, jamais envoyée : le hotfix a été résolu avant une décision |" in fr
    assert "withdrawn, never sent: the hotfix was resolved before a decision |" in en
