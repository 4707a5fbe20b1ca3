"""Shared helpers of the intake tests: webhook bodies shaped like each tool's documented payload, a client
factory, and a stream reader. (No tests here; a candidate for tests/fixtures/intake.py.)"""
from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis import Redis

from daemon.intake import create_app
from hotfix import keys
from hotfix.settings import Settings

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

TOKEN = "s3cret-intake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GROUP_KEY = '{}:{alertname="CheckoutErrors"}'


def stream_events(redis: Redis) -> list[dict[str, Any]]:
    """Every event on ``hotfix:events``, oldest first, as JSON objects."""
    return [json.loads(fields[keys.EVENT_FIELD.encode()]) for _, fields in redis.xrange(keys.EVENTS_STREAM)]


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(redis_url: str, **overrides: Any) -> Settings:
    """Settings for the tests' Redis, with a token, plus ``overrides`` (top-level sections)."""
    values: dict[str, Any] = {"redis": {"url": redis_url}, "http": {"token": TOKEN}}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(redis: Redis, redis_url: str) -> Iterator[Callable[..., TestClient]]:
    """A factory of TestClients on ``create_app`` with the real Redis; keyword arguments override settings."""
    opened: list[TestClient] = []

    def create(**overrides: Any) -> TestClient:
        client = TestClient(create_app(settings(redis_url, **overrides), redis))
        opened.append(client)
        return client

    yield create
    for client in opened:
        client.close()


def am_alert(fingerprint: str = "a1b2c3d4e5f60718", status: str = "firing", instance: str = "web-1",
             severity: str = "critical", **labels: str) -> dict[str, Any]:
    """One alert of an Alertmanager v4 webhook body."""
    return {
        "status": status,
        "labels": {"alertname": "CheckoutErrors", "severity": severity, "instance": instance,
                   "service": "checkout", **labels},
        "annotations": {"summary": "Checkout returns 500", "description": "No order can be paid"},
        "startsAt": "2026-11-25T09:12:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T09:40:00.000Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28http_errors%5B5m%5D%29+%3E+1&g0.tab=1",
        "fingerprint": fingerprint,
    }


def am_payload(*alerts: dict[str, Any], group_key: str = GROUP_KEY, **common: str) -> dict[str, Any]:
    """An Alertmanager webhook body, version 4 (status derived from the alerts)."""
    alerts = alerts or (am_alert(),)
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4", "groupKey": group_key, "truncatedAlerts": 0, "status": status, "receiver": "herald",
        "groupLabels": {"alertname": "CheckoutErrors"},
        "commonLabels": {"alertname": "CheckoutErrors", "service": "checkout", **common},
        "commonAnnotations": {"summary": "Checkout returns 500", "description": "No order can be paid"},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def grafana_payload(status: str = "firing", severity: str = "critical") -> dict[str, Any]:
    """A Grafana unified alerting webhook body."""
    alert = {
        "status": status,
        "labels": {"alertname": "High latency", "grafana_folder": "Checkout", "severity": severity},
        "annotations": {"summary": "Checkout p99 latency above 2 s", "description": "Orders time out"},
        "startsAt": "2026-11-25T09:12:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T09:40:00Z",
        "generatorURL": "https://grafana.example.com/alerting/grafana/cdef1234/view?orgId=1",
        "fingerprint": "57c6d9296de2ad39",
        "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana",
        "dashboardURL": "https://grafana.example.com/d/checkout?orgId=1",
        "panelURL": "https://grafana.example.com/d/checkout?orgId=1&viewPanel=4",
        "values": {"B": 2.4, "C": 1},
        "valueString": "[ var='B' labels={} value=2.4 ], [ var='C' labels={} value=1 ]",
    }
    return {
        "receiver": "herald", "status": status, "orgId": 1, "alerts": [alert],
        "groupLabels": {"alertname": "High latency", "grafana_folder": "Checkout"},
        "commonLabels": alert["labels"], "commonAnnotations": alert["annotations"],
        "externalURL": "https://grafana.example.com/", "version": "1",
        "groupKey": '{}/{severity="critical"}:{alertname="High latency", grafana_folder="Checkout"}',
        "truncatedAlerts": 0, "title": f"[{status.upper()}:1] High latency Checkout", "state": "alerting",
        "message": "**Firing**\n\nValue: B=2.4, C=1\nLabels:\n - alertname = High latency\n",
    }


def jira_issue(key: str = "OPS-42", labels: tuple[str, ...] = ("hotfix",), priority: str = "Highest",
               status: str = "To Do", resolution: str | None = None, **fields: Any) -> dict[str, Any]:
    """A Jira issue as webhooks carry it."""
    return {
        "id": "10042", "self": "https://acme.atlassian.net/rest/api/2/issue/10042", "key": key,
        "fields": {
            "summary": "Checkout returns 500", "description": "No order can be paid since the 9:10 deploy",
            "labels": list(labels), "issuetype": {"name": "Bug"},
            "priority": {"self": "https://acme.atlassian.net/rest/api/2/priority/1", "name": priority, "id": "1"},
            "status": {"name": status, "id": "10000"},
            "resolution": {"name": resolution} if resolution else None,
            "assignee": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Bob"},
            **fields,
        },
    }


def jira_created(**issue: Any) -> dict[str, Any]:
    """A ``jira:issue_created`` body."""
    return {"timestamp": 1795633920000, "webhookEvent": "jira:issue_created", "issue_event_type_name": "issue_created",
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alice"}, "issue": jira_issue(**issue)}


def jira_updated(items: list[dict[str, Any]], changelog_id: str = "10101", timestamp: int = 1795634000000,
                 **issue: Any) -> dict[str, Any]:
    """A ``jira:issue_updated`` body with a changelog."""
    return {"timestamp": timestamp, "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
            "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alice"}, "issue": jira_issue(**issue),
            "changelog": {"id": changelog_id, "items": items}}


def jira_comment(body: str, comment_id: str = "10200", key: str = "OPS-42") -> dict[str, Any]:
    """A ``comment_created`` body (its issue carries only a few fields)."""
    return {
        "timestamp": 1795634100000, "webhookEvent": "comment_created",
        "comment": {"self": f"https://acme.atlassian.net/rest/api/2/issue/10042/comment/{comment_id}",
                    "id": comment_id, "author": {"displayName": "Bob"}, "body": body,
                    "created": "2026-11-25T09:35:00.000+0000", "updated": "2026-11-25T09:35:00.000+0000"},
        "issue": {"id": "10042", "self": "https://acme.atlassian.net/rest/api/2/issue/10042", "key": key,
                  "fields": {"summary": "Checkout returns 500", "issuetype": {"name": "Bug"},
                             "status": {"name": "In Progress"}, "priority": {"name": "Highest"}}},
    }


def change(field: str, from_string: str | None, to_string: str | None, to: str | None = None) -> dict[str, Any]:
    """One changelog item."""
    return {"field": field, "fieldtype": "jira", "fieldId": field, "from": None, "fromString": from_string,
            "to": to, "toString": to_string}
