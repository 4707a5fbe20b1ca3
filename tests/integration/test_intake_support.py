"""Shared helpers of the intake tests: a client factory and a stream reader; the webhook bodies live in
tests/fixtures/intake.py (re-exported here). No tests here."""
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
from tests.fixtures.herald import pushed
from tests.fixtures.intake import (  # noqa: F401  # re-exported for the intake tests
    GROUP_KEY,
    am_alert,
    am_payload,
    change,
    grafana_payload,
    jira_comment,
    jira_created,
    jira_issue,
    jira_updated,
)

with warnings.catch_warnings():  # starlette 1.x warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

TOKEN = "s3cret-intake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def stream_events(redis: Redis) -> list[dict[str, Any]]:
    """Every event pushed (``hotfix:events`` and the P0 lane), oldest first, as JSON objects."""
    return pushed(redis)


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


