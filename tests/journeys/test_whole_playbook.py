"""Journey: the whole playbook — a P0 from Alertmanager, triage and roles given later, a fix that breaks something
and is rolled back (reminders go on), a second fix, the resolution, then the post-mortem: the coordination
document fills every section of the playbook's template, in French and in English."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.fixtures.intake import am_alert, am_payload
from tests.fixtures.processes import wait_until
from tests.journeys.conftest import CUSTOMERS, MANAGEMENT, ONCALL, STAKEHOLDERS
from tests.journeys.harness import Stack, mail_text

pytestmark = pytest.mark.e2e

TEAM = {"coordinator": "Alice", "diagnostician": "Eve", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}
#: Every verification of the playbook's workflow, ticked by the second attempt.
ALL_CHECKS = ["branch", "tests", "review", "merged", "staging", "smoke_test", "production"]
REPORT = {"summary": "A release set the payment client timeout to 0",
          "root_cause_analysis": "The client library changed its default timeout and no config set it",
          "why_not_caught": "Staging pins the old library and nothing alerts on the payment error rate",
          "prevention": "Alert on the payment error rate; staging uses production's lock file",
          "action": ["Alert on payment error rate|Dan|OPS-311", "Staging uses the production lock file|Bob|OPS-312"],
          "follow_up": "INC-2001"}
#: What a section shows while nothing fills it (none may be left at the end).
BLANKS = {"fr": ["- [ ]", "à assigner", "à confirmer", "_À déterminer_", "non communiqué", "_Pas encore tenu",
                 "_sans réponse_", "| — |"],
          "en": ["- [ ]", "to assign", "to be confirmed", "_To be determined_", "not given", "_Not held yet",
                 "_no answer_", "| — |"]}


def show(stack: Stack, ticket: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stack.cli("show", ticket, "--format", "json"))
    return data


def test_the_whole_playbook_from_alertmanager_to_the_postmortem(herald) -> None:
    """Every step of the playbook shows in every view; at the end the document fills every section (fr and en)."""
    stack = herald(severity={"P0": {"update_every": "3s", "remind": ["oncall"], "escalate": ["management"],
                                    "access": ["oncall"], "customer_impact": ["customers"]}})

    # 1. Alertmanager declares a P0: "depuis quand ?" is the alert's startsAt; nobody is assigned yet
    alert = am_alert(severity="critical")
    ticket = stack.post("/hooks/alertmanager", am_payload(alert))["ticket"]
    stack.settle()
    v = stack.views(ticket)
    started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
    assert (v.data["severity"], v.data["phase"], v.data["source"]) == ("P0", "triage", "alertmanager")
    assert datetime.fromisoformat(v.data["started_at"]) == started
    assert v.data["message"].startswith("1 alerte(s) en cours : CheckoutErrors")  # the intake writes French (fr)
    assert v.line("fr", "| Reproductible |") == "| Reproductible | à confirmer |"
    assert "⚠️ Rôles à assigner : Coordinateur, Diagnostic, Développeur, Reviewer, DevOps" in v.md["fr"]
    assert v.audiences("announcement") == {"oncall", "stakeholders", "management"}

    assert "customers" not in v.audiences("announcement", status=None)

    # 2. triage done and roles assigned later, by an update; the customer impact is major: customers hear of it
    eta = (datetime.now(timezone.utc) + timedelta(minutes=40)).replace(microsecond=0).isoformat()
    stack.push("updated", ticket, reproducible=True, impact_confirmed=True, users_affected="all EU customers",
               phase="fix", message="Reproduced on staging: the payment client times out at once", eta=eta,
               next_step="Patch the timeout", customer_impact=True, **TEAM)
    stack.settle()
    v = stack.views(ticket)
    assert "customers" in v.audiences("announcement") and "customers" in v.audiences("update")
    assert v.line("fr", "| Impact client | majeur")
    assert v.line("fr", "| Reproductible |") == "| Reproductible | oui |"
    assert v.line("en", "| Real impact |") == "| Real impact | confirmed |"
    assert "Rôles à assigner" not in v.md["fr"] and v.line("fr", "| Diagnostic | Eve | 🔵 assigné")

    # 3. the first fix reaches production
    stack.push("updated", ticket, phase="production", message="Timeout patch deployed", pr="#4242",
               check=["review", "staging", "smoke_test", "production"])
    stack.settle()
    v = stack.views(ticket)
    assert v.data["phase"] == "production" and v.line("fr", "- [x] Fix déployé en prod")

    # 4. it breaks refunds: rolled back with a new approach; the hotfix stays open and the reminders go on
    stack.push("rolled_back", ticket, reason="The patch broke refunds", next_approach="Patch behind a feature flag")
    stack.settle()
    v = stack.views(ticket)
    assert (v.status, v.data["phase"], v.data["rollbacks"]) == ("open", "fix", 1)
    assert v.audiences("rollback") == {"oncall", "stakeholders", "management", "customers"}  # all who were told
    assert "Patch behind a feature flag" in v.line("en", "- Attempt 1 rolled back at ")
    rolled_at = next(e["at"] for e in v.data["timeline"] if e["type"] == "rolled_back")
    wait_until(lambda: any(e["type"] == "reminder" and e["at"] > rolled_at for e in show(stack, ticket)["timeline"]),
               timeout=30, interval=0.5, message="an update reminder after the rollback")
    stack.settle()
    v = stack.views(ticket)
    assert v.status == "open" and "oncall" in v.audiences("reminder")

    # 5. the second fix needs a specific access (escalated to the access audience), then goes through every check
    stack.push("updated", ticket, needs_access="Write access to the payments feature flags")
    stack.settle()
    v = stack.views(ticket)
    assert "oncall" in v.audiences("escalation")
    assert any("Write access to the payments feature flags" in mail_text(m) for m in stack.emails(ONCALL[0])
               if "ESCALADE" in str(m["Subject"]))
    stack.push("updated", ticket, message="Flagged patch ready", pr="#4250", commit="9c1e2ab",
               fix_description="Timeout set explicitly, behind the payments.timeout flag", phase="review")
    stack.push("updated", ticket, phase="production", message="Flagged patch deployed", check=ALL_CHECKS)
    stack.settle()
    v = stack.views(ticket)
    assert v.data["fix"]["pr"] == "#4250" and not v.deliveries("guardrail", status=None)

    # 6. resolved
    stack.push("resolved", ticket, root_cause="The payment client's default timeout became 0",
               check=["confirmed", "monitoring", "cherry_pick"])
    stack.settle()
    v = stack.views(ticket)
    assert (v.status, v.data["phase"]) == ("resolved", "resolved")
    assert v.audiences("resolution") == {"oncall", "stakeholders", "management", "customers"}
    assert v.line("fr", "- [ ] Post-mortem planifié — date par défaut de la politique : ").endswith("14:00 CET (à confirmer)") \
        or v.line("fr", "- [ ] Post-mortem planifié — date par défaut de la politique : ").endswith("14:00 CEST (à confirmer)")

    # 7. the post-mortem is held and reported
    stack.push("postmortem", ticket, by="Alice", **REPORT)
    stack.settle()
    v = stack.views(ticket)
    assert (v.status, v.data["phase"]) == ("resolved", "postmortem")
    assert v.data["postmortem"]["follow_up"] == "INC-2001" and len(v.data["postmortem"]["actions"]) == 2
    assert v.audiences("postmortem") == {"oncall", "stakeholders", "management"}  # never the customers
    assert not any("POST-MORTEM" in s for s in stack.subjects(CUSTOMERS[0]))
    assert "Pourquoi pas détecté avant ?" in mail_text([m for m in stack.emails(ONCALL[0])
                                                        if "POST-MORTEM" in str(m["Subject"])][-1])
    assert "Why wasn't it caught before?" in mail_text([m for m in stack.emails(MANAGEMENT[0])
                                                       if "POST-MORTEM" in str(m["Subject"])][-1])
    assert any("📝 POST-MORTEM — report" in s for s in stack.subjects(STAKEHOLDERS[0]))

    # the document fills every section of the playbook's template, in both languages
    for locale in ("fr", "en"):
        md = v.md[locale]
        for blank in BLANKS[locale]:
            assert blank not in md, f"{locale}: {blank!r} is still in the document:\n{md}"
    fr = v.md["fr"]
    assert v.line("fr", "## Statut: 🟢 Résolu — 📝 post-mortem tenu le ")
    assert v.line("fr", "| Depuis |") != "| Depuis | à confirmer |" and v.line("fr", "| Impact réel |").endswith("confirmé |")
    for role, person in (("Coordinateur", "Alice"), ("Diagnostic", "Eve"), ("Développeur", "Bob"),
                         ("Reviewer", "Chloé"), ("DevOps", "Dan")):
        assert v.line("fr", f"| {role} | {person} |")
    assert [t for t in v.timeline() if t in ("declared", "rolled_back", "resolved", "postmortem")] == \
        ["declared", "rolled_back", "resolved", "postmortem"]
    assert v.line("fr", "- PR: #4250") and "Tentative 1 annulée" in fr and "The patch broke refunds" in fr
    assert "The payment client's default timeout became 0" in v.line("fr", "## Root Cause") + fr
    assert v.line("fr", "- [x] Root cause analysis — The client library changed")
    assert v.line("fr", "- [x] Pourquoi pas détecté avant ? — Staging pins")
    assert v.line("en", "- [x] How to avoid it in the future? — Alert on the payment error rate")
    assert v.line("fr", "| Alert on payment error rate | Dan | OPS-311 |")
    assert v.line("fr", "- [x] Ticket de suivi créé : INC-2001") and v.line("en", "- [x] Follow-up ticket created: INC-2001")
    assert v.line("fr", "- [x] Utilisateurs notifiés") and v.line("en", "- [x] Stakeholders notified")
    # the timeline reads in each document's language; what the intake wrote, in the configured one (fr)
    assert "🚨 Déclaré : Checkout returns 500" in fr and "🔄 Mise à jour : Reproduced on staging" in fr
    assert "⏰ Rappel : mise à jour en retard → coordinateur relancé" in fr
    assert "📝 Post-mortem tenu : A release set the payment client timeout to 0 — par Alice" in fr
    assert "⏰ Reminder: update overdue → coordinator reminded" in v.md["en"] and "↩️ Rolled back: The patch broke" in v.md["en"]
    assert "Coordinateur → Alice · Diagnostic → Eve" in fr and "✓ Mergé vers main" in fr
    assert v.data["timeline"][0]["summary"] == "Checkout returns 500"
    draft = stack.cli("postmortem", ticket, "--locale", "en")
    assert "## Why wasn't it caught before?\nStaging pins the old library" in draft
    assert "- [x] Follow-up ticket created: INC-2001" in draft
