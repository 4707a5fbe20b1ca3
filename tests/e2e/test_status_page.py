"""End to end: the status page of a real ``hotfix serve`` process, looked at in headless Chromium.

Needs Debian's ``chromium`` and the PyPI ``playwright`` package (see ``tests/fixtures/browser.py``).
"""
from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from daemon.consumer import Daemon
from hotfix.settings import Settings
from tests.fixtures.browser import chromium  # noqa: F401
from tests.fixtures.herald import BASE_CONFIG, drain, make_daemon, make_settings, merge, xadd  # noqa: F401
from tests.fixtures.processes import HotfixProcess, hotfix_process, run_hotfix, to_toml, wait_until  # noqa: F401

pytestmark = pytest.mark.e2e

VIEWER = "e2e-viewer-token"
#: The computed background of each severity's badge: P0 red, P1 orange, P2 yellow.
BADGE_RGB = {"P0": "rgb(209, 52, 56)", "P1": "rgb(247, 99, 12)", "P2": "rgb(255, 185, 0)"}


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ev(type_: str, ticket: str, ago_min: float, **fields: Any) -> dict[str, Any]:
    """An event of ``ticket`` that happened ``ago_min`` minutes ago."""
    at = datetime.now(UTC) - timedelta(minutes=ago_min)
    return {"type": type_, "ticket": ticket, "at": at.isoformat(), "id": f"{ticket}-{type_}-{ago_min}", **fields}


def declared(ticket: str, severity: str, ago_min: float, title: str, **fields: Any) -> dict[str, Any]:
    return ev("declared", ticket, ago_min, severity=severity, title=title, **fields)


@pytest.fixture
def served(tmp_path: Path, redis: Redis, redis_url: str, make_settings: Callable[..., Settings],
           make_daemon: Callable[..., Daemon], hotfix_process: Callable[..., HotfixProcess]) -> dict[str, Any]:
    """A config file, a daemon applying events on the test Redis, and ``hotfix serve`` answering on a free port."""
    port = free_port()
    extra: dict[str, Any] = {
        "redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")},
        "http": {"listen": f"127.0.0.1:{port}", "token": "e2e-intake-token", "viewer_token": VIEWER},
        "teams": {"engineering": {"format": "workflow"}},  # no url: cards go to the outbox
        "severity": {"P0": {"update_every": "15m"}, "P1": {"update_every": "30m"}, "P2": {"update_every": "4h"}},
    }
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, extra)))
    settings = make_settings(**{k: v for k, v in extra.items() if k not in ("redis", "outbox")})
    daemon = make_daemon(settings)
    xadd(redis,
         declared("INC-7001", "P0", 12, "Checkout returns 500", impact="No order can be paid",
                  team={"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}),
         ev("updated", "INC-7001", 3, phase="fix", message="Branch hotfix/INC-7001-timeout created",
            next_step="Review"),
         declared("INC-6990", "P0", 75, "Payments declined for EU cards", team={"coordinator": "Eve"}),
         ev("updated", "INC-6990", 40, phase="staging", message="Deploying to staging"),
         declared("INC-7002", "P1", 50, "Login impossible with SSO", team={"coordinator": "Farid"}),
         declared("INC-7003", "P2", 180, "CSV export is empty", team={"coordinator": "Gaby", "developer": "Hugo"}),
         ev("updated", "INC-7003", 30, phase="review", message="PR #4242 open"))
    drain(daemon)
    worker = run_hotfix("worker", "--burst", "--config", str(path))  # so that the page has receipts to show
    assert worker.returncode == 0, worker.stderr
    server = hotfix_process("serve", "--config", str(path))
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.alive(), server.output()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=30, message="hotfix serve to answer /healthz")
    return {"base": base, "daemon": daemon, "server": server, "path": path}


def test_status_page_in_a_real_browser(tmp_path: Path, redis: Redis, served: dict[str, Any], chromium: Any) -> None:
    """The page lists open hotfixes in severity colours, counts down live, refreshes itself, links to receipts."""
    base = served["base"]
    assert httpx.get(f"{base}/").status_code == 401
    assert httpx.get(f"{base}/api/hotfixes", headers={"Authorization": "Bearer wrong"}).status_code == 401

    page = chromium.new_page(viewport={"width": 1360, "height": 720})
    refused = page.goto(f"{base}/")
    assert refused is not None and refused.status == 401
    assert "[http] viewer_token" in page.inner_text("#detail")

    opened = page.goto(f"{base}/?token={VIEWER}&refresh=2")
    assert opened is not None and opened.status == 200
    assert page.url == f"{base}/?refresh=2"  # the token traded for a session cookie: not in the address bar
    rows = page.locator("tr.hotfix")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.ticket)") == ["INC-6990", "INC-7001", "INC-7002", "INC-7003"]
    for ticket, severity in (("INC-7001", "P0"), ("INC-7002", "P1"), ("INC-7003", "P2")):
        badge = page.locator(f'tr[data-ticket="{ticket}"] .sev')
        assert badge.inner_text() == severity
        assert badge.evaluate("b => getComputedStyle(b).backgroundColor") == BADGE_RGB[severity]
    assert "Checkout returns 500" in page.locator('tr[data-ticket="INC-7001"]').inner_text()
    assert page.locator('tr[data-ticket="INC-7001"] .step.current').get_attribute("data-phase") == "fix"
    assert page.locator('tr[data-ticket="INC-7001"] .step.current').inner_text() == "Fix"
    assert page.locator('tr[data-ticket="INC-6990"] .sla').get_attribute("class") == "sla overdue"
    assert page.locator('tr[data-ticket="INC-6990"] .sla-text').inner_text().startswith("dépassée de ")  # [locale] fr
    assert "stale" in (page.locator('tr[data-ticket="INC-7002"] .age').get_attribute("class") or "")
    assert "stale" not in (page.locator('tr[data-ticket="INC-7001"] .age').get_attribute("class") or "")

    countdown = page.locator('tr[data-ticket="INC-7001"] .sla-text')
    first = countdown.inner_text()
    assert re.fullmatch(r"reste 4\dm \d\ds", first), first  # the page's script words it in [locale] too
    page.wait_for_function("([sel, was]) => document.querySelector(sel).textContent !== was",
                           arg=['tr[data-ticket="INC-7001"] .sla-text', first], timeout=5000)
    assert countdown.inner_text() != first and countdown.inner_text().startswith("reste ")

    xadd(redis, declared("INC-7010", "P1", 0, "Search returns nothing", team={"coordinator": "Ines"}))
    drain(served["daemon"])
    page.locator('tr[data-ticket="INC-7010"]').wait_for(timeout=10000)  # refreshed in place, no reload
    page.screenshot(path=str(tmp_path / "status-page.png"), full_page=True)

    page.click('tr[data-ticket="INC-7001"] a.ticket')
    page.wait_for_url(f"{base}/hotfix/INC-7001")  # no link carries the token
    assert VIEWER not in page.content()
    assert "Branch hotfix/INC-7001-timeout created" in page.inner_text("#timeline")
    receipts = page.inner_text("#receipts")
    assert "announcement" in receipts and "cto@example.com" in receipts and "sent" in receipts
    assert "CET" in receipts or "CEST" in receipts  # [timezone] is Europe/Paris
    page.screenshot(path=str(tmp_path / "status-hotfix.png"), full_page=True)
    assert (tmp_path / "status-page.png").stat().st_size > 10_000
    assert served["server"].alive()
