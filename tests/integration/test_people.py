"""People, not channels: role holders mentioned in Teams, role prompts in person, action links only for responders.

The real daemon and an in-process RQ worker on the real Redis, a real SMTP server and the local Teams stand-in.
"""
from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon import store
from hotfix import keys
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401
from workers import runtime

PUBLIC = "https://herald.example.com"
TEAM = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}
ADDRESS = {"Alice": "alice@corp.example", "Bob": "bob@corp.example", "Chloé": "chloe@corp.example",
           "Dan": "dan@corp.example"}
PEOPLE = {name: {"email": address, "teams": address} for name, address in ADDRESS.items()}


@pytest.fixture
def herald(redis: Redis, make_settings, make_daemon, smtp_server, teams_server):
    """Links on; the four role holders in [people] with Teams ids; stakeholders of kind ``stakeholders``."""
    smtp = smtp_server()
    teams_server.script("/engineering", [Reply.accepted()] * 50)
    settings = make_settings(
        smtp=smtp.settings().model_dump(), teams={"engineering": {"url": teams_server.url("/engineering")}},
        http={"public_url": PUBLIC, "signing_key": "people-test-signing-key-0123"}, people=PEOPLE,
        audiences={"stakeholders": {"kind": "stakeholders"}})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)

    def work() -> None:
        drain(daemon)
        SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)

    return work, smtp, teams_server


def mails_to(smtp, address: str) -> list[EmailMessage]:
    return [message_from_bytes(m.data, policy=policy.default) for m in smtp.messages if address in m.rcpt_tos]


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def cards(teams) -> list[dict]:
    return [r.json["attachments"][0]["content"] for r in teams.requests("/engineering")]


def test_announcement_mentions_all_four_and_prompts_each_by_email(redis: Redis, herald) -> None:
    """The P0 announcement card mentions the four role holders; each gets an ``assignment`` email at their address."""
    work, smtp, teams = herald
    xadd(redis, event("declared", team=TEAM))
    work()
    (card,) = cards(teams)
    assert [e["mentioned"] for e in card["msteams"]["entities"]] == [
        {"id": ADDRESS[n], "name": n} for n in TEAM.values()]
    assert all(f"<at>{n}</at>" in str(card["body"]) for n in TEAM.values())
    prompts = {(d["message"], d["recipient"], d["channel"]) for d in store.receipts(redis, "INC-1")
               if d["message"] == "assignment"}
    assert prompts == {("assignment", ADDRESS[n], "email") for n in TEAM.values()}
    (assignment,) = [m for m in mails_to(smtp, "chloe@corp.example") if "Assignation" in m["Subject"]]
    assert "Review accélérée" in text_of(assignment) and f"{PUBLIC}/act/" in text_of(assignment)


def test_links_go_to_responders_and_never_to_stakeholders(redis: Redis, herald) -> None:
    """On-call emails and cards carry /act/ links; stakeholder emails never do."""
    work, smtp, teams = herald
    xadd(redis, event("declared", team=TEAM), event("updated", minutes=3, message="Branch created"))
    work()
    for address in ("oncall@example.com", "dev@example.com", "boss@example.com"):
        assert all(f"{PUBLIC}/act/" in text_of(m) for m in mails_to(smtp, address))
    stakeholders = mails_to(smtp, "cto@example.com")
    assert len(stakeholders) == 2
    assert all("/act/" not in text_of(m) and "/act/" not in str(m.get_body(preferencelist=("html",)))
               for m in stakeholders)
    assert all(any(a["url"].startswith(f"{PUBLIC}/act/") for a in c["actions"]) for c in cards(teams))


def test_review_phase_asks_the_reviewer_in_person_and_in_the_channel(redis: Redis, herald) -> None:
    """Entering review sends Chloé a ``review_request`` email (her address as recipient) and a card mentioning her."""
    work, smtp, teams = herald
    xadd(redis, event("declared", team=TEAM))
    work()
    xadd(redis, event("updated", minutes=5, phase="review", fix={"pr": "4711"}))
    work()
    receipts = [d for d in store.receipts(redis, "INC-1") if d["message"] == "review_request"]
    assert {(d["channel"], d["recipient"], d["status"]) for d in receipts} == {
        ("email", "chloe@corp.example", "sent"), ("teams", "engineering", "sent")}
    (mail,) = [m for m in mails_to(smtp, "chloe@corp.example") if "Review demandée" in m["Subject"]]
    assert "PR #4711" in text_of(mail) and f"{PUBLIC}/act/" in text_of(mail)
    (card,) = [c for c in cards(teams) if "REVIEW DEMANDÉE" in str(c["body"])]
    assert card["msteams"]["entities"] == [{"type": "mention", "text": "<at>Chloé</at>",
                                            "mentioned": {"id": "chloe@corp.example", "name": "Chloé"}}]


def test_a_connector_channel_gets_names_not_mentions(redis: Redis, make_settings, make_daemon, smtp_server,
                                                     teams_server) -> None:
    """A legacy connector card names the team in plain text: no <at> and no entities."""
    teams_server.script("/legacy", [Reply.connector_ok()] * 10)
    settings = make_settings(teams={"engineering": {"url": teams_server.url("/legacy"), "format": "connector"}},
                             people=PEOPLE)
    runtime.configure(settings, redis)
    xadd(redis, event("declared", team=TEAM))
    drain(make_daemon(settings))
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    (request,) = teams_server.requests("/legacy")
    body = request.raw.decode()
    assert "Chloé" in body and "<at>" not in body and "entities" not in body
