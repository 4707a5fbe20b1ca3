"""The post-mortem draft: figures computed from the record, and the playbook's checklist in fr and en."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.lifecycle import apply
from hotfix.enums import Locale
from hotfix.events import parse_event
from hotfix.postmortem import build, render_md
from hotfix.settings import Settings
from hotfix.state import HotfixState

T0 = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=3)
SETTINGS = Settings(severity={"P0": {"resolve_within": "1h", "update_every": "15m"}})


def ev(type_: str, minutes: float, **fields: Any) -> Any:
    data = {"type": type_, "ticket": "PM-1", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "id": f"{type_}-{minutes}", **fields}
    if type_ == "declared":
        data.setdefault("title", "Checkout returns 500")
        data.setdefault("severity", "P0")
    return parse_event(data)


def story(*events: Any) -> HotfixState:
    state = None
    for event in events:
        state = apply(state, event, T0)[-1].after
    assert state is not None
    return state


def receipt(message: str, minutes: float, audience: str = "oncall", status: str = "sent") -> dict[str, Any]:
    return {"message": message, "audience": audience, "channel": "email", "recipient": f"{audience}@example.com",
            "status": status, "at": (T0 + timedelta(minutes=minutes)).isoformat()}


ROLLED_BACK_STORY = (
    ev("declared", 0), ev("updated", 10, phase="fix", message="branch"), ev("updated", 40, phase="review"),
    ev("updated", 45, phase="production", message="deployed without smoke test"),
    ev("rolled_back", 50, reason="refunds broken", next_approach="flag"),
    ev("updated", 55, phase="staging", checks={"review": True, "smoke_test": True}),
    ev("resolved", 70, root_cause="timeout 0", fix={"pr": "#42"}),
)


def test_phases_sum_to_the_duration_and_a_rollback_goes_back_to_fix() -> None:
    """Triage 10 min, fix 30+5, review 5, production 5, staging 15: the phases sum to the 70 minutes."""
    draft = build(story(*ROLLED_BACK_STORY), [], SETTINGS, T0 + timedelta(hours=2))
    assert draft.duration_s == 70 * 60
    assert draft.phases == {"triage": 600, "fix": 35 * 60, "review": 300, "production": 300, "staging": 900}
    assert sum(draft.phases.values()) == draft.duration_s
    assert [s.phase.value for s in draft.phase_spans] == ["triage", "fix", "review", "production", "fix", "staging"]
    assert [r.reason for r in draft.rollbacks] == ["refunds broken"]
    assert [g.check for g in draft.guardrails] == ["review", "smoke_test"]


@pytest.mark.parametrize("stretch_s", [0.8, 0.5, 0.45, 1.49, 2.5, 59.6])
def test_short_phases_still_sum_to_the_duration_each_within_a_second(stretch_s: float) -> None:
    """Five phases of ``stretch_s`` each (a scripted journey's pace): their seconds sum to the rounded duration, and
    each is within a second of its stretch (rounded one by one, 5 × 0.8 s gave 5 s for a 4 s hotfix)."""
    minutes = stretch_s / 60
    phases = ["fix", "review", "staging", "production"]
    events = [ev("declared", 0)] + [ev("updated", minutes * (i + 1), phase=p) for i, p in enumerate(phases)]
    state = story(*events, ev("resolved", minutes * 5))
    draft = build(state, [], SETTINGS, T0 + timedelta(hours=2))
    assert sum(draft.phases.values()) == draft.duration_s == round(stretch_s * 5)
    assert list(draft.phases) == [p for p in ["triage", *phases] if p in draft.phases]
    assert all(abs(seconds - stretch_s) < 1 for seconds in draft.phases.values())


def test_updates_late_against_update_every_and_the_deadline_missed_by() -> None:
    """Gaps of 10, 30, 5, 5 (rollback), 5 min with update_every 15m: one late update; resolved 10 min late."""
    draft = build(story(*ROLLED_BACK_STORY), [], SETTINGS, T0 + timedelta(hours=2))
    assert draft.updates_total == 4 and draft.updates_late == 1 and draft.updates_on_time == 3
    assert [u.gap_s for u in draft.updates] == [600, 1800, 300, 300]
    assert draft.longest_silence_s == 30 * 60
    assert draft.deadline_met is False and draft.deadline_margin_s == -600


def test_time_to_announce_is_the_first_announcement_sent() -> None:
    """A failed announcement does not count; the first one sent does, measured from the declaration."""
    receipts = [receipt("announcement", 0.5, status="failed"), receipt("announcement", 2, "stakeholders"),
                receipt("announcement", 1), receipt("update", 11)]
    draft = build(story(ev("declared", 0), ev("updated", 10, message="m"), ev("resolved", 30)), receipts, SETTINGS,
                  T0 + timedelta(hours=1))
    assert draft.time_to_announce_s == 60
    assert draft.deadline_met is True and draft.deadline_margin_s == 30 * 60
    assert draft.told == {"announcement": ["stakeholders", "oncall"], "update": ["oncall"]}


@pytest.mark.parametrize("minutes_open,met", [(30, None), (90, False)])
def test_an_open_hotfix_runs_until_now(minutes_open: int, met: bool | None) -> None:
    """While open, the figures run until now; the deadline is only missed once it has passed."""
    draft = build(story(ev("declared", 0)), [], SETTINGS, T0 + timedelta(minutes=minutes_open))
    assert draft.status == "open" and draft.duration_s == minutes_open * 60 and draft.deadline_met is met
    assert draft.phases == {"triage": minutes_open * 60} and draft.time_to_announce_s is None


@pytest.mark.parametrize("locale,headings", [
    (Locale.FR, ["# 📝 Post-mortem : PM-1 - Checkout returns 500", "## Chronologie par phase", "## Root cause analysis",
                 "## Pourquoi pas détecté avant ?", "## Comment éviter à l'avenir ?", "## Actions correctives",
                 "## Règles d'or", "## Communication", "❌ manquée de 10 min", "| Mises à jour | 4 — 3 à l'heure, 1 en retard",
                 "- ↩️ Tentative 1 annulée", "Déploiement en production sans smoke test"]),
    (Locale.EN, ["# 📝 Post-mortem: PM-1 - Checkout returns 500", "## Timeline by phase", "## Root cause analysis",
                 "## Why wasn't it caught before?", "## How to avoid it in the future?", "## Corrective actions",
                 "## Golden rules", "## Communication", "❌ missed by 10 min", "| Updates | 4 — 3 on time, 1 late",
                 "- ↩️ Attempt 1 rolled back", "Deployed to production without smoke test"]),
])
def test_markdown_follows_the_playbook_checklist(locale: Locale, headings: list[str]) -> None:
    """The Markdown has the playbook's post-mortem checklist and the figures, in the asked locale."""
    draft = build(story(*ROLLED_BACK_STORY), [receipt("announcement", 1)], SETTINGS, T0 + timedelta(hours=2))
    text = render_md(draft, SETTINGS, locale)
    for heading in headings:
        assert heading in text, heading
    assert "timeout 0" in text and "#42" in text


@pytest.mark.parametrize("locale,lines", [
    (Locale.FR, ["## Pourquoi pas détecté avant ?\nStaging has another timeout", "- [ ] Validate timeouts — Bob — OPS-12",
                 "- [ ] Staging parity — à désigner", "- [x] Ticket de suivi créé : OPS-13"]),
    (Locale.EN, ["## How to avoid it in the future?\n_To complete in the meeting._", "- [ ] Validate timeouts — Bob — OPS-12",
                 "- [x] Follow-up ticket created: OPS-13", "## Root cause analysis\nNo timeout validation"]),
])
def test_the_draft_shows_what_the_postmortem_event_reported(locale: Locale, lines: list[str]) -> None:
    """Once a postmortem event is applied, the draft gives its answers, actions and follow-up ticket in place of blanks."""
    report = ev("postmortem", 200, root_cause_analysis="No timeout validation", why_not_caught="Staging has another timeout",
                actions=[{"title": "Validate timeouts", "owner": "Bob", "ticket": "OPS-12"}, {"title": "Staging parity"}],
                follow_up="OPS-13")
    draft = build(story(*ROLLED_BACK_STORY, report), [], SETTINGS, T0 + timedelta(hours=4))
    assert draft.report is not None and draft.report.follow_up == "OPS-13"
    text = render_md(draft, SETTINGS, locale)
    for line in lines:
        assert line in text, line
