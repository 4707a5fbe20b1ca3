"""Every Prometheus metric Herald exports, in one place.

The intake serves them on ``GET /metrics``; the daemon and the workers, which
have no HTTP server of their own, call ``start_metrics_server(port)``. When
several processes of one kind run on a host under one scraper (e.g. the
uvicorn ``--workers`` mode), set ``PROMETHEUS_MULTIPROC_DIR`` before Python
starts: ``registry()`` then aggregates every process's samples (gauges say how,
with ``multiprocess_mode``).

Names, labels, and who updates them:

- ``hotfix_intake_received_total{source}`` — POSTs that reached the intake (intake).
- ``hotfix_intake_rejected_total{source,reason}`` — refused POSTs; reason is one of
  ``REJECT_REASONS`` (intake).
- ``hotfix_intake_events_pushed_total{source,type}`` — events XADDed by the intake (intake).
- ``hotfix_intake_duplicates_total{source}`` — webhook re-sends that announced nothing new (intake).
- ``hotfix_intake_ignored_total{source}`` — accepted payloads that are not hotfixes (intake).
- ``hotfix_events_applied_total{type}`` — events applied to a hotfix (daemon).
- ``hotfix_events_dead_lettered_total`` — invalid events sent to the dead-letter stream (daemon).
- ``hotfix_deliveries_total{channel,outcome}`` — delivery attempts by outcome (workers).
- ``hotfix_delivery_latency_seconds{channel}`` — event time to delivery (workers).
- ``hotfix_queue_depth{queue}`` — jobs waiting per RQ queue (daemon).
- ``hotfix_open_hotfixes{severity}`` — hotfixes not yet closed (daemon).

The communication figures (time to announce, updates on time and late, held messages, approvals,
unsubscribes) are shared by every process through Redis: ``hotfix.communication`` adds their collector
with ``add_collector``.
"""
from __future__ import annotations

import logging
import os
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

NAMESPACE = "hotfix"
#: Why the intake refused a POST (the ``reason`` label).
REJECT_REASONS = ("unauthorized", "too_large", "invalid", "unavailable")
#: Buckets of ``delivery_latency_seconds``: P0 messages are due within seconds, P2 digests within minutes.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)

# --- intake ---------------------------------------------------------------
intake_received = Counter(
    "intake_received", "POSTs that reached the HTTP intake, per source.", ["source"], namespace=NAMESPACE
)
intake_rejected = Counter(
    "intake_rejected", "POSTs the HTTP intake refused, per source and reason.", ["source", "reason"],
    namespace=NAMESPACE,
)
intake_events_pushed = Counter(
    "intake_events_pushed", "Events the HTTP intake put on the stream, per source and type.", ["source", "type"],
    namespace=NAMESPACE,
)
intake_duplicates = Counter(
    "intake_duplicates", "Webhook re-sends that changed nothing and were not pushed again.", ["source"],
    namespace=NAMESPACE,
)
intake_ignored = Counter(
    "intake_ignored", "Accepted webhook payloads that are not hotfixes (unmapped severity, unlabelled issue).",
    ["source"], namespace=NAMESPACE,
)

# --- daemon ---------------------------------------------------------------
events_applied = Counter("events_applied", "Events applied to a hotfix, per type.", ["type"], namespace=NAMESPACE)
events_dead_lettered = Counter(
    "events_dead_lettered", "Invalid events moved to the dead-letter stream.", namespace=NAMESPACE
)
queue_depth = Gauge(
    "queue_depth", "Jobs waiting in each RQ queue.", ["queue"], namespace=NAMESPACE,
    multiprocess_mode="livemostrecent",
)
open_hotfixes = Gauge(
    "open_hotfixes", "Hotfixes not yet closed, per severity.", ["severity"], namespace=NAMESPACE,
    multiprocess_mode="livemostrecent",
)

# --- workers --------------------------------------------------------------
delivery_attempts = Counter(
    "deliveries", "Delivery attempts per channel and outcome (sent, retrying, failed).", ["channel", "outcome"],
    namespace=NAMESPACE,
)
delivery_latency = Histogram(
    "delivery_latency_seconds", "Time from the event to the message being sent, per channel.", ["channel"],
    buckets=LATENCY_BUCKETS, namespace=NAMESPACE,
)


#: Collectors added by name (``add_collector``), exported beside the metrics above.
_COLLECTORS: dict[str, Collector] = {}


def add_collector(name: str, collector: Collector) -> None:
    """Export ``collector`` from this process; one of the same name added before is replaced."""
    previous = _COLLECTORS.pop(name, None)
    if previous is not None:
        REGISTRY.unregister(previous)
    REGISTRY.register(collector)
    _COLLECTORS[name] = collector


def registry() -> CollectorRegistry:
    """The registry to expose: this process's, or every process's when multiprocess mode is on."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        for collector in _COLLECTORS.values():
            collected.register(collector)
        return collected
    return REGISTRY


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric and its content type, for a ``/metrics`` handler."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` from a daemon thread of this process (daemon, workers); ``port=0`` picks a free one."""
    server, thread = start_http_server(port, addr=addr, registry=registry())
    log.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server, thread
