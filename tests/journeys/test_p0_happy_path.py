"""Journey: a P0 from its declaration to its post-mortem reminder, every view checked after every step."""
from __future__ import annotations

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
