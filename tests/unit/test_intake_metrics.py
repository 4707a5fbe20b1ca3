"""The metrics module: every Herald metric registered once and exposable from any process."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hotfix import metrics


def test_exposition_lists_every_herald_metric() -> None:
    """The exposition holds the intake, daemon and worker metrics under the hotfix_ namespace."""
    metrics.delivery_attempts.labels("teams", "sent").inc()
    metrics.delivery_latency.labels("email").observe(1.5)
    metrics.queue_depth.labels("hotfix-p0").set(3)
    metrics.open_hotfixes.labels("P0").set(1)
    metrics.events_applied.labels("declared").inc()
    body, content_type = metrics.exposition()
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert content_type.startswith("text/plain")
    assert {"hotfix_intake_received", "hotfix_intake_rejected", "hotfix_events_applied",
            "hotfix_events_dead_lettered", "hotfix_deliveries", "hotfix_delivery_latency_seconds",
            "hotfix_queue_depth", "hotfix_open_hotfixes"} <= names


def test_start_metrics_server_serves_the_registry() -> None:
    """start_metrics_server(0) serves /metrics on a free port from a background thread."""
    server, thread = metrics.start_metrics_server(0)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).text
        assert "hotfix_queue_depth" in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
