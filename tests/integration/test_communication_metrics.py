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


def test_time_to_announce_is_observed_once_per_declaration(redis: Redis, make_daemon, make_settings) -> None:
    """Announcements sent to several audiences, then a worker rerun: one observation in the P0 histogram."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from hotfix import keys
    from hotfix.enums import Severity
    from workers import runtime

    settings = make_settings()
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)
    xadd(redis, event("declared"))
    drain(daemon)

    def work() -> None:
        SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)

    work()
    announced = set(settings.policy(Severity.P0).announce)
    assert len(announced) > 1  # several announcement jobs were sent, each could count
    found = scrape(redis, settings)
    assert found[("hotfix_time_to_announce_seconds_count", (("severity", "P0"),))] == 1
    assert 0 <= found[("hotfix_time_to_announce_seconds_sum", (("severity", "P0"),))] < 86400
    xadd(redis, event("declared"))  # a producer's retry of the declaration: nothing new to count
    drain(daemon)
    work()
    assert scrape(redis, settings)[("hotfix_time_to_announce_seconds_count", (("severity", "P0"),))] == 1
