"""Journey: a P0 shipped from triage straight to production, without review or smoke test (the golden rules)."""
from __future__ import annotations

import pytest

from tests.journeys.conftest import MANAGEMENT, ONCALL
from tests.journeys.harness import card_text

pytestmark = pytest.mark.e2e

T = "RULE-1"


def test_production_without_review_or_smoke_test(herald) -> None:
    """The guardrail reaches everyone told; the document ticks nothing that was not reported, beside the warning."""
    stack = herald()
    stack.push("declared", T, title="Site unreachable", severity="P0", coordinator="Alice", developer="Bob")
    stack.settle()
    stack.views(T)

    stack.push("updated", T, phase="production", message="Hot-patched in production")
    stack.settle()
    v = stack.views(T)
    assert v.audiences("guardrail") == {"oncall", "stakeholders", "management"}
    for line in ("- [ ] Review faite", "- [ ] Fix déployé en staging", "- [ ] Smoke tests OK", "- [ ] Fix déployé en prod",
                 "| Reviewer | — | ⚠️ à assigner |", "| DevOps | — | ⚠️ à assigner |"):
        assert v.line("fr", line)
    assert v.line("fr", "- ⚠️ Règle d'or enfreinte : ").endswith(" sans review ni smoke test")
    assert v.line("en", "- ⚠️ Golden rule broken: ").endswith(" without review or smoke test")
    assert "🛑 RÈGLE D'OR NON RESPECTÉE" in stack.subjects(ONCALL[0])[-1]
    assert "GOLDEN RULE" in stack.subjects(MANAGEMENT[0])[-1].upper()
    card = card_text(stack.cards()[-1])
    assert "sans review ni smoke test" in card and "Déployer sans smoke test" in card

    # the smoke test is run after the fact: ticked with its time, the breach stays on record
    stack.push("updated", T, check="smoke_test", reviewer="Chloé", message="Smoke test run after the deploy")
    stack.settle()
    v = stack.views(T)
    assert v.line("fr", "- [x] Smoke tests OK (") and v.line("fr", "- [ ] Review faite")
    assert v.line("fr", "| Reviewer | Chloé | 🔵 assigné")  # assigned, but no review was reported
    assert v.line("fr", "- ⚠️ Règle d'or enfreinte : ").endswith(" sans review ni smoke test")  # still on record
    assert len(v.deliveries("guardrail")) == len(v.deliveries("announcement"))  # said once, to everyone told
