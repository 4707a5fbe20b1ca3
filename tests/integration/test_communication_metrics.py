"""Communication metrics through the real daemon and Redis, read on `hotfix serve`'s /metrics."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from daemon.intake import create_app
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.integration.test_intake_support import TestClient


def scrape(redis: Redis, settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with TestClient(create_app(settings, redis)) as client:
        text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_updates_are_counted_on_time_or_late_once(redis: Redis, make_daemon, make_settings) -> None:
    """Updates 10 and 40 minutes in (update_every 15m): one on time, one late, and a redelivery counts nothing."""
    settings = make_settings(severity={"P0": {"update_every": "15m"}})
    daemon = make_daemon(settings)
    events = [event("declared"), event("updated", minutes=10, message="fix"), event("updated", minutes=40, message="x")]
    xadd(redis, *events)
    drain(daemon)
    xadd(redis, events[2])  # a producer's retry: a duplicate, not a third update
    drain(daemon)
    found = scrape(redis, settings)
    assert found[("hotfix_updates_total", (("severity", "P0"), ("timeliness", "on_time")))] == 1
    assert found[("hotfix_updates_total", (("severity", "P0"), ("timeliness", "late")))] == 1
