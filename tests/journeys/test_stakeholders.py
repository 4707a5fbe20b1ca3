"""Journeys: stakeholders in control — they leave and join a list themselves, and outside audiences hear only
what an approver let through (or, past the P0 timeout, what went out unapproved, said so).

Herald is reached at ``PUBLIC`` (a reverse proxy's address): the stories follow links by swapping that
prefix for the local server's, and post forms as a browser would.
"""
from __future__ import annotations

import json
import re
from email.message import EmailMessage

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.processes import wait_until
from tests.journeys.conftest import ONCALL, STAKEHOLDERS
from tests.journeys.harness import Stack, mail_text

pytestmark = pytest.mark.e2e

PUBLIC = "https://herald.example.test"
LINKS = {"public_url": PUBLIC, "signing_key": "journey-stakeholders-signing-key-01"}
STATUS = "status@customers.example"
ANNA, BOB = "anna@customers.example", "bob@customers.example"
ZOE, YANN = "zoe@newcomer.example", "yann@newcomer.example"


def local(url: str, stack: Stack) -> str:
    """A link as the reverse proxy would forward it to this Herald."""
    assert url.startswith(PUBLIC + "/"), url
    return stack.base + url.removeprefix(PUBLIC)


def containing(stack: Stack, address: str, text: str) -> list[EmailMessage]:
    return [m for m in stack.emails(address) if text in mail_text(m)]


def metric(stack: Stack, name: str, **labels: str) -> float:
    text = stack.client.get("/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def subscribe(stack: Stack, address: str) -> None:
    """Open the form with the viewer token, as a browser would, and ask to join the customers."""
    page = stack.client.get(f"/subscribe?token={stack.viewer}", follow_redirects=True)  # traded for the session cookie
    assert page.status_code == 200 and page.text.count("<form") == 1, page.text[:500]
    assert re.findall(r'<option value="([^"]+)"', page.text) == ["customers"]  # the only self-service audience
    form = re.search(r'name="form" value="([^"]+)"', page.text)
    assert form is not None
    asked = stack.client.post("/subscribe", data={"form": form.group(1), "email": address, "audience": "customers"})
    assert asked.status_code == 200 and 'id="requested"' in asked.text


def test_a_stakeholder_leaves_in_one_click_and_a_newcomer_joins_by_double_opt_in(herald, tmp_path) -> None:
    """Anna unsubscribes from an email's header; Zoe joins and confirms; Yann stays pending; the views agree."""
    listed = tmp_path / "customers.txt"
    listed.write_text(f"{ANNA}\n{BOB}\n")
    stack = herald(http=LINKS, audiences={"customers": {"emails": [STATUS], "emails_file": str(listed),
                                                        "self_service": True, "locale": "en"}},
                   severity={"P0": {"updates": ["oncall", "stakeholders", "customers"]}})
    T = "SUBS-1"
    stack.push("declared", T, title="Checkout returns 500", severity="P0", coordinator="Alice")
    stack.push("updated", T, phase="fix", message="Payment client patched")
    stack.settle()
    v = stack.views(T)
    assert {(a, r) for a, _, r in v.told("update")} >= {("customers", STATUS), ("customers", ANNA), ("customers", BOB)}
    (anna,) = containing(stack, ANNA, "Payment client patched")
    assert anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = re.fullmatch(r"<(\S+)>", str(anna["List-Unsubscribe"]))
    assert header is not None and "/unsubscribe/" in header.group(1)
    (oncall,) = containing(stack, ONCALL[0], "Payment client patched")
    assert oncall["List-Unsubscribe"] is None  # the on-call team cannot leave its own desk

    # 1. Anna's mail client posts the one-click unsubscribe of her email's header
    answer = stack.client.post(local(header.group(1), stack), content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200

    # 2. Zoe asks through the form and confirms from her email's link; Yann asks and never confirms
    subscribe(stack, ZOE)
    subscribe(stack, YANN)
    stack.settle()
    (confirmation,) = stack.emails(ZOE)
    link = re.search(r"https://\S+/subscribe/confirm/[A-Za-z0-9_.-]+", mail_text(confirmation))
    assert link is not None and ANNA not in mail_text(confirmation)
    page = stack.client.get(local(link.group(0), stack))  # a link scanner would stop here: nothing is confirmed
    assert page.status_code == 200 and page.text.count("<form") == 1 and 'method="post"' in page.text
    assert stack.client.post(local(link.group(0), stack), data={"confirm": "yes"}).status_code == 200

    # 3. the next update: Anna hears nothing more of the customers' list, Zoe hears it, the others still do
    stack.push("updated", T, phase="review", message="Fix in review")
    stack.settle()
    v = stack.views(T)
    assert containing(stack, ANNA, "Fix in review") == []
    assert len(containing(stack, ZOE, "Fix in review")) == 1 and containing(stack, YANN, "Fix in review") == []
    for address in (BOB, STATUS, ONCALL[0], STAKEHOLDERS[0]):
        assert len(containing(stack, address, "Fix in review")) == 1, address
    assert ("customers", "email", ZOE) in v.told("update")
    assert len([d for d in v.deliveries("update") if d["recipient"] == ANNA]) == 1  # the first update only

    # 4. `hotfix subscribers` shows the three states, with where each address came from
    rows = {r["address"]: (r["origin"], r["state"]) for r in json.loads(stack.cli("subscribers", "customers",
                                                                                  "--format", "json"))}
    assert rows == {STATUS: ("config", "subscribed"), ANNA: ("file", "unsubscribed"), BOB: ("file", "subscribed"),
                    ZOE: ("self", "subscribed"), YANN: ("self", "pending")}
    table = stack.cli("subscribers", "customers")
    assert all(state in table for state in ("subscribed", "unsubscribed", "pending"))
    assert metric(stack, "hotfix_unsubscribes_total", audience="customers") == 1
    assert metric(stack, "hotfix_subscriptions_total", audience="customers") == 1


def approval_link(stack: Stack, approver: str, choice: str, text: str) -> str:
    """The ``choice`` link of the approval request that ``approver`` received about ``text``."""
    requests = [m for m in stack.emails(approver) if "APPROBATION" in str(m["Subject"]).upper() and text in mail_text(m)]
    assert len(requests) == 1, [str(m["Subject"]) for m in stack.emails(approver)]
    found = re.search(rf"(https://\S+/approval/[A-Za-z0-9_.-]+)\?do={choice}", mail_text(requests[0]))
    assert found is not None
    return local(found.group(1), stack)


def test_customers_hear_what_an_approver_let_through_and_a_p0_goes_out_unapproved_after_its_timeout(herald) -> None:
    """A P1 update held for customers is approved from Alice's email link and reaches them once; a P0's goes
    out by itself after approval_timeout = 5s, marked unapproved; every decision is in every view."""
    alice, bob = "alice@corp.example", "bob@corp.example"
    stack = herald(http=LINKS, people={"Alice": {"email": alice}, "Bob": {"email": bob}},
                   audiences={"customers": {"approval": ["Alice", "Bob"]}},
                   severity={"P1": {"updates": ["oncall", "customers"]},
                             "P0": {"updates": ["oncall", "customers"], "approval_timeout": "5s"}})
    customer = "status@customers.example"

    # 1. a P1 update for the customers is held; Alice and Bob are asked, with the message as customers would read it
    stack.push("declared", "APPR-1", title="Login fails for some users", severity="P1")
    stack.push("updated", "APPR-1", phase="fix", message="Most customers can log in again")
    stack.settle()
    v = stack.views("APPR-1")
    assert containing(stack, customer, "Most customers can log in again") == []
    assert "held" in v.timeline()
    assert v.audiences("approval_request") == {"person:Alice", "person:Bob", "oncall"}  # mentioned in the team's channel
    [row] = json.loads(stack.cli("approvals", "--format", "json"))
    assert (row["ticket"], row["message"], row["audience"]) == ("APPR-1", "update", "customers")

    # 2. Alice follows her email's link (the page decides nothing) and approves with its form
    page = stack.client.get(approval_link(stack, alice, "approve", "Most customers can log in again") + "?do=approve")
    assert page.status_code == 200 and "Most customers can log in again" in page.text
    assert json.loads(stack.cli("approvals", "--format", "json"))  # still held: a prefetch approves nothing
    done = stack.client.post(approval_link(stack, alice, "approve", "Most customers can log in again"),
                             data={"decision": "approve"})
    assert done.status_code == 200
    stack.settle()
    v = stack.views("APPR-1")
    assert len(containing(stack, customer, "Most customers can log in again")) == 1
    approved = [e for e in v.data["timeline"] if e["type"] == "approved"]
    assert len(approved) == 1 and approved[0]["by"] == "Alice"
    assert "update for customers approved by Alice" in v.md["en"] and "Alice" in v.hotfix_page
    late = stack.client.post(approval_link(stack, bob, "approve", "Most customers can log in again"),
                             data={"decision": "approve"})
    assert late.status_code == 409 and "already approved by Alice" in late.text  # Bob's link, after Alice decided
    stack.settle()
    assert len(containing(stack, customer, "Most customers can log in again")) == 1  # once
    assert json.loads(stack.cli("approvals", "--format", "json")) == []

    # 3. a P0 update for the customers: nobody decides, it goes out after 5 s, marked unapproved
    stack.push("declared", "APPR-2", title="Payments down", severity="P0")
    stack.push("updated", "APPR-2", phase="fix", message="Payments are being restored")
    stack.settle()
    assert containing(stack, customer, "Payments are being restored") == []
    wait_until(lambda: bool(containing(stack, customer, "Payments are being restored")), timeout=30,
               message="the held P0 update to go out after its approval timeout")
    stack.settle()
    v = stack.views("APPR-2")
    (timeout,) = [e for e in v.data["timeline"] if e["type"] == "approval_timeout"]
    assert "UNAPPROVED" in timeout["summary"] and ("customers", "email", customer) in v.told("update")
    assert "UNAPPROVED" in v.md["en"]
    draft = json.loads(stack.cli("postmortem", "APPR-2", "--format", "json"))
    assert [(a["audience"], a["decision"]) for a in draft["approvals"]] == [("customers", "timeout")]
    assert metric(stack, "hotfix_approvals_total", decision="approved") == 1
    assert metric(stack, "hotfix_approvals_total", decision="timeout") == 1
    assert metric(stack, "hotfix_messages_held_total", audience="customers") == 2
