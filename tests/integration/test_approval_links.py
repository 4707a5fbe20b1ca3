"""Approval by link: the approval_request shows the held message and signed links; the page decides once.

The real daemon and an in-process RQ worker on the real Redis, a real SMTP server, the intake app.
"""
from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon import store
from daemon.intake import create_app
from hotfix import keys
from hotfix.actions import Grant, act_url
from hotfix.approval_links import ApprovalGrant, approval_url
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401
from workers import runtime

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

PUBLIC = "https://herald.example.com"
KEY = "approval-links-signing-key-0123"
CUSTOMERS = "status@customers.example"


@pytest.fixture
def desk(redis: Redis, make_settings, make_daemon, smtp_server, teams_server):
    """P0 updates to `customers` wait for Alice or Bob; links on; a worker and the intake app at hand."""
    smtp = smtp_server()
    teams_server.script("/engineering", [Reply.accepted()] * 20)
    settings = make_settings(
        smtp=smtp.settings().model_dump(), http={"public_url": PUBLIC, "signing_key": KEY},
        teams={"engineering": {"url": teams_server.url("/engineering")}},
        people={"Alice": {"email": "alice@corp.example", "locale": "en", "teams": "alice@corp.example"},
                "Bob": {"email": "bob@corp.example"}},
        audiences={"customers": {"emails": [CUSTOMERS], "approval": ["Alice", "Bob"], "kind": "users", "locale": "en"}},
        severity={"P0": {"updates": ["oncall", "customers"]}})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)

    def work() -> None:
        drain(daemon)
        SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)

    client = TestClient(create_app(settings, redis), base_url=PUBLIC)
    yield work, smtp, client, settings
    client.close()


def test_the_request_in_the_teams_channel_carries_no_link_that_acts_as_the_approver(redis: Redis, desk,
                                                                                      teams_server) -> None:
    """Attack: anyone in the team's channel followed Alice's approval link from the card mentioning her and approved
    as Alice. The card now says the links are in each approver's email; only that email carries them."""
    work, smtp, _, _ = desk
    held_update(redis, work)
    cards = [r.raw.decode() for r in teams_server.requests("/engineering") if b"approve ap-" in r.raw]
    assert cards and all("/approval/" not in card for card in cards)
    assert all("personnels" in card for card in cards)  # the channel reads French
    (request,) = [m for m in mails_to(smtp, "alice@corp.example") if "APPROVAL" in m["Subject"]]
    assert set(links_in(text_of(request))) == {"approve", "edit", "decline"}


def mails_to(smtp, address: str) -> list[EmailMessage]:
    return [message_from_bytes(m.data, policy=policy.default) for m in smtp.messages if address in m.rcpt_tos]


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def links_in(text: str) -> dict[str, str]:
    """The approval links of a request's text, by their ``do``, as paths."""
    found = re.findall(r"(https://herald\.example\.com/approval/[A-Za-z0-9_.%-]+\?do=(approve|edit|decline))", text)
    return {do: urlsplit(url).path + "?" + urlsplit(url).query for url, do in found}


def held_update(redis: Redis, work, message: str = "Fix in review, payments back soon") -> None:
    xadd(redis, event("declared"), event("updated", minutes=1, message=message))
    work()


def test_request_shows_the_held_message_and_the_link_approves_it_once(redis: Redis, desk) -> None:
    """Alice's request quotes the update and links to the page; GET decides nothing, her POST sends it once."""
    work, smtp, client, _ = desk
    held_update(redis, work)
    assert mails_to(smtp, CUSTOMERS) == []
    (request,) = [m for m in mails_to(smtp, "alice@corp.example") if "APPROVAL" in m["Subject"]]
    text = text_of(request)
    assert "Fix in review, payments back soon" in text and "UPDATE" in text  # the held message, as customers would read it
    links = links_in(text)
    assert set(links) == {"approve", "edit", "decline"}

    page = client.get(links["approve"])  # what a mail scanner's prefetch does
    assert page.status_code == 200 and 'name="decision" value="approve"' in page.text
    assert store.load(redis, "INC-1").held  # still held
    path = links["approve"].split("?")[0]
    answer = client.post(path, data={"decision": "approve"})
    assert answer.status_code == 200 and "approved" in answer.text
    work()
    (sent,) = mails_to(smtp, CUSTOMERS)
    assert "Fix in review, payments back soon" in text_of(sent)
    state = store.load(redis, "INC-1")
    assert [(e.type, e.by) for e in state.timeline if e.type == "approved"] == [("approved", "Alice")]
    again = client.post(path, data={"decision": "approve"})  # a double click, or Bob's link after Alice decided
    assert again.status_code == 409 and "already approved by Alice" in again.text
    work()
    assert len(mails_to(smtp, CUSTOMERS)) == 1


def test_edit_sends_the_approvers_wording_and_decline_sends_nothing(redis: Redis, desk) -> None:
    """Edit then approve: customers read Bob's text, recorded `edited`; a declined one never reaches them."""
    work, smtp, client, _ = desk
    held_update(redis, work, message="Internal: DB failover by hand")
    (request,) = [m for m in mails_to(smtp, "bob@corp.example") if "APPROBATION" in m["Subject"].upper()]
    path = links_in(text_of(request))["edit"]
    page = client.get(path)
    assert "Internal: DB failover by hand" in page.text  # prefilled for editing
    answer = client.post(path.split("?")[0], data={"decision": "edit", "message": "Payments are coming back"})
    assert answer.status_code == 200
    work()
    (sent,) = mails_to(smtp, CUSTOMERS)
    assert "Payments are coming back" in text_of(sent) and "failover" not in text_of(sent)
    assert [d.decision.value for d in store.load(redis, "INC-1").decisions] == ["edited"]

    xadd(redis, event("updated", minutes=5, message="Another internal detail"))
    work()
    (second,) = [m for m in mails_to(smtp, "bob@corp.example") if "Another internal detail" in text_of(m)]
    path = links_in(text_of(second))["decline"].split("?")[0]
    assert client.post(path, data={"decision": "decline", "reason": "Not for customers"}).status_code == 200
    work()
    assert len(mails_to(smtp, CUSTOMERS)) == 1
    entry = [e for e in store.load(redis, "INC-1").timeline if e.type == "declined"][0]
    assert entry.by == "Bob" and "Not for customers" in entry.summary


def test_forged_foreign_and_outdated_tokens_are_refused(redis: Redis, desk, make_settings) -> None:
    """A changed token, an action-link token, and an approver no longer listed get 403; nothing is decided."""
    work, _, client, settings = desk
    held_update(redis, work)
    (held,) = store.load(redis, "INC-1").held
    now = datetime.now(UTC)
    good = approval_url(settings, ApprovalGrant(held=held.id, ticket="INC-1", by="Alice"), now).removeprefix(PUBLIC)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert client.post(forged, data={"decision": "approve"}).status_code == 403
    act = act_url(settings, Grant(ticket="INC-1", by="Alice", person=True), now).removeprefix(PUBLIC)
    assert client.get("/approval/" + act.rsplit("/", 1)[1]).status_code == 403
    eve = approval_url(settings, ApprovalGrant(held=held.id, ticket="INC-1", by="Eve"), now).removeprefix(PUBLIC)
    refused = client.post(eve, data={"decision": "approve"})
    assert refused.status_code == 403 and "Eve" in refused.text
    other_key = make_settings(http={"public_url": PUBLIC, "signing_key": "another-key-entirely-0123456"})
    alien = approval_url(other_key, ApprovalGrant(held=held.id, ticket="INC-1", by="Alice"), now).removeprefix(PUBLIC)
    assert client.get(alien).status_code == 403
    assert client.post(good, data={"decision": "maybe"}).status_code == 422
    assert [h.id for h in store.load(redis, "INC-1").held] == [held.id]


def test_concurrent_decisions_on_one_held_message_decide_once(redis: Redis, desk) -> None:
    """Attack: Alice's and Bob's links posted 12 times at once, approve, edit and decline mixed: one decision, one
    email to the customers, every other post told what became of it (409)."""
    import threading

    work, smtp, client, settings = desk
    held_update(redis, work)
    (held,) = store.load(redis, "INC-1").held
    now = datetime.now(UTC)
    paths = [approval_url(settings, ApprovalGrant(held=held.id, ticket="INC-1", by=who), now).removeprefix(PUBLIC)
             for who in ("Alice", "Bob")]
    forms = [{"decision": "approve"}, {"decision": "edit", "message": "Reworded"}, {"decision": "decline"}]
    codes: list[int] = []
    posts = [threading.Thread(target=lambda i=i: codes.append(client.post(paths[i % 2], data=forms[i % 3]).status_code))
             for i in range(12)]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()
    assert sorted(codes) == [200] + [409] * 11
    work()
    assert len(store.load(redis, "INC-1").decisions) == 1
    assert len(mails_to(smtp, CUSTOMERS)) <= 1  # one approval sends once; a decline sends nothing
