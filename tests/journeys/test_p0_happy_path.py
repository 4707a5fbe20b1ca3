"""Journey: a P0 from its declaration to its post-mortem reminder, every view checked after every step."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.processes import wait_until
from tests.journeys.conftest import CUSTOMERS, MANAGEMENT, ONCALL, STAKEHOLDERS
from tests.journeys.harness import card_text, mail_text

pytestmark = pytest.mark.e2e

T = "HAPPY-1"


def test_p0_happy_path_to_the_postmortem_reminder(herald) -> None:
    """Declared, assigned, fixed, reviewed, staged, deployed, resolved, reminded: each view says what was reported."""
    stack = herald(severity={"P0": {"remind": ["oncall"], "postmortem_remind_before": "1h"}})

    # 1. declared by the coordinator at a terminal, with half a team
    stack.push("declared", T, title="Checkout returns 500", severity="P0", impact="No order can be paid",
               users_affected="all EU customers", coordinator="Alice", developer="Bob")
    stack.settle()
    v = stack.views(T)
    assert (v.status, v.data["severity"], v.data["phase"]) == ("open", "P0", "triage")
    assert v.told("announcement") == {("oncall", "teams", "engineering"), *{("oncall", "email", a) for a in ONCALL},
                                      ("stakeholders", "email", STAKEHOLDERS[0]), ("management", "email", MANAGEMENT[0])}
    assert v.line("fr", "- [x] Équipe informée").startswith("- [x] Équipe informée — oncall (3 envois")
    assert v.line("fr", "- [x] Stakeholders prévenus").startswith("- [x] Stakeholders prévenus — ")
    assert v.line("fr", "- [ ] Utilisateurs notifiés")
    assert "⚠️ Rôles à assigner : Diagnostic, Reviewer, DevOps" in v.md["fr"]
    assert "Roles to assign: Diagnostician, Reviewer, DevOps" in v.md["en"]
    card = card_text(stack.cards()[0])
    assert "Les mises à jour suivront dans ce canal." in card and "thread" not in card
    assert "No order can be paid" in card and "Alice" in card
    oncall_mail = stack.emails(ONCALL[0])[0]
    assert "🚨 HOTFIX EN COURS" in str(oncall_mail["Subject"]) and "Updates dans ce thread" in mail_text(oncall_mail)
    assert "🚨 HOTFIX IN PROGRESS" in stack.subjects(STAKEHOLDERS[0])[0]  # stakeholders read English

    # 2. the team is complete, the fix starts
    stack.push("updated", T, phase="fix", message="Branch hotfix/HAPPY-1-timeout created", reviewer="Chloé",
               devops="Dan", diagnostician="Bob", next_step="Review")
    stack.settle()
    v = stack.views(T)
    assert v.data["phase"] == "fix" and v.audiences("update") == {"oncall", "stakeholders"}
    assert "à assigner" not in v.md["fr"] and "| Reviewer | Chloé | 🔵 assigné" in v.md["fr"]
    assert "Branch hotfix/HAPPY-1-timeout created" in v.hotfix_page

    # 3. review done and merged, deployed to staging with a smoke test, then production
    stack.push("updated", T, phase="review", message="PR #4242 open", pr="#4242")
    stack.settle()
    v = stack.views(T)
    assert (v.data["phase"], v.data["fix"]["pr"]) == ("review", "#4242") and v.line("fr", "- [ ] Review faite")
    assert v.line("fr", "| Reviewer | Chloé | 🔵 assigné") and "PR #4242 open" in v.hotfix_page
    stack.push("updated", T, phase="staging", message="Reviewed, merged, on staging", check=["review", "merged",
                                                                                             "staging", "smoke_test"])
    stack.settle()
    v = stack.views(T)
    assert v.line("fr", "- [x] Review faite") and v.line("fr", "- [x] Smoke tests OK")
    assert v.line("fr", "- [ ] Fix déployé en prod")
    assert v.line("fr", "| Reviewer | Chloé | ✅ review faite") and v.line("en", "| Developer | Bob | ✅ merged")
    stack.push("updated", T, phase="production", message="Deployed to production", check="production")
    stack.settle()
    v = stack.views(T)
    assert v.data["phase"] == "production" and not v.deliveries("guardrail", status=None)  # rules were kept
    assert "Règle d'or" not in v.md["fr"] and v.line("en", "| DevOps | Dan | ✅ deployed to production")

    # 4. resolved, the post-mortem date given
    meeting = (datetime.now(timezone.utc) + timedelta(hours=1, seconds=6)).isoformat()  # reminded in ~6 s
    stack.push("resolved", T, root_cause="Payment client timeout set to 0 by the last release", pr="#4242",
               commit="a1b2c3d", check=["confirmed", "monitoring"], postmortem_at=meeting)
    stack.settle()
    v = stack.views(T)
    assert (v.status, v.data["phase"]) == ("resolved", "resolved")
    assert v.audiences("resolution") == {"oncall", "stakeholders", "management", "customers"}
    assert ("customers", "email", CUSTOMERS[0]) in v.told("resolution")
    assert v.line("fr", "- [x] Utilisateurs notifiés").startswith("- [x] Utilisateurs notifiés — customers (1 envoi")
    assert v.line("fr", "- [x] Post-mortem planifié : ") and v.line("en", "- [x] Post-mortem scheduled: ")
    assert v.line("fr", "| Coordinateur | Alice | ✅ résolu")
    assert "Payment client timeout set to 0" in v.md["en"] and "a1b2c3d" in v.hotfix_page
    assert "✅ RÉSOLU" in stack.subjects(ONCALL[0])[-1] and "✅ RÉSOLU" in stack.subjects(CUSTOMERS[0])[-1]
    assert "✅ RESOLVED" in stack.subjects(STAKEHOLDERS[0])[-1]

    # 5. the post-mortem reminder, an hour before the meeting
    wait_until(lambda: any("POST-MORTEM" in s for s in stack.subjects(ONCALL[0])), timeout=30,
               message="the post-mortem reminder")
    stack.settle()
    v = stack.views(T)
    assert "postmortem" in v.timeline() and "oncall" in v.audiences("postmortem")
    assert v.line("fr", "- [x] Post-mortem planifié : ")
    reminder = next(m for m in stack.emails(ONCALL[0]) if "POST-MORTEM" in str(m["Subject"]))
    (attached,) = list(reminder.iter_attachments())
    assert attached.get_filename() == f"postmortem-{T}.md" and "## Pourquoi pas détecté avant ?" in attached.get_content()

    # 6. the post-mortem draft: its figures are the timeline's and the receipts', its Markdown the playbook's checklist
    draft = json.loads(stack.cli("postmortem", T, "--format", "json"))
    assert_draft_matches_the_record(draft, v.data)
    for locale, headings in CHECKLIST.items():
        text = stack.cli("postmortem", T, "--locale", locale)
        places = [text.index(h) for h in headings]
        assert places == sorted(places), f"{locale}: the playbook's checklist is out of order"
        assert "Payment client timeout set to 0" in text and "#4242" in text


#: The playbook's "Phase 4 : Post-mortem" checklist, as the draft's headings, in order.
CHECKLIST = {"fr": ["## Root cause analysis", "## Pourquoi pas détecté avant ?", "## Comment éviter à l'avenir ?",
                    "## Actions correctives"],
             "en": ["## Root cause analysis", "## Why wasn't it caught before?", "## How to avoid it in the future?",
                    "## Corrective actions"]}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_draft_matches_the_record(draft: dict, data: dict) -> None:
    """Every figure of ``hotfix postmortem --format json`` recomputed from ``hotfix show --format json``."""
    assert {"ticket", "time_to_announce_s", "duration_s", "deadline_met", "updates_total", "updates_late", "phases",
            "rollbacks", "guardrails", "deliveries"} <= set(draft)
    timeline = data["timeline"]
    start = _at(next(e["at"] for e in timeline if e["type"] == "declared"))
    end = _at(next(e["at"] for e in timeline if e["type"] == "resolved"))
    assert draft["ticket"] == T and draft["duration_s"] == round((end - start).total_seconds())
    expected: dict[str, float] = {}
    phase, since = "triage", start
    for entry in timeline:
        after = "resolved" if entry["type"] == "resolved" else entry.get("phase") or phase
        if entry["type"] in ("declared", "updated", "resolved") and after != phase:
            expected[phase] = expected.get(phase, 0) + (_at(entry["at"]) - since).total_seconds()
            phase, since = after, _at(entry["at"])
    assert list(draft["phases"]) == [p for p in expected if expected[p] > 0]  # triage, fix, review, staging, production
    assert all(abs(draft["phases"][p] - expected[p]) < 1 for p in draft["phases"])  # its rounded ends' difference
    assert sum(draft["phases"].values()) == draft["duration_s"]
    first = min(_at(d["at"]) for d in data["deliveries"] if d["message"] == "announcement" and d["status"] == "sent")
    assert draft["time_to_announce_s"] == round((first - start).total_seconds())
    assert draft["updates_total"] == sum(1 for e in timeline if e["type"] == "updated") == 4
    assert draft["updates_late"] == 0 and draft["rollbacks"] == [] and draft["guardrails"] == []
    deadline = _at(data["deadline"])
    assert draft["deadline_met"] is (end <= deadline) is True
    assert draft["deadline_margin_s"] == round((deadline - end).total_seconds())
    told = {(d["message"], d["audience"], d["channel"], d["recipient"]) for d in draft["deliveries"]}
    assert told == {(d["message"], d["audience"], d["channel"], d["recipient"]) for d in data["deliveries"]}
    for message, audiences in draft["told"].items():
        assert set(audiences) == {d["audience"] for d in data["deliveries"] if d["message"] == message and d["status"] == "sent"}
