"""Journey: a P0 whose first fix is rolled back, a new approach, then the resolution; every view after every step."""
from __future__ import annotations

import pytest

from tests.journeys.conftest import MANAGEMENT, ONCALL, STAKEHOLDERS
from tests.journeys.harness import card_text

pytestmark = pytest.mark.e2e

T = "ROLL-1"
TEAM = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}


def test_p0_rollback_then_new_approach_then_resolution(herald) -> None:
    """A rollback keeps the hotfix open (phase fix, checks cleared, attempt kept); the second fix resolves it."""
    stack = herald()
    stack.push("declared", T, title="Payments declined for EU cards", severity="P0", impact="No EU card payment",
               **TEAM)
    stack.settle()
    v = stack.views(T)
    assert (v.status, v.data["phase"]) == ("open", "triage") and v.line("fr", "- [ ] Fix déployé en prod")
    assert v.audiences("announcement") == {"oncall", "stakeholders", "management"}
    stack.push("updated", T, phase="production", message="Timeout fix deployed", pr="#4242",
               check=["review", "smoke_test", "production"])
    stack.settle()
    v = stack.views(T)
    assert v.data["phase"] == "production" and v.line("fr", "- [x] Fix déployé en prod")

    # the fix breaks refunds: rolled back, service restored, a new approach
    stack.push("rolled_back", T, reason="The fix broke refunds", next_approach="Revert and add a circuit breaker",
               service_restored=True)
    stack.settle()
    v = stack.views(T)
    assert (v.status, v.data["phase"], v.data["rollbacks"]) == ("open", "fix", 1)
    assert v.audiences("rollback") == {"oncall", "stakeholders", "management"}
    assert {a for _, _, a in v.told("rollback")} >= {*ONCALL, STAKEHOLDERS[0], MANAGEMENT[0], "engineering"}
    assert "↩️ 1 rollback(s), service rétabli à " in v.line("fr", "## Statut: 🔴 En cours (fix)")
    assert "The fix broke refunds" in v.line("fr", "- Tentative 1 annulée à ")
    assert "Revert and add a circuit breaker" in v.line("en", "- Attempt 1 rolled back at ")
    assert v.line("fr", "- [ ] Fix déployé en prod") and v.line("fr", "- [ ] Review faite")  # a new attempt starts
    assert v.line("fr", "- [ ] Post-mortem planifié — date par défaut de la politique : ")
    assert "⏪ ROLLBACK" in stack.subjects(ONCALL[0])[-1]
    card = card_text(stack.cards()[-1])
    assert "The fix broke refunds" in card and "Revert and add a circuit breaker" in card
    assert f'data-ticket="{T}"' in v.index_page

    # the new approach, reviewed and deployed, then resolved
    stack.push("updated", T, message="Circuit breaker ready", pr="#4250", next_step="Review")
    stack.settle()
    v = stack.views(T)
    assert (v.data["phase"], v.data["fix"]["pr"], v.data["rollbacks"]) == ("fix", "#4250", 1)
    assert "Circuit breaker ready" in v.hotfix_page and v.line("fr", "- [ ] Review faite")
    stack.push("updated", T, phase="production", message="Circuit breaker deployed",
               check=["review", "smoke_test", "production"])
    stack.settle()
    v = stack.views(T)
    assert v.data["fix"]["pr"] == "#4250" and v.line("fr", "| DevOps | Dan | ✅ déployé en prod")
    assert not v.deliveries("guardrail", status=None)
    stack.push("resolved", T, root_cause="Card network timeout too short", check=["confirmed", "monitoring"])
    stack.settle()
    v = stack.views(T)
    assert (v.status, v.data["rollbacks"]) == ("resolved", 1)
    assert v.audiences("resolution") == {"oncall", "stakeholders", "management", "customers"}
    assert "The fix broke refunds" in v.md["fr"] and "#4250" in v.md["en"]
    assert [t for t in v.timeline() if t in ("declared", "rolled_back", "resolved")] == \
        ["declared", "rolled_back", "resolved"]
