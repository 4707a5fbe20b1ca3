"""Journey: people, not channels — a P0 whose four role holders are mentioned, prompted and act from a link.

The announcement card mentions the whole team (valid Adaptive Card 1.5, drawn by Microsoft's
renderer), each holder gets their assignment, the reviewer is asked in person when the phase enters
review, opens the link of that email in a real browser and posts the review through the form; the
update reaches everyone told, and every view says the review was done by her. Links that were
changed, have expired or belong to a resolved hotfix are refused and push nothing; a form posted
twice pushes one event. Herald is reached at ``PUBLIC`` (a reverse proxy's address): the story
follows links by swapping that prefix for the local server's.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest

from hotfix import keys
from hotfix.actions import Grant, act_url
from tests.fixtures.browser import CardRenderer, adaptivecards_js, card_renderer, chromium  # noqa: F401
from tests.journeys.conftest import MANAGEMENT, ONCALL, STAKEHOLDERS
from tests.journeys.harness import Stack, card_text, mail_text
from tests.unit.test_render import load_card_schema

pytestmark = pytest.mark.e2e

T = "PEOPLE-1"
PUBLIC = "https://herald.example.test"
TEAM = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}
ADDRESS = {"Alice": "alice@corp.example", "Bob": "bob@corp.example", "Chloé": "chloe@corp.example",
           "Dan": "dan@corp.example"}
TEAMS_ID = {"Alice": "alice@corp.example", "Bob": "8f14e45f-ceea-467f-a0e6-1d5b0b4e6a11",
            "Chloé": "chloe@corp.example", "Dan": "dan@corp.example"}


def local(url: str, stack: Stack) -> str:
    """A link as the reverse proxy would forward it to this Herald."""
    assert url.startswith(f"{PUBLIC}/act/"), url
    return stack.base + url.removeprefix(PUBLIC)


def stream_length(stack: Stack) -> int:
    return sum(int(stack.redis.xlen(stream)) for stream in keys.EVENT_STREAMS)


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The relative action of the page's form and its hidden inputs."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None, page[:2000]
    return action.group(1), dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))


def test_people_are_mentioned_prompted_and_act_from_a_link(herald, card_renderer: CardRenderer, chromium: Any) -> None:
    """A P0's four role holders: mentioned, assigned, asked to review; the reviewer reviews from the email's link."""
    stack = herald(http={"public_url": PUBLIC, "signing_key": "journey-signing-key-0123456789"},
                   people={name: {"email": ADDRESS[name], "teams": TEAMS_ID[name]} for name in TEAM.values()})

    # 1. declared with four role holders: the card mentions them all; each is told their role by email
    stack.push("declared", T, title="Checkout returns 500", severity="P0", impact="No order can be paid", **TEAM)
    stack.settle()
    v = stack.views(T)
    (announcement,) = stack.cards()
    entities = announcement["msteams"]["entities"]
    assert entities == [{"type": "mention", "text": f"<at>{n}</at>", "mentioned": {"id": TEAMS_ID[n], "name": n}}
                        for n in TEAM.values()]
    team_block = next(b["text"] for b in announcement["body"] if b.get("type") == "TextBlock"
                      and b.get("text", "").startswith("Équipe"))
    assert all(f"<at>{n}</at>" in team_block for n in TEAM.values())
    schema, _ = load_card_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(announcement)
    drawn = card_renderer.render(announcement)
    assert drawn.problems == [] and all(f"<at>{n}</at>" in drawn.text for n in TEAM.values())
    assert v.told("assignment") == {(f"person:{n}", "email", ADDRESS[n]) for n in TEAM.values()}
    assert any(b.startswith("📝 ") for b in drawn.buttons)  # the on-call channel can act from the card
    assert all("/act/" not in mail_text(m) for m in stack.emails(STAKEHOLDERS[0]) + stack.emails(MANAGEMENT[0]))

    # 2. the fix is ready: entering review asks Chloé by email and mentions her in the channel
    stack.push("updated", T, phase="review", message="PR #4242 ready for review", pr="#4242")
    stack.settle()
    v = stack.views(T)
    assert v.told("review_request") == {("person:Chloé", "email", ADDRESS["Chloé"]), ("oncall", "teams", "engineering")}
    request_card = next(c for c in stack.cards() if "REVIEW DEMANDÉE" in card_text(c))
    assert request_card["msteams"]["entities"] == [entities[2]]
    assert card_renderer.render(request_card).problems == []
    (request_mail,) = [m for m in stack.emails(ADDRESS["Chloé"]) if "Review demandée" in str(m["Subject"])]
    links = re.findall(rf"{re.escape(PUBLIC)}/act/[A-Za-z0-9_.-]+", mail_text(request_mail))
    assert links, mail_text(request_mail)

    # 3. Chloé opens the email's link, ticks "Review faite" and posts, in a real browser
    page = chromium.new_page()
    page.goto(local(links[0], stack))
    assert page.locator("#acting-as").inner_text() == "Chloé"
    page.fill("#message", "Review OK: the timeout fix is right, merge away")
    page.check('input[name="checks"][value="review"]')
    with page.expect_navigation():
        page.click('button[name="action"][value="update"]')
    assert "?sent=1" in page.url and page.locator("#sent").is_visible(), page.content()[-3000:]
    stack.settle()
    v = stack.views(T)
    assert v.data["checks"]["review"] is True
    assert v.data["checked_by"]["review"]["by"] == "Chloé" and v.data["acks"]["reviewer"]["by"] == "Chloé"
    told = {(d["audience"], d["channel"], d["recipient"]) for d in v.deliveries("update")}
    assert told == {("oncall", "teams", "engineering"), *{("oncall", "email", a) for a in ONCALL},
                    ("stakeholders", "email", STAKEHOLDERS[0])}
    assert len(v.deliveries("update")) == 2 * len(told)  # the phase change, then Chloé's review: each to everyone
    review_card = next(c for c in reversed(stack.cards()) if "Review OK: the timeout fix" in card_text(c))
    assert "Par" in card_text(review_card) and "Chloé" in card_text(review_card)
    assert any("Review OK: the timeout fix" in mail_text(m) for m in stack.emails(STAKEHOLDERS[0]))
    at = v.line("fr", "| Reviewer | Chloé | ✅ review faite")
    assert at.endswith("par Chloé |") and v.line("en", "| Reviewer | Chloé | ✅ review done").endswith("by Chloé |")
    assert v.line("fr", "- [x] Review faite (").endswith(", par Chloé)")
    assert "— par Chloé |" in v.md["fr"]
    assert '<span class="muted by">— par Chloé</span>' in v.hotfix_page and "en cours depuis" in v.hotfix_page

    # 4. links that must not work: one character changed, expired; nothing is pushed
    token = links[0].rsplit("/", 1)[1]
    changed = token[:12] + ("A" if token[12] != "A" else "B") + token[13:]
    expired = act_url(stack.settings, Grant(ticket=T, by="Chloé", person=True),
                      datetime.now(UTC) - stack.settings.http.link_ttl - timedelta(minutes=1))
    before = stream_length(stack)
    for url in (f"{PUBLIC}/act/{changed}", expired):
        for answer in (httpx.get(local(url, stack)),
                       httpx.post(local(url, stack), data={"token": url.rsplit("/", 1)[1], "message": "x",
                                                           "action": "update"})):
            assert answer.status_code == 403 and "Lien refusé" in answer.text
    assert re.search(r'data-reason="(forged|malformed)"', httpx.get(local(f"{PUBLIC}/act/{changed}", stack)).text)
    assert 'data-reason="expired"' in httpx.get(local(expired, stack)).text
    assert stream_length(stack) == before

    # 5. the same form posted twice pushes one event (a double click)
    with httpx.Client(base_url=stack.base) as client:
        path = local(links[0], stack).removeprefix(stack.base)
        action, hidden = form_of(client.get(path).text)
        target = httpx.URL(stack.base + path).join(action)
        form = {**hidden, "message": "Merged to main", "checks": ["merged"], "action": "update"}
        answers = [client.post(target, data=form) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303] and stream_length(stack) == before + 1
    stack.settle()

    # 6. Dan resolves from his own link; afterwards every link of the hotfix is refused
    stack.push("updated", T, phase="staging", check=["staging", "smoke_test"])
    stack.settle()
    (deploy_mail, *_) = [m for m in stack.emails(ADDRESS["Dan"]) if "Deploy staging" in str(m["Subject"])]
    (dan_link, *_) = re.findall(rf"{re.escape(PUBLIC)}/act/[A-Za-z0-9_.-]+", mail_text(deploy_mail))
    with httpx.Client() as client:
        action, hidden = form_of(client.get(local(dan_link, stack)).text)
        target = httpx.URL(local(dan_link, stack)).join(action)
        done = client.post(target, data={**hidden, "action": "resolve", "root_cause": "Payment client timeout set to 0",
                                         "pr": "#4242", "checks": ["production", "confirmed"]})
    assert done.status_code == 303
    stack.settle()
    v = stack.views(T)
    assert v.status == "resolved" and v.data["root_cause"] == "Payment client timeout set to 0"
    before = stream_length(stack)
    for url in (links[0], dan_link):
        refused = httpx.get(local(url, stack))
        assert refused.status_code == 403 and 'data-reason="closed"' in refused.text and T in refused.text
    assert httpx.post(local(links[0], stack), data={"token": token, "message": "late", "action": "update"}).status_code == 403
    assert stream_length(stack) == before
