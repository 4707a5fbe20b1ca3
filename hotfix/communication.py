"""Communication figures shared by every process: counted in Redis, exported by one collector.

Each process that witnesses a communication fact adds it to the Redis hash ``keys.COMMUNICATION``:
the daemon (updates on time or late, messages held for approval, approval decisions), the workers
(time from the declaration to the first announcement sent), ``hotfix serve`` (unsubscribes and
confirmed subscriptions). ``CommunicationCollector`` reads the hash at every scrape, so ``hotfix serve``'s
``/metrics`` and the daemon's ``--metrics-port`` show the same figures, whichever process counted them,
across restarts.

Exported (Prometheus names):

- ``hotfix_time_to_announce_seconds{severity}`` — histogram: declaration to the first announcement sent;
- ``hotfix_updates_total{severity,timeliness}`` — updates applied, ``on_time`` or ``late`` against ``update_every``;
- ``hotfix_messages_held_total{audience}`` — messages held for approval;
- ``hotfix_approvals_total{decision}`` — what became of them (approved, edited, declined, timeout, superseded);
- ``hotfix_unsubscribes_total{audience}`` and ``hotfix_subscriptions_total{audience}`` — self-service changes.

Invariant: a fact is counted in the same transaction as the change it describes when there is one (the
daemon's ``store.commit``), so a retried decision never counts twice.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from hotfix import keys
from hotfix.connection import as_text

log = logging.getLogger(__name__)

#: Buckets of the time to the first announcement: the playbook wants P0 news out within minutes.
ANNOUNCE_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
#: The counters: name → (help, label names).
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "updates": ("Updates applied, on time or late against update_every.", ("severity", "timeliness")),
    "messages_held": ("Messages held for approval, per audience.", ("audience",)),
    "approvals": ("Decisions on held messages: approved, edited, declined, timeout, superseded.", ("decision",)),
    "unsubscribes": ("Addresses that left a self-service audience.", ("audience",)),
    "subscriptions": ("Addresses that joined a self-service audience (confirmed).", ("audience",)),
}
_TTA = "time_to_announce"


def _field(name: str, *labels: str) -> str:
    return json.dumps([name, *labels], ensure_ascii=False)


def count(redis: Redis | Pipeline, name: str, *labels: str, amount: int = 1) -> None:
    """Add ``amount`` to the counter ``name`` with these label values (on a pipeline: inside its transaction)."""
    if name not in COUNTERS or len(labels) != len(COUNTERS[name][1]):
        raise ValueError(f"unknown counter {name!r} or wrong labels {labels!r}")
    redis.hincrby(keys.COMMUNICATION, _field(name, *labels), amount)


def observe_time_to_announce(redis: Redis | Pipeline, severity: str, seconds: float) -> None:
    """One hotfix's time from its declaration to its first announcement sent."""
    value = max(0.0, float(seconds))
    bucket = next((b for b in ANNOUNCE_BUCKETS if value <= b), float("inf"))
    redis.hincrby(keys.COMMUNICATION, _field(_TTA, severity, "bucket", repr(bucket)), 1)
    redis.hincrbyfloat(keys.COMMUNICATION, _field(_TTA, severity, "sum"), value)


#: How long a declaration's "first announcement counted" mark is kept (far longer than any hotfix).
ANNOUNCED_TTL = 90 * 86400


def first_announcement(redis: Redis, ticket: str, declaration: str, severity: str, seconds: float) -> bool:
    """Count a declaration's time to its first announcement sent, once (a worker calls it after each sent
    announcement); True when this call counted it."""
    if not redis.set(keys.announced(ticket, declaration), "1", nx=True, ex=ANNOUNCED_TTL):
        return False
    pipe = redis.pipeline(transaction=False)  # the bucket and the sum in one round trip
    observe_time_to_announce(pipe, severity, seconds)
    pipe.execute()
    return True


def read(redis: Redis) -> dict[tuple[str, ...], float]:
    """Every stored figure by its field (name, label values…)."""
    out: dict[tuple[str, ...], float] = {}
    for field, value in redis.hgetall(keys.COMMUNICATION).items():
        try:
            parts = json.loads(as_text(field))
            out[tuple(str(p) for p in parts)] = float(as_text(value))
        except (ValueError, TypeError):
            continue  # a field this version does not know: skipped, never a failed scrape
    return out


def families(figures: dict[tuple[str, ...], float]) -> Iterator[Metric]:
    """The Prometheus metric families of stored figures."""
    prefix = "hotfix_"
    for name, (doc, labels) in COUNTERS.items():
        family = CounterMetricFamily(prefix + name, doc, labels=list(labels))
        for field, value in sorted(figures.items()):
            if field[0] == name and len(field) == len(labels) + 1:
                family.add_metric(list(field[1:]), value)
        yield family
    histogram = HistogramMetricFamily(prefix + _TTA + "_seconds", "Time from a declaration to its first announcement "
                                      "sent, per severity.", labels=["severity"])
    for severity in sorted({f[1] for f in figures if f[0] == _TTA and len(f) >= 3}):
        per_bucket = {float(f[3]): v for f, v in figures.items() if f[0] == _TTA and f[1] == severity and f[2] == "bucket"}
        running, buckets = 0.0, []
        for bound in [*ANNOUNCE_BUCKETS, float("inf")]:
            running += per_bucket.get(bound, 0.0)
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        histogram.add_metric([severity], buckets, figures.get((_TTA, severity, "sum"), 0.0))
    yield histogram


class CommunicationCollector(Collector):
    """Reads the shared figures from Redis at each scrape; a Redis outage exports nothing rather than failing."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def collect(self) -> Iterable[Metric]:
        try:
            figures = read(self.redis)
        except RedisError as exc:
            log.warning("communication metrics unavailable: Redis %s", type(exc).__name__)
            return []
        return list(families(figures))

    def describe(self) -> Iterable[Metric]:
        return list(families({}))


def install(redis: Redis) -> CommunicationCollector:
    """Export the shared figures from this process's metrics (once per process; the last client wins)."""
    from hotfix import metrics

    collector = CommunicationCollector(redis)
    metrics.add_collector("communication", collector)
    return collector


def labels_of(value: Any) -> str:
    """A label value as text (an Enum's value)."""
    return str(getattr(value, "value", value))
