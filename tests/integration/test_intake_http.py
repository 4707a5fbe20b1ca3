"""The intake's HTTP contract: auth, size limit, validation, Redis outage, health, metrics, schema."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from daemon.intake import create_app
from hotfix.limits import MAX_BODY_DEFAULT
from tests.integration.test_intake_support import (
    AUTH,
    TOKEN,
    TestClient,
    am_payload,
    closed_port,
    make_client,  # noqa: F401  (fixture)
    settings,
    stream_events,
)

DECLARED = {"type": "declared", "ticket": "INC-1042", "title": "Checkout returns 500", "severity": "P0",
            "impact": "No order can be paid"}
POST_PATHS = ["/events", "/hooks/alertmanager", "/hooks/grafana", "/hooks/jira"]


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
def test_post_without_the_right_token_is_401_and_pushes_nothing(
        make_client: Callable[..., TestClient], redis: Redis, path: str, headers: dict[str, str]) -> None:
    """A POST without the bearer token, or with a wrong one, is refused with 401 and nothing enters the stream."""
    response = make_client().post(path, json=DECLARED if path == "/events" else am_payload(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text
    assert stream_events(redis) == []


def test_no_configured_token_refuses_every_post(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """With no [http] token configured, every POST is refused with 401 saying the token is not set."""
    client = make_client(http={})
    for path in POST_PATHS:
        response = client.post(path, json=DECLARED, headers={"Authorization": "Bearer anything"})
        assert response.status_code == 401
        assert "[http] token is not set" in response.json()["detail"]
    assert stream_events(redis) == []


def test_a_per_source_token_overrides_the_general_one(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """[http] tokens.alertmanager is the only token the Alertmanager hook accepts; other paths keep [http] token."""
    client = make_client(http={"token": TOKEN, "tokens": {"alertmanager": "am-only"}})
    assert client.post("/hooks/alertmanager", json=am_payload(), headers=AUTH).status_code == 401
    ok = client.post("/hooks/alertmanager", json=am_payload(), headers={"Authorization": "Bearer am-only"})
    assert ok.status_code == 202
    assert client.post("/events", json=DECLARED, headers={"Authorization": "Bearer am-only"}).status_code == 401
    assert client.post("/events", json=DECLARED, headers=AUTH).status_code == 202
    assert [e.get("source") for e in stream_events(redis)] == ["alertmanager", None]


def test_accepted_event_is_202_with_its_id_and_on_the_stream(
        make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A valid event answers 202 with its id, and exactly that event is on the stream."""
    response = make_client().post("/events", json=DECLARED | {"id": "am-7f3a"}, headers=AUTH)
    assert response.status_code == 202
    assert response.json()["ids"] == ["am-7f3a"]
    [entered] = stream_events(redis)
    assert entered["id"] == "am-7f3a" and entered["type"] == "declared" and entered["ticket"] == "INC-1042"
    assert entered["severity"] == "P0" and "at" in entered


def test_a_list_of_events_is_pushed_in_order(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A JSON list of events is accepted as a whole and enters the stream in order."""
    update = {"type": "updated", "ticket": "INC-1042", "message": "Rollback started", "phase": "fix"}
    response = make_client().post("/events", json=[DECLARED, update], headers=AUTH)
    assert response.status_code == 202 and len(response.json()["ids"]) == 2
    assert [e["type"] for e in stream_events(redis)] == ["declared", "updated"]


def test_invalid_events_are_422_naming_each_field(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """Invalid events answer 422 with one entry per bad field; only the list's valid events enter the stream."""
    bad = {"type": "declared", "ticket": "no spaces allowed", "severity": "P7"}
    response = make_client().post("/events", json=[bad, DECLARED, bad], headers=AUTH)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"[0].ticket", "[0].severity", "[0].title", "[2].ticket"} <= fields
    assert [e["ticket"] for e in stream_events(redis)] == [DECLARED["ticket"]]
    assert len(response.json()["ids"]) == 1


def test_unknown_type_and_bad_json_are_422(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """An unknown event type and a body that is not JSON are both 422 with the field named."""
    client = make_client()
    unknown = client.post("/events", json={"type": "exploded", "ticket": "X-1"}, headers=AUTH)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "type"
    garbage = client.post("/events", content=b"{not json", headers=AUTH | {"Content-Type": "application/json"})
    assert garbage.status_code == 422 and garbage.json()["errors"][0]["field"] == "body"
    assert stream_events(redis) == []


def test_invalid_webhook_payload_is_422_naming_fields(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """An Alertmanager body missing groupKey, with a bad alert status, is 422 naming both fields."""
    body = am_payload()
    del body["groupKey"]
    body["alerts"][0]["status"] = "burning"
    response = make_client().post("/hooks/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"groupKey", "alerts.0.status"} <= fields
    assert stream_events(redis) == []


def test_a_text_as_long_as_the_default_body_limit_allows_is_accepted_whole(
        make_client: Callable[..., TestClient], redis: Redis) -> None:
    """An impact filling [http] max_body's default (1 MiB) is 202 and on the stream whole: size costs no announcement."""
    impact = "stack frame line\n" * ((MAX_BODY_DEFAULT - 2048) // 18)  # 18 bytes a line in JSON
    body = json.dumps(DECLARED | {"impact": impact}).encode()
    assert MAX_BODY_DEFAULT - 4096 < len(body) <= MAX_BODY_DEFAULT
    response = make_client().post("/events", content=body, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 202, response.text[:500]
    [entered] = stream_events(redis)
    assert entered["impact"] == impact.strip()  # whole (only the outer blanks trimmed)


def test_oversized_body_by_content_length_is_413(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A body whose Content-Length exceeds [http] max_body is refused with 413 and nothing enters the stream."""
    client = make_client(http={"token": TOKEN, "max_body": 2048})
    big = DECLARED | {"impact": "x" * 3000}
    response = client.post("/events", json=big, headers=AUTH)
    assert response.status_code == 413
    assert "max_body" in response.json()["detail"]
    assert stream_events(redis) == []


def test_oversized_streamed_body_without_length_is_413(redis: Redis, redis_url: str) -> None:
    """A chunked body (no Content-Length) is counted as it streams and refused with 413 past max_body."""
    app = create_app(settings(redis_url, http={"token": TOKEN, "max_body": 2048}), redis)

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1024

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            return await client.post("/events", content=chunks(), headers=AUTH)

    response = asyncio.run(send())
    assert response.status_code == 413
    assert stream_events(redis) == []


def test_redis_down_is_503_never_200(redis_url: str) -> None:
    """With Redis unreachable a valid POST answers 503 (never a silent 2xx), and /healthz is 503 too."""
    down = settings(f"redis://127.0.0.1:{closed_port()}/0")
    with TestClient(create_app(down)) as client:
        for path, body in (("/events", DECLARED), ("/hooks/alertmanager", am_payload())):
            response = client.post(path, json=body, headers=AUTH)
            assert response.status_code == 503, response.text
            assert "Redis" in response.json()["detail"]
        assert client.get("/healthz").status_code == 503


def test_healthz_is_200_when_redis_answers(make_client: Callable[..., TestClient]) -> None:
    """/healthz answers 200 while Redis answers."""
    assert make_client().get("/healthz").json() == {"status": "ok"}


def test_metrics_count_received_and_rejected(make_client: Callable[..., TestClient]) -> None:
    """/metrics exposes the intake counters, incremented per source for received and rejected POSTs."""
    client = make_client()

    def sample(name: str, **labels: str) -> float:
        families = text_string_to_metric_families(client.get("/metrics").text)
        return sum(s.value for f in families for s in f.samples if s.name == name and s.labels == labels)

    received = sample("hotfix_intake_received_total", source="jira")
    rejected = sample("hotfix_intake_rejected_total", source="jira", reason="unauthorized")
    client.post("/hooks/jira", json={}, headers={"Authorization": "Bearer wrong"})
    assert sample("hotfix_intake_received_total", source="jira") == received + 1
    assert sample("hotfix_intake_rejected_total", source="jira", reason="unauthorized") == rejected + 1
    text = client.get("/metrics").text
    for name in ("hotfix_events_applied_total", "hotfix_deliveries_total", "hotfix_queue_depth",
                 "hotfix_open_hotfixes", "hotfix_delivery_latency_seconds", "hotfix_events_dead_lettered_total"):
        assert f"# HELP {name.removesuffix('_total')}" in text or f"# HELP {name}" in text


def test_openapi_schema_lists_every_path_and_the_event_body(make_client: Callable[..., TestClient]) -> None:
    """The OpenAPI schema lists every intake path, and POST /events refers to the event models."""
    schema = make_client().get("/openapi.json").json()
    assert {"/events", "/hooks/alertmanager", "/hooks/grafana", "/hooks/jira", "/healthz", "/metrics"} <= set(
        schema["paths"])
    body = json.dumps(schema["paths"]["/events"]["post"]["requestBody"])
    assert "#/components/schemas/Declared" in body
    assert "Declared" in schema["components"]["schemas"]


def test_a_date_out_of_the_window_is_a_422_naming_the_field(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """Repro 1 and 2: in a list, the event dated 9999 is a 422 naming ``[1].at`` while its valid neighbour is pushed;
    an update's far ``eta`` names ``eta``."""
    client = make_client()
    ok = {"type": "declared", "ticket": "OK-1", "title": "t", "severity": "P0"}
    bad = {"type": "declared", "ticket": "BAD-1", "title": "t", "severity": "P0", "at": "9999-12-31T23:30:00Z"}
    answer = client.post("/events", json=[ok, bad], headers=AUTH)
    assert answer.status_code == 422
    assert [(e["field"], e["message"].split(" (")[0]) for e in answer.json()["errors"]] == [("[1].at", "too far in the future")]
    pushed = stream_events(redis)
    assert [e["ticket"] for e in pushed] == ["OK-1"] and len(answer.json()["ids"]) == 1
    for field in ("eta", "postmortem_at"):
        body = {"type": "updated" if field == "eta" else "resolved", "ticket": "OK-1", field: "9999-12-31T23:30:00Z"}
        answer = client.post("/events", json=body, headers=AUTH)
        assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == [field]
        assert "ids" not in answer.json()  # one event alone: nothing else to push
    assert [e["ticket"] for e in stream_events(redis)] == ["OK-1"]


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize(("body", "message"), [
    ("[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
    ('{"version": "4", "n": ' + "7" * 5000 + "}", "a number of 5000 characters"),
    (b'{"type": "declared", "title": "\xc3\x28"}', "not UTF-8 text"),
])
def test_deep_nesting_huge_numbers_and_bad_utf8_are_422_at_every_door(
        make_client: Callable[..., TestClient], redis: Redis, path: str, body: str | bytes, message: str) -> None:
    """Repro 4: 5,000 nested arrays or a 5,000-digit number under max_body are a 422 naming the body, never a 500."""
    answer = make_client().post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text[:300]
    [error] = answer.json()["errors"]
    assert error["field"] == "body" and error["message"].startswith(message)
    assert stream_events(redis) == []
