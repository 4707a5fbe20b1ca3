"""Journey: a P2 declared two hours ago is raised to P0: the newly concerned are told, the breach escalates at once."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fixtures.processes import wait_until
from tests.journeys.conftest import MANAGEMENT, ONCALL, STAKEHOLDERS
from tests.journeys.harness import card_text

pytestmark = pytest.mark.e2e

T = "RAISE-1"


def test_p2_raised_to_p0_midway(herald) -> None:
    """Raised to P0 two hours in: announced to the audiences it newly concerns, and escalated within seconds."""
    stack = herald(severity={"P0": {"warn_before": "15m", "escalate": ["management"]}})
    started = datetime.now(timezone.utc) - timedelta(hours=2)
    stack.push_json({"type": "declared", "ticket": T, "at": started.isoformat(), "title": "CSV export is slow",
                     "severity": "P2", "team": {"coordinator": "Alice", "developer": "Bob"}})
    stack.settle()
    v = stack.views(T)
    assert v.data["severity"] == "P2" and v.audiences("announcement") == {"oncall"}
    assert datetime.fromisoformat(v.data["deadline"]) == started + timedelta(hours=24)
    assert not stack.emails(MANAGEMENT[0])

    stack.push("updated", T, severity="P0", message="Orders fail too: the export job holds a lock on orders")
    wait_until(lambda: any("ESCALADE" in s.upper() or "ESCALATION" in s.upper() for s in stack.subjects(MANAGEMENT[0])),
               timeout=15, message="the breach escalation to management")
    stack.settle()
    v = stack.views(T)
    assert v.data["severity"] == "P0" and datetime.fromisoformat(v.data["deadline"]) == started + timedelta(hours=1)
    assert "dépassée de" in v.line("fr", "| Échéance |") and "overdue by" in v.line("en", "| Deadline |")
    assert v.audiences("announcement") == {"oncall", "stakeholders", "management"}  # the raise: only the new ones
    assert len([d for d in v.deliveries("announcement") if d["audience"] == "oncall"]) == 3  # not told twice
    assert v.audiences("escalation") == {"management"} and "escalation" in v.timeline()
    assert "⬆️ Severity raised: P2 → P0" in stack.emails(STAKEHOLDERS[0])[0].get_body(("plain",)).get_content()
    assert "🔄 UPDATE" in stack.subjects(ONCALL[0])[-1]
    assert 'class="sev sev-P0"' in v.index_page and 'class="sev sev-P0"' in v.hotfix_page
    assert "Orders fail too" in card_text(stack.cards()[-1])
