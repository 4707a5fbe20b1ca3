"""Journey: a P0 whose impact is a 60 KB pasted stack trace: announced everywhere, nothing lost, each channel trimmed."""
from __future__ import annotations

import html
import json

import pytest

from hotfix.limits import SUBJECT_CHARS, TEAMS_CARD_BYTES
from tests.journeys.conftest import CUSTOMERS, MANAGEMENT, ONCALL, STAKEHOLDERS
from tests.journeys.harness import card_text, mail_text

pytestmark = pytest.mark.e2e

T = "BIG-1"
TRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "app/payments/gateway.py", line {n}, in charge\n    raise GatewayTimeout(order_id={n})\n'
    for n in range(700))
MARKER = {"fr": f"… (texte tronqué, version complète : `hotfix show {T}`)",
          "en": f"… (text truncated, full version: `hotfix show {T}`)"}


def test_a_60kb_impact_is_announced_to_everyone(herald) -> None:
    """Accepted by the intake, stored whole, every card under 28 KB and every email with the truncation marker."""
    assert len(TRACE.encode()) > 60_000
    stack = herald()
    stack.post("/events", {"type": "declared", "ticket": T, "title": "Payments time out", "severity": "P0",
                           "impact": TRACE, "team": {"coordinator": "Alice"}})
    stack.settle()
    v = stack.views(T)
    assert v.data["impact"] == TRACE.strip()  # stored whole
    assert json.loads(stack.cli("dead-letters", "--format", "json")) == []
    everyone = {*ONCALL, *STAKEHOLDERS, *MANAGEMENT}
    assert {r for _, c, r in v.told("announcement") if c == "email"} == everyone
    for request in stack.teams.requests("/engineering"):
        assert len(request.raw) < TEAMS_CARD_BYTES
    card = card_text(stack.cards()[0])
    assert MARKER["fr"] in card and "Traceback (most recent call last):" in card
    for address, locale in ((ONCALL[0], "fr"), (STAKEHOLDERS[0], "en"), (MANAGEMENT[0], "en")):
        mail = stack.emails(address)[0]
        assert MARKER[locale] in mail_text(mail), address
        assert "\n" not in str(mail["Subject"]) and len(str(mail["Subject"])) <= SUBJECT_CHARS
    cell = v.line("fr", "| Impact |")
    assert cell.endswith("… (suite dans « Textes complets ») |") and len(cell) < 500
    assert "## Textes complets" in v.md["fr"] and "## Full texts" in v.md["en"]
    assert v.md["fr"].count("raise GatewayTimeout") > 100  # the document holds it (bounded), readable at the end
    assert MARKER["fr"] in html.unescape(v.hotfix_page)  # the status page (fr) shows 20,000 characters of it

    # a producer writes a 60 KB update straight to the stream: delivered, trimmed the same way
    stack.xadd({"type": "updated", "ticket": T, "message": TRACE, "phase": "fix"})
    stack.settle()
    v = stack.views(T)
    assert v.data["message"] == TRACE.strip() and v.audiences("update") == {"oncall", "stakeholders"}
    assert MARKER["fr"] in mail_text(stack.emails(ONCALL[1])[-1])
    assert MARKER["en"] in mail_text(stack.emails(STAKEHOLDERS[0])[-1])
    assert all(len(r.raw) < TEAMS_CARD_BYTES for r in stack.teams.requests("/engineering"))
    assert json.loads(stack.cli("dead-letters", "--format", "json")) == []
    assert not stack.emails(CUSTOMERS[0])
