"""Journey: a P1 declared by Alertmanager with no team and no impact, completed by people's updates."""
from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.intake import am_alert, am_payload
from tests.journeys.conftest import ONCALL, STAKEHOLDERS

pytestmark = pytest.mark.e2e


def bare(status: str = "firing") -> dict[str, Any]:
    """An Alertmanager group for a P1 (severity "error") whose annotations say no more than a summary."""
    alert = am_alert(status=status, severity="error")
    alert["annotations"] = {"summary": "Login fails for SSO users"}
    body = am_payload(alert, group_key='{}:{alertname="LoginErrors"}')
    body["commonAnnotations"] = {"summary": "Login fails for SSO users"}
    return body


def test_p1_from_alertmanager_completed_by_updates(herald) -> None:
    """Announced with what monitoring knows; a re-send adds nothing; updates fill the team and the impact."""
    stack = herald()
    answer = stack.post("/hooks/alertmanager", bare())
    ticket = answer["ticket"]
    stack.settle()
    v = stack.views(ticket)
    assert (v.data["severity"], v.data["source"], v.data["impact"]) == ("P1", "alertmanager", None)
    assert v.audiences("announcement") == {"oncall", "stakeholders"}
    assert v.line("fr", "| Impact |") == "| Impact | — |" and v.line("en", "| Users affected |") == "| Users affected | — |"
    assert "Rôles à assigner : Coordinateur, Diagnostic, Développeur, Reviewer, DevOps" in v.md["fr"]
    assert "(par alertmanager)" in v.line("fr", "| Détecté |")
    assert "Login fails for SSO users" in stack.subjects(STAKEHOLDERS[0])[0]
    announced = len(stack.smtp.messages)

    assert stack.post("/hooks/alertmanager", bare())["ids"] == []  # Alertmanager re-sends the group
    stack.settle()
    assert len(stack.smtp.messages) == announced
    v = stack.views(ticket)
    assert v.timeline() == ["declared"] and v.audiences("announcement") == {"oncall", "stakeholders"}

    stack.push("updated", ticket, coordinator="Alice", developer="Bob", impact="No SSO user can log in",
               users_affected="about 40 % of the staff", message="Identity provider certificate expired", phase="fix")
    stack.settle()
    v = stack.views(ticket)
    assert (v.data["impact"], v.data["team"]["coordinator"]) == ("No SSO user can log in", "Alice")
    assert v.line("fr", "| Impact |") == "| Impact | No SSO user can log in |"
    assert "Rôles à assigner : Diagnostic, Reviewer, DevOps" in v.md["fr"] and "| Coordinateur | Alice | 🔵 assigné" in v.md["fr"]
    assert v.audiences("update") == {"oncall"}  # P1 updates go to on-call only
    assert v.line("fr", "- [x] Stakeholders prévenus")  # by the announcement, not by the update
    assert "Identity provider certificate expired" in stack.emails(ONCALL[0])[-1].get_body(("plain",)).get_content()

    stack.post("/hooks/alertmanager", bare(status="resolved"))  # recovery is news, not a resolution
    stack.settle()
    v = stack.views(ticket)
    assert v.status == "open" and v.data["message"] == "le monitoring signale le retour à la normale"

    stack.push("resolved", ticket, root_cause="Expired IdP certificate")
    stack.settle()
    v = stack.views(ticket)
    assert v.status == "resolved" and v.audiences("resolution") == {"oncall", "stakeholders"}
    assert v.line("en", "| Coordinator | Alice | ✅ resolved")
