"""Journey: the on-call Teams webhook fails for good on a P0: dead letter, fallback audience, then a replay."""
from __future__ import annotations

import json

import pytest

from tests.fixtures.processes import wait_until
from tests.fixtures.teams_server import Reply
from tests.journeys.conftest import ONCALL

pytestmark = pytest.mark.e2e

T = "DEAD-1"
PAGER = "pager@example.com"


def test_teams_webhook_failing_for_good(herald) -> None:
    """Retries run out: the failure is recorded with its reason, kept as a dead letter, and the fallback is told."""
    stack = herald(audiences={"pager": {"emails": [PAGER]}}, severity={"P0": {"fallback": ["pager"]}})
    stack.teams.script("/engineering", [Reply.error(503, "Service Unavailable")] * 2)  # both attempts
    stack.push("declared", T, title="Checkout returns 500", severity="P0", coordinator="Alice")
    wait_until(lambda: stack.emails(PAGER), timeout=30, message="the fallback audience's announcement")
    stack.settle()
    v = stack.views(T)
    failed = v.deliveries("announcement", status="failed")
    assert [(d["audience"], d["channel"], d["recipient"]) for d in failed] == [("oncall", "teams", "engineering")]
    assert "gave up after 2 attempts" in failed[0]["reason"] and "503" in failed[0]["reason"]
    assert len(stack.teams.requests("/engineering")) == 2
    assert ("pager", "email", PAGER) in v.told("announcement")
    assert {r for _, c, r in v.told("announcement") if c == "email"} >= set(ONCALL)  # email still reached on-call
    assert "⚠️ oncall : 1 échec" in v.line("fr", "- [x] Équipe informée")
    assert "| announcement | oncall | teams | engineering | failed: gave up after 2 attempts" in v.md["fr"]
    assert 'class="status-failed">failed' in v.hotfix_page
    dead = json.loads(stack.cli("dead-letters", "--deliveries", "--format", "json"))
    assert [(d["recipient"], d["message"]) for d in dead] == [("engineering", "announcement")]
    assert "gave up after 2 attempts" in dead[0]["error"]

    # the webhook is back: the dead letter is replayed and the receipt turns to sent
    stack.cli("dead-letters", "--deliveries", "--replay", dead[0]["id"])
    stack.settle()
    v = stack.views(T)
    assert ("oncall", "teams", "engineering") in v.told("announcement")
    assert not v.deliveries("announcement", status="failed")
    assert json.loads(stack.cli("dead-letters", "--deliveries", "--format", "json")) == []
    assert len(stack.cards()) == 3 and "échec" not in v.line("fr", "- [x] Équipe informée")
