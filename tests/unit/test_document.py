"""The coordination document states only what was reported: checks, roles, who was told, the post-mortem date."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.document import build, document_md
from daemon.lifecycle import apply
from hotfix.enums import Locale
from hotfix.events import parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState
from tests.fixtures.herald import BASE_CONFIG, merge

#: A frozen clock: every time below derives from it.
T0 = datetime.now(timezone.utc).replace(second=0, microsecond=0)
SETTINGS = Settings(**merge(BASE_CONFIG, {"audiences": {"stakeholders": {"kind": "stakeholders"},
                                                        "management": {"kind": "stakeholders"}}}))
SETTINGS_ZONE = ZoneInfo(SETTINGS.timezone)


def story(*events: dict[str, Any]) -> HotfixState:
    """The state after applying ``events`` (type, minutes after T0, fields) in order."""
    state: HotfixState | None = None
    for i, (type_, minutes, fields) in enumerate(events):
        data = {"type": type_, "ticket": "INC-9", "id": f"e{i}", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
                **fields}
        state = apply(state, parse_event(data), T0 + timedelta(minutes=minutes))[-1].after
    assert state is not None
    return state


def declared(**fields: Any) -> tuple[str, int, dict[str, Any]]:
    return ("declared", 0, {"title": "Checkout returns 500", "severity": "P0", **fields})


def receipt(message: str, audience: str, recipient: str, status: str = "sent", minutes: int = 1) -> dict[str, Any]:
    return {"message": message, "audience": audience, "channel": "email", "recipient": recipient, "status": status,
            "at": (T0 + timedelta(minutes=minutes)).isoformat()}


def line(text: str, start: str) -> str:
    """The first line of ``text`` starting with ``start``."""
    found = [row for row in text.splitlines() if row.startswith(start)]
    assert found, f"no line starting with {start!r} in:\n{text}"
    return found[0]


@pytest.mark.parametrize("locale,staging,review,reviewer,guardrail", [
    (Locale.FR, "- [ ] Fix déployé en staging", "- [ ] Review faite", "| Reviewer | — | ⚠️ à assigner |",
     "- ⚠️ Règle d'or enfreinte : déploiement en production ou résolution sans review ni smoke test"),
    (Locale.EN, "- [ ] Fix deployed to staging", "- [ ] Review done", "| Reviewer | — | ⚠️ to assign |",
     "- ⚠️ Golden rule broken: production deploy or resolution without review or smoke test"),
])
def test_triage_to_production_ticks_nothing_it_was_not_told(locale: Locale, staging: str, review: str, reviewer: str,
                                                             guardrail: str) -> None:
    """triage → production with no review nor staging: both unchecked, the reviewer to assign, beside the guardrail."""
    state = story(declared(team={"coordinator": "Alice", "developer": "Bob"}),
                  ("updated", 20, {"phase": "production", "message": "deployed"}))
    text = document_md(state, [], SETTINGS, T0 + timedelta(minutes=21), locale)
    for expected in (staging, review, reviewer, guardrail):
        assert expected in text
    assert "[x]" not in text.split("## Communication")[0]
    assert "| DevOps | — | ⚠️" in text and ("Rôles à assigner : Diagnostic, Reviewer, DevOps" in text
                                            or "Roles to assign: Diagnostician, Reviewer, DevOps" in text)


def test_checks_are_ticked_only_when_reported_with_their_time() -> None:
    """A check is ticked by its own `checks` entry (with when it was reported); a false one says so; the phase ticks nothing."""
    state = story(declared(team={"reviewer": "Chloé", "devops": "Dan"}),
                  ("updated", 10, {"phase": "staging"}),
                  ("updated", 12, {"checks": {"review": True, "smoke_test": False}}),
                  ("resolved", 30, {}))
    doc = build(state, [], SETTINGS, T0 + timedelta(minutes=31))
    done = {c.key: (c.done, c.at) for c in doc.verification}
    assert done["review"] == (True, T0 + timedelta(minutes=12))
    assert done["smoke_test"] == (False, T0 + timedelta(minutes=12))
    assert done["staging"] == (None, None) and done["production"] == (None, None)
    roles = {m.role: (m.status, m.evidence) for m in doc.team}
    assert roles["reviewer"] == ("done", "review")
    assert roles["devops"] == ("assigned", None)  # resolved, but nobody reported a production deploy
    assert roles["developer"] == ("unassigned", None) and doc.unassigned == ["coordinator", "diagnostician", "developer"]
    text = document_md(state, [], SETTINGS, T0 + timedelta(minutes=31))
    assert "- [x] Review faite" in text and "- [ ] Smoke tests OK — ❌ signalé non fait" in text


@pytest.mark.parametrize("receipts,team,stakeholders,users", [
    ([receipt("update", "oncall", "oncall@example.com")], True, False, False),
    ([receipt("announcement", "stakeholders", "cto@example.com", minutes=2)], False, True, False),
    ([receipt("announcement", "stakeholders", "cto@example.com", status="failed")], False, False, False),
    ([receipt("announcement", "oncall", "oncall@example.com"),
      receipt("resolution", "management", "boss@example.com", minutes=40)], True, True, False),
])
def test_communication_is_ticked_by_deliveries_to_audiences_of_that_kind(receipts: list[dict[str, Any]], team: bool,
                                                                         stakeholders: bool, users: bool) -> None:
    """Only a *sent* delivery to an audience of that kind ticks its line; an update to on-call never ticks stakeholders."""
    state = story(declared())
    lines = {c.kind: c for c in build(state, receipts, SETTINGS, T0).communication}
    assert (lines["team"].told, lines["stakeholders"].told, lines["users"].told) == (team, stakeholders, users)


def test_communication_line_names_who_and_when() -> None:
    """A ticked line names each audience told, how many deliveries and the times; failures are flagged."""
    state = story(declared())
    receipts = [receipt("announcement", "stakeholders", "cto@example.com", minutes=2),
                receipt("update", "stakeholders", "cto@example.com", minutes=9),
                receipt("announcement", "management", "boss@example.com", status="failed")]
    text = document_md(state, receipts, SETTINGS, T0)
    hhmm = [(T0 + timedelta(minutes=m)).astimezone(SETTINGS_ZONE).strftime("%H:%M") for m in (2, 9)]
    assert line(text, "- [x] Stakeholders prévenus") == (
        f"- [x] Stakeholders prévenus — stakeholders (2 envois, {hhmm[0]}–{hhmm[1]}) · ⚠️ management : 1 échec")
    assert line(text, "- [ ] Équipe informée").endswith("personne de ce type n'a encore été joint")
    assert "aucune audience « users » configurée" in line(text, "- [ ] Utilisateurs notifiés")


def test_users_line_counts_a_users_audience() -> None:
    """An audience of kind "users" ticks "Utilisateurs notifiés" once it was reached."""
    settings = Settings(**merge(BASE_CONFIG, {"audiences": {"customers": {"emails": ["a@example.org"], "kind": "users"}}}))
    state = story(declared())
    text = document_md(state, [receipt("resolution", "customers", "a@example.org")], settings, T0)
    assert line(text, "- [x] Utilisateurs notifiés").startswith("- [x] Utilisateurs notifiés — customers (1 envoi")


@pytest.mark.parametrize("resolved,expected_fr,expected_en", [
    ({"postmortem_at": "GIVEN"}, "- [x] Post-mortem planifié : ", "- [x] Post-mortem scheduled: "),
    ({}, "- [ ] Post-mortem planifié — date par défaut de la politique : ",
     "- [ ] Post-mortem scheduled — the policy's default date: "),
])
def test_postmortem_line_says_whether_the_date_was_given(resolved: dict[str, Any], expected_fr: str,
                                                         expected_en: str) -> None:
    """A post-mortem date someone gave ticks the line; the policy's default date is shown unticked, as a default."""
    fields = {k: (T0 + timedelta(days=1)).isoformat() if v == "GIVEN" else v for k, v in resolved.items()}
    state = story(declared(), ("resolved", 30, fields))
    assert state.postmortem_at is not None
    assert expected_fr in document_md(state, [], SETTINGS, T0, Locale.FR)
    assert expected_en in document_md(state, [], SETTINGS, T0, Locale.EN)


@pytest.mark.parametrize("locale,continued", [(Locale.FR, "(suite dans « Textes complets »)"),
                                              (Locale.EN, "(continued in “Full texts”)")])
def test_a_long_impact_is_cut_in_its_cell_and_shown_whole_below(locale: Locale, continued: str) -> None:
    """A 60 KB impact: its table cell is one readable line with a pointer; the full-texts section holds it (bounded)."""
    impact = "Traceback (most recent call last): | `x` \n" + "frame " * 10_000
    state = story(declared(impact=impact))
    text = document_md(state, [], SETTINGS, T0, locale)
    cell = line(text, "| Impact |")
    assert continued in cell and len(cell) < 500
    full = text.split("## Textes complets" if locale is Locale.FR else "## Full texts")[1]
    assert "Traceback (most recent call last): | `x`" in full and full.count("frame") >= 3_000
    assert "hotfix show INC-9 --format json" in full  # 60 KB is more than the section shows


def _hhmm(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).astimezone(SETTINGS_ZONE).strftime("%H:%M")


@pytest.mark.parametrize("locale,on_it,done,checked,by", [
    (Locale.FR, "🔵 en cours depuis", "✅ review faite", "- [x] Review faite", "par"),
    (Locale.EN, "🔵 on it since", "✅ review done", "- [x] Review done", "by"),
])
def test_who_acted_through_a_link_shows_in_the_document(locale: Locale, on_it: str, done: str, checked: str,
                                                        by: str) -> None:
    """Dan took devops through a link (on it since then); Chloé ticked the review: the team, checks and timeline say so."""
    state = story(declared(team={"coordinator": "Alice", "reviewer": "Chloé"}),
                  ("updated", 3, {"team": {"devops": "Dan"}, "source": "link", "by": "oncall"}),
                  ("updated", 7, {"phase": "review"}),
                  ("updated", 12, {"message": "Review OK", "checks": {"review": True}, "source": "link", "by": "Chloé"}))
    text = document_md(state, [], SETTINGS, T0 + timedelta(minutes=20), locale)
    assert line(text, "| DevOps |") == f"| DevOps | Dan | {on_it} {_hhmm(3)} |"
    assert line(text, "| Reviewer |") == f"| Reviewer | Chloé | {done} {_hhmm(12)} {by} Chloé |"
    assert line(text, checked) == f"{checked} ({_hhmm(12)}, {by} Chloé)"
    assert line(text, f"| {_hhmm(12)} |").endswith(f"Review OK · ✓ {checked[6:]} — {by} Chloé |")  # in its locale
    members = {m.role: m.status for m in build(state, [], SETTINGS, T0).team}
    assert members == {"coordinator": "assigned", "diagnostician": "unassigned", "developer": "unassigned", "reviewer": "done", "devops": "active"}
