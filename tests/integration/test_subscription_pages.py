"""Self-service audiences: List-Unsubscribe on their emails, one-click unsubscribe, the double opt-in form.

The real daemon and an in-process RQ worker on the real Redis, a real SMTP server, the intake app.
"""
from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon.intake import create_app
from hotfix import keys, subscribers
from hotfix.actions import Grant, act_url
from hotfix.jobs import read_emails_file
from hotfix.signing import Signer
from hotfix.subscription_links import Purpose, invite_url, unsubscribe_url
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from workers import runtime

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

PUBLIC = "https://herald.example.com"
KEY = "subscription-pages-signing-key-01"
VIEWER = "viewer-token-for-the-pages"


class Desk:
    """Customers (config + file, self-service), partners (self-service, one domain), on-call; P0 updates to all three."""

    def __init__(self, redis: Redis, settings, daemon, smtp) -> None:
        self.redis, self.settings, self.daemon, self.smtp = redis, settings, daemon, smtp
        self.client = TestClient(create_app(settings, redis), base_url=PUBLIC)
        self.minute = 0

    def work(self) -> None:
        drain(self.daemon)
        SimpleWorker(list(keys.QUEUE_NAMES), connection=self.redis, serializer=JSONSerializer).work(burst=True)

    def update(self, message: str) -> None:
        self.minute += 1
        xadd(self.redis, event("updated", minutes=self.minute, message=message))
        self.work()

    def mails(self, address: str, containing: str = "") -> list[EmailMessage]:
        found = [message_from_bytes(m.data, policy=policy.default) for m in self.smtp.messages if address in m.rcpt_tos]
        return [m for m in found if containing in text_of(m)]

    def roster(self, audience: str) -> dict[str, tuple[str, str]]:
        rows = subscribers.roster(self.settings, audience, subscribers.entries(self.redis, audience), read_emails_file)
        return {r.address: (r.origin.value, r.state.value) for r in rows}

    def metric(self, name: str, audience: str) -> float:
        text = self.client.get("/metrics").text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == name and s.labels.get("audience") == audience)


@pytest.fixture
def desk(redis: Redis, make_settings, make_daemon, smtp_server, tmp_path: Path):
    smtp = smtp_server()
    listed = tmp_path / "customers.txt"
    listed.write_text("anna@customers.example\nbob@customers.example\n")
    settings = make_settings(
        smtp=smtp.settings().model_dump(), http={"public_url": PUBLIC, "signing_key": KEY, "viewer_token": VIEWER},
        audiences={"customers": {"emails": ["ops@corp.example"], "emails_file": str(listed), "self_service": True,
                                 "kind": "users", "locale": "en"},
                   "partners": {"emails": ["desk@partner.example"], "self_service": True, "allowed_domains": ["partner.example"]}},
        severity={"P0": {"updates": ["oncall", "customers", "partners"]}})
    runtime.configure(settings, redis)
    made = Desk(redis, settings, make_daemon(settings), smtp)
    xadd(redis, event("declared"))
    made.work()
    yield made
    made.client.close()


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def header_path(mail: EmailMessage) -> str:
    """The path of the mail's List-Unsubscribe URL (RFC 2369: one URL in angle brackets)."""
    match = re.fullmatch(r"<(https://[^>\s]+)>", str(mail["List-Unsubscribe"]))
    assert match is not None, mail["List-Unsubscribe"]
    return urlsplit(match.group(1)).path


def test_self_service_emails_carry_one_click_unsubscribe_and_it_works_from_the_next_message(desk: Desk) -> None:
    """Each customer gets their own copy with List-Unsubscribe(-Post); Anna's one-click POST stops only her mail."""
    desk.update("Fix in review")
    (anna,) = desk.mails("anna@customers.example", "Fix in review")
    assert anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw = [m.data for m in desk.smtp.messages if "anna@customers.example" in m.rcpt_tos][-1]
    assert re.search(rb"\r\nList-Unsubscribe: <https://herald\.example\.com/unsubscribe/[A-Za-z0-9_.-]+>\r\n", raw)  # one line, no encoded word
    assert str(anna["To"]) == "anna@customers.example"  # her own copy: her own link
    path = header_path(anna)
    assert path.startswith("/unsubscribe/") and PUBLIC + path in text_of(anna)  # also at the foot
    (bob,) = desk.mails("bob@customers.example", "Fix in review")
    assert header_path(bob) != path
    (oncall,) = desk.mails("oncall@example.com", "Fix in review")
    assert oncall["List-Unsubscribe"] is None and "/unsubscribe/" not in text_of(oncall)

    answer = desk.client.post(path, content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and "anna@customers.example" in answer.text
    assert desk.client.post(path, content=b"List-Unsubscribe=One-Click").status_code == 200  # a second click: still 200
    assert desk.metric("hotfix_unsubscribes_total", "customers") == 1
    desk.update("Deployed to staging")
    assert desk.mails("anna@customers.example", "staging") == []
    assert len(desk.mails("bob@customers.example", "staging")) == 1
    assert len(desk.mails("ops@corp.example", "staging")) == 1 and len(desk.mails("oncall@example.com", "staging")) == 1
    assert desk.roster("customers")["anna@customers.example"] == ("file", "unsubscribed")


def test_the_unsubscribe_page_asks_first_and_tokens_are_scoped(desk: Desk) -> None:
    """GET only asks; a forged, foreign-purpose or non-self-service token is 403 and changes nothing."""
    now = datetime.now(UTC)
    path = urlsplit(unsubscribe_url(desk.settings, "customers", "bob@customers.example", now)).path
    page = desk.client.get(path)
    assert page.status_code == 200 and page.text.count("<form") == 1 and 'value="One-Click"' in page.text
    assert desk.roster("customers")["bob@customers.example"] == ("file", "subscribed")
    forged = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    assert desk.client.post(forged, content=b"List-Unsubscribe=One-Click").status_code == 403
    signer = Signer(KEY)  # a well-signed token of the on-call audience: it is not self-service
    oncall = signer.issue(Purpose.UNSUBSCRIBE.value, {"audience": "oncall", "address": "oncall@example.com"},
                          expires=now.replace(year=now.year + 1))
    refused = desk.client.post(f"/unsubscribe/{oncall}", content=b"List-Unsubscribe=One-Click")
    assert refused.status_code == 403 and "not_self_service" in refused.text
    confirm = signer.issue(Purpose.CONFIRM.value, {"audience": "partners", "address": "bob@customers.example"},
                           expires=now.replace(year=now.year + 1))
    assert desk.client.post(f"/unsubscribe/{confirm}").status_code == 403  # a token of another purpose
    act = act_url(desk.settings, Grant(ticket="INC-1", by="oncall", person=False), now).rsplit("/", 1)[1]
    assert desk.client.post(f"/unsubscribe/{act}").status_code == 403
    assert desk.roster("partners")["desk@partner.example"] == ("config", "subscribed")
    assert desk.roster("customers")["bob@customers.example"] == ("file", "subscribed")


def test_a_new_address_subscribes_confirms_by_its_email_link_and_gets_the_next_update(desk: Desk) -> None:
    """Viewer-token form → confirmation email → its page's POST: joined (self, subscribed), and the next update arrives."""
    assert desk.client.get("/subscribe").status_code == 401
    traded = desk.client.get(f"/subscribe?token={VIEWER}", follow_redirects=False)  # no token left in the history
    assert traded.status_code == 303 and traded.headers["location"] == "/subscribe" and VIEWER not in str(traded.headers)
    page = desk.client.get("/subscribe")  # with the session cookie
    assert page.status_code == 200 and page.text.count("<form") == 1
    assert 'name="email"' in page.text and 'name="audience"' in page.text
    assert re.findall(r'<option value="([^"]+)"', page.text) == ["customers", "partners"]  # not on-call
    form = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
    asked = desk.client.post("/subscribe", data={"form": form, "email": "Zoe@Newcomer.example", "audience": "customers"})
    assert asked.status_code == 200 and 'id="requested"' in asked.text
    assert desk.roster("customers")["zoe@newcomer.example"] == ("self", "pending")
    desk.work()
    (mail,) = desk.mails("zoe@newcomer.example")
    link = re.search(r"https://herald\.example\.com(/subscribe/confirm/[A-Za-z0-9_.-]+)", text_of(mail)).group(1)
    shown = desk.client.get(link)  # what a mail scanner's prefetch does
    assert shown.status_code == 200 and shown.text.count("<form") == 1 and 'method="post"' in shown.text
    assert desk.roster("customers")["zoe@newcomer.example"] == ("self", "pending")
    assert desk.client.post(link, data={"confirm": "yes"}).status_code == 200
    assert desk.roster("customers")["zoe@newcomer.example"] == ("self", "subscribed")
    assert desk.metric("hotfix_subscriptions_total", "customers") == 1
    desk.update("Deployed to production")
    (update,) = desk.mails("zoe@newcomer.example", "production")
    assert header_path(update).startswith("/unsubscribe/")
    # attack: the confirmation link (valid 7 days) replayed after Zoe left undid her unsubscribe
    assert desk.client.post(header_path(update), content=b"List-Unsubscribe=One-Click").status_code == 200
    for answer in (desk.client.get(link), desk.client.post(link, data={"confirm": "yes"})):
        assert answer.status_code == 409 and 'data-reason="not_pending"' in answer.text
    assert desk.roster("customers")["zoe@newcomer.example"] == ("self", "unsubscribed")


def test_domains_invitations_and_hostile_forms(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """allowed_domains refuses other addresses (422 naming email); an invitation opens only its audience; junk is 4xx;
    past its hourly bound of requests an audience answers 429 and mails nobody."""
    page = desk.client.get(f"/subscribe?token={VIEWER}")
    form = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
    refused = desk.client.post("/subscribe", data={"form": form, "email": "eve@elsewhere.example", "audience": "partners"})
    assert refused.status_code == 422 and 'data-field="email"' in refused.text and "partner.example" in refused.text
    assert desk.client.post("/subscribe", data={"form": form, "email": "x@partner.example", "audience": "oncall"}).status_code == 422
    assert desk.client.post("/subscribe", data={"form": "forged", "email": "x@partner.example"}).status_code == 403
    assert desk.client.post("/subscribe", data={"email": "not an address", "form": form, "audience": "customers"}).status_code == 422
    invited = desk.client.get(urlsplit(invite_url(desk.settings, ["partners"], datetime.now(UTC))).path + "?"
                              + urlsplit(invite_url(desk.settings, ["partners"], datetime.now(UTC))).query)
    assert invited.status_code == 200 and re.findall(r'<option value="([^"]+)"', invited.text) == ["partners"]
    assert desk.client.get("/subscribe?invite=forged.token").status_code == 403
    assert "eve@elsewhere.example" not in desk.roster("partners")
    monkeypatch.setattr(subscribers, "REQUESTS_PER_HOUR", 2)
    asked = [desk.client.post("/subscribe", data={"form": form, "email": f"a+{i}@victim.example", "audience": "customers"})
             for i in range(4)]
    assert [a.status_code for a in asked[:2]] == [200, 200] and 'data-reason="too_many"' in asked[3].text
    assert [a.status_code for a in asked[2:]] == [429, 429]
    desk.work()
    assert len(desk.mails("a+0@victim.example")) == 1 and desk.mails("a+2@victim.example") == []


def test_without_smtp_each_copy_and_the_confirmation_land_in_the_outbox(redis: Redis, make_settings, make_daemon,
                                                                          tmp_path: Path) -> None:
    """No SMTP: each customer's copy is its own .eml with its own List-Unsubscribe; confirmations go there too."""
    settings = make_settings(http={"public_url": PUBLIC, "signing_key": KEY, "viewer_token": VIEWER},
                             audiences={"customers": {"emails": ["a@customers.example", "b@customers.example"],
                                                      "self_service": True}},
                             severity={"P0": {"announce": ["customers"]}})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)
    xadd(redis, event("declared"))
    drain(daemon)
    with TestClient(create_app(settings, redis), base_url=PUBLIC) as client:
        page = client.get("/subscribe", headers={"Authorization": f"Bearer {VIEWER}"})
        form = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
        assert client.post("/subscribe", data={"form": form, "email": "c@customers.example"}).status_code == 200
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    files = sorted((tmp_path / "outbox").rglob("*.eml"))
    mails = {str(m["X-Outbox-Recipient"]): m for m in (message_from_bytes(f.read_bytes(), policy=policy.default) for f in files)}
    assert set(mails) == {"a@customers.example", "b@customers.example", "c@customers.example"}
    assert header_path(mails["a@customers.example"]) != header_path(mails["b@customers.example"])
    assert mails["c@customers.example"]["List-Unsubscribe"] is None and "/subscribe/confirm/" in text_of(mails["c@customers.example"])
