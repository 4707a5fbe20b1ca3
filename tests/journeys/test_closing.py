"""Journeys that close a hotfix: a cancellation (false alarm), and a late update after the resolution."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.journeys.conftest import CUSTOMERS, MANAGEMENT, ONCALL
from tests.journeys.harness import card_text

pytestmark = pytest.mark.e2e


def test_cancellation_of_a_false_alarm(herald) -> None:
    """A cancelled P0 tells everyone who heard the announcement, leaves the list, and schedules no post-mortem."""
    stack = herald(severity={"P0": {"update_every": "2s", "remind": ["oncall"]}})
    t = "FALSE-1"
    stack.push("declared", t, title="Site down in EU", severity="P0", coordinator="Alice")
    stack.settle()
    assert stack.views(t).audiences("announcement") == {"oncall", "stakeholders", "management"}
    stack.push("cancelled", t, reason="False alarm: the monitoring probe was misconfigured")
    stack.settle()
    v = stack.views(t)
    assert v.status == "cancelled"
    assert v.audiences("cancellation") == {"oncall", "stakeholders", "management"}
    assert not v.deliveries("resolution", status=None) and not stack.emails(CUSTOMERS[0])
    assert v.line("fr", "## Statut: ⚪ Annulé (fausse alerte)") and v.line("en", "## Status: ⚪ Cancelled (false alarm)")
    assert v.line("fr", "| Coordinateur | Alice | ✅ annulé") and v.line("fr", "- [ ] Post-mortem planifié")
    assert v.data["postmortem_at"] is None
    assert "False alarm: the monitoring probe was misconfigured" in card_text(stack.cards()[-1])
    assert "False alarm" in stack.emails(MANAGEMENT[0])[-1].get_body(("plain",)).get_content()

    # A reminder the daemon fired while the cancellation was still on its way may be timed after the
    # cancellation's own time; once the cancellation is applied, no further reminder may come.
    reminders = v.timeline().count("reminder")
    stack.holds(lambda: stack.views(t).timeline().count("reminder") == reminders, 3.0,
                "an update reminder fired after the cancellation was applied")  # update_every is 2 s


def test_a_late_update_after_the_resolution(herald) -> None:
    """Updates arriving after the resolution are kept as late in the timeline, never reopen it, tell nobody."""
    stack = herald()
    t = "LATE-1"
    stack.push("declared", t, title="Login impossible", severity="P1", coordinator="Alice")
    resolved = stack.push("resolved", t, root_cause="Expired certificate")
    stack.settle()
    v = stack.views(t)
    sent = len(v.deliveries(status=None))
    assert v.status == "resolved"

    earlier = (datetime.now(timezone.utc) - timedelta(seconds=30)).isoformat()
    stack.xadd({"type": "updated", "ticket": t, "id": "retried-by-a-producer", "at": earlier,
                "message": "Certificate renewed (sent before the resolution, delivered after)"})
    stack.settle()
    v = stack.views(t)
    assert v.status == "resolved" and [e["type"] for e in v.data["timeline"] if e["late"]] == ["updated"]
    assert len(v.deliveries(status=None)) == sent and v.md["en"].count("(late)") == 1
    stack.push("updated", t, message="Forgot to say: the cache was flushed too", phase="fix")
    stack.settle()
    v = stack.views(t)
    assert (v.status, v.data["phase"]) == ("resolved", "resolved")  # not reopened, the phase unchanged
    late = [e for e in v.data["timeline"] if e["late"]]
    assert [e["type"] for e in late] == ["updated", "updated"]
    assert len(v.deliveries(status=None)) == sent  # nobody told of a late update
    assert v.md["fr"].count("(tardif)") == 2 and v.md["en"].count("(late)") == 2
    assert "Forgot to say: the cache was flushed too" in v.hotfix_page and 'class="late"' in v.hotfix_page
    ids = [e["id"] for e in v.data["timeline"]]
    assert ids.index("retried-by-a-producer") < ids.index(resolved) < len(ids) - 1  # kept in time order
    assert "UPDATE" not in " ".join(stack.subjects(ONCALL[0]))
