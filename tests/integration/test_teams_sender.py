"""The Teams sender against a real local HTTP server (and httpx transports for the edge cases)."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from hotfix.enums import TeamsFormat
from hotfix.service_settings import TEAMS_RATE
from tests.fixtures.teams_server import FakeTeams, Reply, teams_server  # noqa: F401
from workers.cards import TEAMS_LIMIT_BYTES
from workers.content import TeamsContent
from workers.errors import DeliveryError, PermanentError, TransientError
from workers.senders.teams import TeamsSender, build_payload

CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "🚨 HOTFIX EN COURS — INC-1042", "weight": "Bolder"}],
}
CONTENT = TeamsContent(
    title="🚨 HOTFIX EN COURS — INC-1042",
    text="**Problème** : le paiement renvoie 500",
    card=CARD,
    facts=[("Sévérité", "P0"), ("ETA", "10:00")],
    color="D13438",
)
SECRET_PATH = "/webhookb2/abc/IncomingWebhook/s3cr3t-token?sig=SIGNATURE-SECRET"


@pytest.fixture
def sender() -> Iterator[TeamsSender]:
    """A sender with a short timeout, closed at teardown."""
    with TeamsSender(timeout=0.5) as created:
        yield created


def test_workflow_envelope_shape(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A workflow webhook receives the card inside the message envelope with the Adaptive Card content type."""
    teams_server.script("/wf", [Reply.accepted()])
    sender.send(teams_server.url("/wf"), TeamsFormat.WORKFLOW, CONTENT)
    (request,) = teams_server.requests("/wf")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": CARD}],
    }


def test_workflow_200_is_success(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A workflow answering 200 (not only 202) counts as delivered."""
    teams_server.script("/wf", [Reply.ok()])
    sender.send(teams_server.url("/wf"), TeamsFormat.WORKFLOW, CONTENT)
    assert len(teams_server.requests("/wf")) == 1


def test_connector_messagecard_shape(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A legacy connector receives a MessageCard with title, text, colour and a section of facts."""
    teams_server.script("/legacy", [Reply.connector_ok()])
    sender.send(teams_server.url("/legacy"), TeamsFormat.CONNECTOR, CONTENT)
    (request,) = teams_server.requests("/legacy")
    card = request.json
    assert card["@type"] == "MessageCard" and card["@context"] == "https://schema.org/extensions"
    assert card["title"] == CONTENT.title and card["summary"] == CONTENT.title
    assert card["text"] == CONTENT.text and card["themeColor"] == "D13438"
    assert card["sections"] == [{"facts": [{"name": "Sévérité", "value": "P0"}, {"name": "ETA", "value": "10:00"}]}]


def test_connector_200_with_429_body_is_transient(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A legacy connector's 200 whose body reports HTTP error 429 is a transient throttling, not a success."""
    teams_server.script("/legacy", [Reply.connector_throttled()])
    with pytest.raises(TransientError, match="throttled"):
        sender.send(teams_server.url("/legacy"), TeamsFormat.CONNECTOR, CONTENT)


def test_real_429_retry_after_parsed(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A 429 is transient and carries the server's Retry-After in seconds."""
    teams_server.script("/wf", [Reply.throttled("7")])
    with pytest.raises(TransientError) as caught:
        sender.send(teams_server.url("/wf"), TeamsFormat.WORKFLOW, CONTENT)
    assert caught.value.retry_after == 7.0


def test_500_then_success(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """5xx is transient each time and the sender never retries by itself; a later attempt succeeds."""
    teams_server.script("/wf", [Reply.error(500)] * 3 + [Reply.ok()])
    for attempt in range(3):
        with pytest.raises(TransientError, match="HTTP 500"):
            sender.send(teams_server.url("/wf"), TeamsFormat.WORKFLOW, CONTENT)
        assert len(teams_server.requests("/wf")) == attempt + 1
    sender.send(teams_server.url("/wf"), TeamsFormat.WORKFLOW, CONTENT)
    assert len(teams_server.requests("/wf")) == 4


def test_404_is_permanent_with_meaning(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A 404 is permanent and says the channel or workflow was removed."""
    teams_server.script("/gone", [Reply.error(404, "Not Found")])
    with pytest.raises(PermanentError, match="webhook not found: the channel or workflow was removed"):
        sender.send(teams_server.url("/gone"), TeamsFormat.WORKFLOW, CONTENT)


def test_hang_bounded_by_timeout(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """An endpoint that never answers costs no more than the timeout and is transient."""
    teams_server.script("/slow", [Reply.hanging(30)])
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        sender.send(teams_server.url("/slow"), TeamsFormat.WORKFLOW, CONTENT)
    assert time.monotonic() - started < 2.0


def test_per_call_timeout_overrides(teams_server: FakeTeams) -> None:
    """A channel's own timeout passed to ``send`` bounds the call instead of the sender's default."""
    teams_server.script("/slow", [Reply.hanging(30)])
    with TeamsSender(timeout=30) as sender:
        started = time.monotonic()
        with pytest.raises(TransientError, match="timed out"):
            sender.send(teams_server.url("/slow"), TeamsFormat.WORKFLOW, CONTENT, timeout=0.3)
    assert time.monotonic() - started < 2.0


def test_connection_refused_is_transient(sender: TeamsSender) -> None:
    """Nobody listening is transient (the webhook may come back)."""
    with pytest.raises(TransientError, match="cannot connect"):
        sender.send("http://127.0.0.1:9/hook", TeamsFormat.WORKFLOW, CONTENT)


def test_oversized_card_refused_before_sending(teams_server: FakeTeams, sender: TeamsSender) -> None:
    """A card over 28 KB is permanent and never posted."""
    big = TeamsContent("t", "x", {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock",
                                                                                    "text": "x" * 30_000}]})
    with pytest.raises(PermanentError, match="too large"):
        sender.send(teams_server.url("/wf"), TeamsFormat.WORKFLOW, big)
    assert teams_server.requests("/wf") == []


def test_injected_transport() -> None:
    """The HTTP client is injectable: a transport handler sees the exact request."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        TeamsSender(client).send("https://teams.test/hook", TeamsFormat.WORKFLOW, CONTENT)
    assert len(seen) == 1 and seen[0].url.path == "/hook"
    assert json.loads(seen[0].content) == build_payload(TeamsFormat.WORKFLOW, CONTENT)


def test_limits_declared() -> None:
    """The channel's limits are class attributes next to its code."""
    assert TeamsSender.max_body_bytes == TEAMS_LIMIT_BYTES == 28_000 and TeamsSender.max_rate == TEAMS_RATE == 4.0


@pytest.mark.parametrize(
    "reply",
    [Reply.error(404, "Not Found"), Reply.error(500), Reply.throttled("3"), Reply.connector_throttled(),
     Reply(200, "error posting to https://127.0.0.1/webhookb2/abc/IncomingWebhook/s3cr3t-token")],
)
def test_webhook_url_never_in_errors_or_logs(
    teams_server: FakeTeams, sender: TeamsSender, reply: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    """The webhook URL (its secret path and signature) appears in no error text and no log record."""
    caplog.set_level(logging.DEBUG)
    path = SECRET_PATH.split("?")[0]
    teams_server.script(path, [reply])
    url = teams_server.url(SECRET_PATH)
    with pytest.raises(DeliveryError) as caught:
        sender.send(url, TeamsFormat.CONNECTOR, CONTENT)
    texts = [caught.value.reason, str(caught.value), repr(caught.value)]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert "s3cr3t-token" not in text and "SIGNATURE-SECRET" not in text and url not in text


def test_webhook_url_not_logged_on_success_or_timeout(
    teams_server: FakeTeams, sender: TeamsSender, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither httpx's request log nor a timeout shows the webhook URL."""
    caplog.set_level(logging.DEBUG)
    path = SECRET_PATH.split("?")[0]
    teams_server.script(path, [Reply.accepted(), Reply.hanging(30)])
    url = teams_server.url(SECRET_PATH)
    sender.send(url, TeamsFormat.WORKFLOW, CONTENT)
    with pytest.raises(TransientError) as caught:
        sender.send(url, TeamsFormat.WORKFLOW, CONTENT)
    assert caplog.records, "expected log records to inspect"
    for text in [caught.value.reason, *(record.getMessage() for record in caplog.records)]:
        assert "s3cr3t-token" not in text and "SIGNATURE-SECRET" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
