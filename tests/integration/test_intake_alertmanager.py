"""Alertmanager and Grafana webhooks against the real Redis: one hotfix per alert group, re-sends push nothing."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
from redis import Redis

from daemon.intake import create_app
from hotfix import keys
from tests.integration.test_intake_support import (
    AUTH,
    TestClient,
    am_alert,
    am_payload,
    grafana_payload,
    make_client,  # noqa: F401  (fixture)
    settings,
    stream_events,
)

HOOK = "/hooks/alertmanager"


def test_first_firing_declares_with_mapped_fields(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A first firing group is one `declared` with severity, title, impact and link from the payload."""
    response = make_client().post(HOOK, json=am_payload(), headers=AUTH)
    assert response.status_code == 202
    [event] = stream_events(redis)
    assert event["type"] == "declared" and event["source"] == "alertmanager"
    assert event["severity"] == "P0"
    assert event["title"] == "Checkout returns 500"
    assert event["impact"] == "No order can be paid"
    assert event["link"].startswith("http://prometheus:9090/graph")
    started = datetime.fromisoformat(event["started_at"])  # "depuis quand ?": the alert's startsAt
    assert timedelta(minutes=27) < datetime.now(timezone.utc) - started < timedelta(minutes=30)
    assert event["ticket"].startswith("AM-") and response.json()["ticket"] == event["ticket"]
    assert response.json()["ids"] == [event["id"]]


def test_ticket_label_names_the_hotfix(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A `ticket` label on the group becomes the hotfix's ticket."""
    make_client().post(HOOK, json=am_payload(am_alert(ticket="INC-1042"), ticket="INC-1042"), headers=AUTH)
    assert [e["ticket"] for e in stream_events(redis)] == ["INC-1042"]


def test_resend_announces_nothing(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """The same group re-sent (repeat_interval) answers 202 but adds nothing to the stream."""
    client = make_client()
    first = client.post(HOOK, json=am_payload(), headers=AUTH).json()
    again = client.post(HOOK, json=am_payload(), headers=AUTH)
    assert again.status_code == 202 and again.json()["ids"] == []
    assert again.json()["ticket"] == first["ticket"]
    assert len(stream_events(redis)) == 1


def test_change_in_firing_alerts_is_an_update(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A new alert joining the group is one `updated` naming it, on the same ticket."""
    client = make_client()
    client.post(HOOK, json=am_payload(), headers=AUTH)
    client.post(HOOK, json=am_payload(am_alert(), am_alert("ffff000011112222", instance="web-2")), headers=AUTH)
    client.post(HOOK, json=am_payload(am_alert(), am_alert("ffff000011112222", instance="web-2")), headers=AUTH)
    declared, updated = stream_events(redis)
    assert updated["type"] == "updated" and updated["ticket"] == declared["ticket"]
    assert "web-2" in updated["message"] and updated["id"] != declared["id"]


def test_resolved_is_a_recovery_update_by_default(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A resolved group is an `updated` "le monitoring signale le retour à la normale" (the configured locale) when
    resolve_on_recovery is false."""
    client = make_client()
    client.post(HOOK, json=am_payload(), headers=AUTH)
    resolved = am_payload(am_alert(status="resolved"))
    client.post(HOOK, json=resolved, headers=AUTH)
    client.post(HOOK, json=resolved, headers=AUTH)
    assert [(e["type"], e.get("message")) for e in stream_events(redis)][1:] == [
        ("updated", "le monitoring signale le retour à la normale")]


def test_resolved_is_a_resolution_with_resolve_on_recovery(
        make_client: Callable[..., TestClient], redis: Redis) -> None:
    """With resolve_on_recovery = true a resolved group is a `resolved` event, and firing again declares anew."""
    client = make_client(intake={"alertmanager": {"resolve_on_recovery": True}})
    client.post(HOOK, json=am_payload(), headers=AUTH)
    client.post(HOOK, json=am_payload(am_alert(status="resolved")), headers=AUTH)
    client.post(HOOK, json=am_payload(), headers=AUTH)
    first, resolution, second = stream_events(redis)
    assert (first["type"], resolution["type"], second["type"]) == ("declared", "resolved", "declared")
    assert resolution["ticket"] == first["ticket"] and second["ticket"] != first["ticket"]


def test_firing_again_after_recovery_is_an_update(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A group firing again after a recovery update is one more `updated`, not a second announcement."""
    client = make_client()
    for alert in (am_alert(), am_alert(status="resolved"), am_alert()):
        client.post(HOOK, json=am_payload(alert), headers=AUTH)
    assert [e["type"] for e in stream_events(redis)] == ["declared", "updated", "updated"]
    assert len({e["id"] for e in stream_events(redis)}) == 3


def test_unmapped_severity_is_ignored_or_defaulted(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """An unmapped severity is accepted with a note and not pushed, unless default_severity is set."""
    info = am_payload(am_alert(severity="info"))
    ignored = make_client().post(HOOK, json=info, headers=AUTH)
    assert ignored.status_code == 202 and ignored.json()["ids"] == []
    assert "severity" in ignored.json()["notes"][0]
    assert stream_events(redis) == []
    make_client(intake={"alertmanager": {"default_severity": "P2"}}).post(HOOK, json=info, headers=AUTH)
    assert [(e["type"], e["severity"]) for e in stream_events(redis)] == [("declared", "P2")]


def test_escalated_severity_reclassifies(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A warning group that turns critical is an `updated` carrying the new severity P0."""
    client = make_client()
    client.post(HOOK, json=am_payload(am_alert(severity="warning")), headers=AUTH)
    client.post(HOOK, json=am_payload(am_alert(severity="warning"), am_alert("bbbb", severity="critical")),
                headers=AUTH)
    declared, updated = stream_events(redis)
    assert (declared["severity"], updated["type"], updated["severity"]) == ("P2", "updated", "P0")


def test_storm_of_identical_posts_declares_once(redis: Redis, redis_url: str) -> None:
    """1,000 concurrent copies of one firing group push exactly one `declared`, /healthz answering meanwhile."""
    app = create_app(settings(redis_url), redis)
    body = am_payload()

    async def storm() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            posts = [asyncio.ensure_future(client.post(HOOK, json=body, headers=AUTH)) for _ in range(1000)]
            health = await client.get("/healthz")
            assert health.status_code == 200
            return [r.status_code for r in await asyncio.gather(*posts)]

    statuses = asyncio.run(storm())
    assert statuses == [202] * 1000
    assert [(e["type"], e["source"]) for e in stream_events(redis)] == [("declared", "alertmanager")], stream_events(redis)


def test_grafana_group_declares_once_and_recovers(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A Grafana firing group is one `declared` (ticket GF-…), a re-send nothing, its resolution one update."""
    client = make_client()
    for body in (grafana_payload(), grafana_payload(), grafana_payload("resolved")):
        assert client.post("/hooks/grafana", json=body, headers=AUTH).status_code == 202
    declared, recovery = stream_events(redis)
    assert declared["type"] == "declared" and declared["source"] == "grafana"
    assert declared["ticket"].startswith("GF-") and declared["severity"] == "P0"
    assert declared["title"] == "Checkout p99 latency above 2 s"
    assert declared["link"].startswith("https://grafana.example.com/alerting/")
    assert (recovery["type"], recovery["message"]) == ("updated", "le monitoring signale le retour à la normale")


def test_grafana_resolve_on_recovery_resolves(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """[intake.grafana] resolve_on_recovery = true turns Grafana's resolved notification into `resolved`."""
    client = make_client(intake={"grafana": {"resolve_on_recovery": True}})
    client.post("/hooks/grafana", json=grafana_payload(), headers=AUTH)
    client.post("/hooks/grafana", json=grafana_payload("resolved"), headers=AUTH)
    assert [e["type"] for e in stream_events(redis)] == ["declared", "resolved"]


def test_failed_push_is_not_remembered(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """When XADD fails the answer is 503 and nothing is remembered, so the next re-send declares."""
    client = make_client()
    for stream in keys.EVENT_STREAMS:  # the public stream and the P0 lane: every XADD now fails with WRONGTYPE
        redis.set(stream, "not a stream")
    assert client.post(HOOK, json=am_payload(), headers=AUTH).status_code == 503
    redis.delete(*keys.EVENT_STREAMS)
    assert client.post(HOOK, json=am_payload(), headers=AUTH).status_code == 202
    assert [e["type"] for e in stream_events(redis)] == ["declared"]
