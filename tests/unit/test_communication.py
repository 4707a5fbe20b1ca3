"""Communication figures: counted in one Redis hash, exported as Prometheus counters and a histogram."""
from __future__ import annotations

import fakeredis
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hotfix import communication


def samples(redis: fakeredis.FakeRedis) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(communication.CommunicationCollector(redis))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counters_add_up_per_label(fake_redis: fakeredis.FakeRedis) -> None:
    """Two late P0 updates and one on time are three samples of hotfix_updates_total by timeliness."""
    communication.count(fake_redis, "updates", "P0", "late")
    communication.count(fake_redis, "updates", "P0", "late")
    communication.count(fake_redis, "updates", "P0", "on_time")
    communication.count(fake_redis, "unsubscribes", "customers")
    found = samples(fake_redis)
    assert found[("hotfix_updates_total", (("severity", "P0"), ("timeliness", "late")))] == 2
    assert found[("hotfix_updates_total", (("severity", "P0"), ("timeliness", "on_time")))] == 1
    assert found[("hotfix_unsubscribes_total", (("audience", "customers"),))] == 1


def test_time_to_announce_is_a_cumulative_histogram(fake_redis: fakeredis.FakeRedis) -> None:
    """Announcements after 3 s and 40 s: the 5 s bucket holds one, the 60 s bucket both, the sum is 43."""
    communication.observe_time_to_announce(fake_redis, "P0", 3)
    communication.observe_time_to_announce(fake_redis, "P0", 40)
    found = samples(fake_redis)
    name = "hotfix_time_to_announce_seconds"
    assert found[(name + "_bucket", (("le", "5.0"), ("severity", "P0")))] == 1
    assert found[(name + "_bucket", (("le", "30.0"), ("severity", "P0")))] == 1
    assert found[(name + "_bucket", (("le", "60.0"), ("severity", "P0")))] == 2
    assert found[(name + "_bucket", (("le", "+Inf"), ("severity", "P0")))] == 2
    assert found[(name + "_count", (("severity", "P0"),))] == 2
    assert found[(name + "_sum", (("severity", "P0"),))] == 43


def test_an_unknown_counter_is_refused(fake_redis: fakeredis.FakeRedis) -> None:
    """A typo in a counter name or its labels fails loudly instead of exporting a figure nobody reads."""
    with pytest.raises(ValueError):
        communication.count(fake_redis, "update", "P0", "late")
    with pytest.raises(ValueError):
        communication.count(fake_redis, "updates", "P0")


def test_a_field_of_another_version_is_skipped(fake_redis: fakeredis.FakeRedis) -> None:
    """A field this version cannot read does not break the scrape."""
    fake_redis.hset("hotfix:communication", "not json", "x")
    communication.count(fake_redis, "approvals", "approved")
    assert samples(fake_redis)[("hotfix_approvals_total", (("decision", "approved"),))] == 1
