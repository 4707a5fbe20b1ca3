"""The status pages of ``hotfix serve`` on the real Redis: viewer token, escaping, tickets, JSON, receipts."""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon.consumer import Daemon
from daemon.document import document_md
from daemon.intake import create_app
from daemon.views import show_data
from hotfix import keys
from hotfix.enums import DeliveryStatus, Severity
from hotfix.jobs import JobPayload
from hotfix.settings import Settings
from hotfix.state import HotfixState, TimelineEntry
from tests.fixtures.herald import drain, make_daemon, make_settings, xadd  # noqa: F401
from tests.integration.test_intake_support import closed_port
from workers import receipts, runtime

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

VIEWER = "v13w-only-t0ken"
INTAKE = "intake-post-token"
BEARER = {"Authorization": f"Bearer {VIEWER}"}
PAGES = ["/", "/hotfix/INC-1", "/api/hotfixes", "/api/hotfixes/INC-1"]
P0_POLICY = {"update_every": "15m"}


@pytest.fixture
def herald(redis: Redis, make_settings: Callable[..., Settings],
           make_daemon: Callable[..., Daemon]) -> Iterator[Callable[..., tuple[Settings, TestClient]]]:
    """``create(**settings overrides)`` → (settings, a TestClient on the app); events via ``declare``/``push``."""
    opened: list[TestClient] = []

    def create(**overrides: Any) -> tuple[Settings, TestClient]:
        http = overrides.pop("http", {"token": INTAKE, "viewer_token": VIEWER})
        settings = make_settings(http=http, severity={"P0": P0_POLICY}, **overrides)
        client = TestClient(create_app(settings, redis))
        opened.append(client)
        return settings, client

    yield create
    for client in opened:
        client.close()


def push(redis: Redis, settings: Settings, daemon_factory: Callable[..., Daemon], *events: dict[str, Any]) -> None:
    """Apply events with a real daemon, as in production."""
    daemon = daemon_factory(settings)
    xadd(redis, *events)
    drain(daemon)


def ev(type_: str, ticket: str = "INC-1", ago_min: float = 0, **fields: Any) -> dict[str, Any]:
    """An event of ``ticket`` that happened ``ago_min`` minutes before now."""
    at = datetime.now(UTC) - timedelta(minutes=ago_min)
    data: dict[str, Any] = {"type": type_, "ticket": ticket, "at": at.isoformat(),
                            "id": f"{ticket}-{type_}-{ago_min}-{fields.get('phase', '')}", **fields}
    if type_ == "declared":
        data.setdefault("title", "Checkout returns 500")
        data.setdefault("severity", "P0")
    return data


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("headers,query", [
    ({}, ""), ({"Authorization": "Bearer wrong"}, ""), ({}, "?token=wrong"), ({"Authorization": f"Basic {VIEWER}"}, ""),
    ({}, f"?token={VIEWER}x"), ({}, f"?token={INTAKE}x"),
])
def test_pages_without_the_viewer_token_are_401(redis: Redis, herald, make_daemon, path: str,
                                                headers: dict[str, str], query: str) -> None:
    """Every status route answers 401 (WWW-Authenticate: Bearer) to a missing or wrong token, naming the keys to use."""
    settings, client = herald()
    push(redis, settings, make_daemon, ev("declared", title="Secret outage"))
    response = client.get(path + query, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "wrong token" in response.text and "[http] viewer_token" in response.text
    assert VIEWER not in response.text and INTAKE not in response.text and "Secret outage" not in response.text


@pytest.mark.parametrize("path", PAGES)
def test_viewer_token_as_bearer_or_query_opens_every_page(redis: Redis, herald, make_daemon, path: str) -> None:
    """The viewer token opens every route, as ``Authorization: Bearer`` or as ``?token=``."""
    settings, client = herald()
    push(redis, settings, make_daemon, ev("declared"))
    assert client.get(path, headers=BEARER).status_code == 200
    assert client.get(f"{path}?token={VIEWER}").status_code == 200
    assert client.get(path, headers={"Authorization": f"bearer {VIEWER}"}).status_code == 200


@pytest.mark.parametrize("http,token", [
    ({"token": INTAKE, "viewer_token": VIEWER}, INTAKE),
    ({"token": INTAKE}, INTAKE),
    ({"tokens": {"jira": "jira-only-token"}}, "jira-only-token"),
])
def test_an_intake_token_opens_every_page(redis: Redis, herald, make_daemon, http: dict[str, Any], token: str) -> None:
    """A token that may write may read: [http] token or any [http] tokens entry opens every status route."""
    settings, client = herald(http=http)
    push(redis, settings, make_daemon, ev("declared"))
    for path in PAGES:
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(f"{path}?token={token}").status_code == 200


def test_no_token_configured_closes_the_pages_and_says_which_key_to_set(herald) -> None:
    """With no viewer nor intake token every status route is 401, and the page names the keys to set."""
    _settings, client = herald(http={})
    for path in PAGES:
        for kwargs in ({}, {"headers": {"Authorization": "Bearer anything"}}, {"params": {"token": ""}}):
            response = client.get(path, **kwargs)
            assert response.status_code == 401
            assert "set [http] viewer_token" in response.text and "HOTFIX_HTTP__VIEWER_TOKEN" in response.text


def test_a_query_token_becomes_a_session_and_no_link_carries_it(redis: Redis, herald, make_daemon) -> None:
    """``?token=`` answers 303 to the clean URL with an HttpOnly SameSite cookie (not the token); pages then open with it."""
    settings, client = herald()
    push(redis, settings, make_daemon, ev("declared"))
    answer = client.get(f"/hotfix/INC-1?refresh=5&token={VIEWER}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/hotfix/INC-1?refresh=5"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("herald_session=") and VIEWER not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    for path in PAGES:
        page = client.get(path)  # the cookie alone
        assert page.status_code == 200 and VIEWER not in page.text
    assert 'href="/hotfix/INC-1"' in client.get("/").text
    fresh = herald()[1]
    session = answer.cookies["herald_session"]
    fresh.cookies.set("herald_session", session[:-1] + ("1" if session.endswith("0") else "0"))  # always altered
    assert fresh.get("/").status_code == 401  # a forged or altered session opens nothing


def test_a_session_ends_when_its_tokens_change(redis: Redis, herald) -> None:
    """Rotating the viewer token ends every session opened with the old one."""
    _settings, client = herald()
    client.get(f"/?token={VIEWER}")
    _other, rotated = herald(http={"token": INTAKE, "viewer_token": "a-new-viewer-token"})
    rotated.cookies.set("herald_session", client.cookies["herald_session"])
    assert client.get("/").status_code == 200 and rotated.get("/").status_code == 401


@pytest.mark.parametrize("refresh", ["²", "-1", "1e3", "9" * 50, "٣"])
def test_an_odd_refresh_falls_back_to_the_default(redis: Redis, herald, refresh: str) -> None:
    """``?refresh=²`` (a digit to ``str.isdigit``), negatives, huge or Arabic-Indic numbers: 200 with the default refresh."""
    _settings, client = herald()
    answer = client.get("/", params={"refresh": refresh}, headers=BEARER)
    assert answer.status_code == 200 and 'data-refresh="15"' in answer.text


def test_event_text_is_html_escaped(redis: Redis, herald, make_daemon) -> None:
    """A ``<script>`` in a title, impact, message or team name is shown as text on both pages, never run."""
    settings, client = herald()
    evil = '<script>alert("x")</script>'
    push(redis, settings, make_daemon,
         ev("declared", title=evil, impact=f"<img src=x onerror=alert(1)> {evil}", team={"coordinator": evil}),
         ev("updated", ago_min=-0.01, message=evil, next_step="<b>bold</b>", link="javascript:alert(1)"))
    for path in ("/", "/hotfix/INC-1"):
        html = client.get(path, headers=BEARER).text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert evil not in html and "<img" not in html and "<b>bold" not in html
        assert len(re.findall(r"<script\b", html)) == 1  # only the page's own, with its nonce
        assert 'href="javascript:' not in html
    csp = client.get("/", headers=BEARER).headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp


@pytest.mark.parametrize("ticket", ["a:b", "x" * 65, "INC 1", "INC-1é", "..%2F..%2Fopen", "*"])
def test_a_ticket_outside_the_pattern_is_404_and_reads_no_key(redis: Redis, herald, ticket: str) -> None:
    """A ticket failing the ticket pattern is a 404, even when a key it could be glued into exists."""
    _settings, client = herald()
    planted = '{"ticket": "a:b", "declared": true, "title": "planted", "severity": "P0"}'
    redis.set("hotfix:state:a:b", planted)
    for path in (f"/hotfix/{ticket}", f"/api/hotfixes/{ticket}"):
        response = client.get(path, headers=BEARER)
        assert response.status_code == 404, path
        assert "planted" not in response.text


def test_unknown_ticket_is_404_and_auth_comes_first(herald) -> None:
    """A well-formed but unknown ticket is a 404; without the token even a bad ticket is a 401 (no probing)."""
    _settings, client = herald()
    assert client.get("/hotfix/INC-404", headers=BEARER).status_code == 404
    assert client.get("/api/hotfixes/INC-404", headers=BEARER).json() == {"detail": "no such hotfix"}
    assert client.get("/hotfix/a:b").status_code == 401


def test_json_endpoint_lists_open_hotfixes_most_urgent_first(redis: Redis, herald, make_daemon) -> None:
    """``/api/hotfixes`` lists open hotfixes only, P0 before P1 before P2, with what the page draws."""
    settings, client = herald()
    push(redis, settings, make_daemon,
         ev("declared", ticket="P2-A", severity="P2"), ev("declared", ticket="P1-A", severity="P1"),
         ev("declared", ticket="P0-A", ago_min=5, team={"coordinator": "Alice", "developer": "Bob"}),
         ev("declared", ticket="DONE", severity="P0"), ev("resolved", ticket="DONE", ago_min=-0.01))
    body = client.get("/api/hotfixes", headers=BEARER).json()
    assert set(body) == {"now", "timezone", "hotfixes"} and body["timezone"] == "Europe/Paris"
    rows = body["hotfixes"]
    assert [r["ticket"] for r in rows] == ["P0-A", "P1-A", "P2-A"]
    first = rows[0]
    for key in ("ticket", "severity", "status", "phase", "title", "deadline", "time_left_s", "last_update_at",
                "colour", "sla_total_s", "overdue", "update_every_s", "update_overdue", "steps", "team", "url"):
        assert key in first, key
    assert first["colour"] == "#d13438" and [r["colour"] for r in rows[1:]] == ["#f7630c", "#ffb900"]
    assert first["team"] == {"coordinator": "Alice", "developer": "Bob"}
    assert first["sla_total_s"] == 3600 and 3200 < first["time_left_s"] <= 3300
    assert first["update_every_s"] == 900 and first["update_overdue"] is False
    assert [s["state"] for s in first["steps"]] == ["current"] + ["todo"] * 5
    assert first["url"] == "/hotfix/P0-A"
    detail = client.get("/api/hotfixes/DONE", headers=BEARER).json()
    assert detail["status"] == "resolved" and isinstance(detail["timeline"], list) and detail["deliveries"] == []
    assert [s["state"] for s in detail["steps"]] == ["done"] * 6


def test_overdue_deadline_stale_update_and_stepper_are_drawn(redis: Redis, herald, make_daemon) -> None:
    """Past the deadline the SLA says "overdue" in red; an update older than update_every is red; phases done/current."""
    settings, client = herald()
    push(redis, settings, make_daemon, ev("declared", ago_min=70),
         ev("updated", ago_min=20, phase="review", message="In review"),
         ev("declared", ticket="FRESH", severity="P0"))
    html = client.get("/", headers=BEARER).text
    late = html[html.index('data-ticket="INC-1"'):html.index('data-ticket="FRESH"')]
    fresh = html[html.index('data-ticket="FRESH"'):]
    assert re.search(r'class="sla overdue"', late) and "dépassée de 10m" in late  # the configured locale (fr)
    assert 'class="age stale"' in late and "20m 0" in late
    assert 'class="sla overdue"' not in fresh and 'class="age stale"' not in fresh and "59m" in fresh
    assert re.findall(r'class="step (\w+)"', late) == ["done", "done", "current", "todo", "todo", "todo"]


def test_hotfix_page_shows_timeline_and_receipts_in_the_configured_zone(
        redis: Redis, herald, make_daemon) -> None:
    """The hotfix page lists its timeline and every delivery receipt, times shown in ``timezone``."""
    settings, client = herald(timezone="America/New_York")
    runtime.configure(settings, redis)
    push(redis, settings, make_daemon, ev("declared", ago_min=3), ev("updated", ago_min=1, phase="fix",
                                                                     message="Branch created"))
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    job = JobPayload.model_validate({"ticket": "INC-1", "message": "update", "audience": "oncall", "channel": "email",
                                     "job_key": "manual", "recipients": [], "locale": "fr", "severity": "P0",
                                     "hotfix": {"ticket": "INC-1"}})
    receipts.record(redis, job, [("ops@example.com", DeliveryStatus.FAILED, "550 <no such user>")], via="smtp", attempt=1)
    html = client.get("/hotfix/INC-1", headers=BEARER).text
    timeline = html[html.index('id="timeline"'):html.index('id="receipts"')]
    assert "declared" in timeline and "updated" in timeline and "Branch created" in timeline
    zone = datetime.now(ZoneInfo("America/New_York")).strftime("%Z")  # EST or EDT
    assert zone in timeline and "CET" not in html
    table = html[html.index('id="receipts"'):]
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td>(\w+)", table)
    assert ("announcement", "oncall", "email") in rows and ("announcement", "stakeholders", "email") in rows
    assert "cto@example.com" in table and 'class="status-sent"' in table
    assert 'class="status-failed">failed' in table and "550 &lt;no such user&gt;" in table
    api = client.get("/api/hotfixes/INC-1", headers=BEARER).json()
    assert {d["status"] for d in api["deliveries"]} == {"sent", "failed"}
    assert {"message", "audience", "channel", "recipient", "status", "reason", "at"} <= set(api["deliveries"][0])


def test_pages_are_read_only(redis: Redis, herald, make_daemon) -> None:
    """The status routes only answer GET: a POST, PUT or DELETE is refused and changes nothing in Redis."""
    settings, client = herald()
    push(redis, settings, make_daemon, ev("declared"))
    before = redis.get(keys.hotfix("INC-1"))
    for method in ("POST", "PUT", "DELETE"):
        for path in ("/", "/hotfix/INC-1", "/api/hotfixes"):
            assert client.request(method, path, headers=BEARER).status_code == 405
    assert redis.get(keys.hotfix("INC-1")) == before


def test_empty_list_and_pages_carry_no_external_asset(herald) -> None:
    """With nothing open the page says so; no page loads anything from elsewhere (it works offline)."""
    _settings, client = herald()
    response = client.get("/", headers=BEARER)
    assert response.status_code == 200 and "Aucun hotfix en cours" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert not re.search(r'(src|href)="(https?:)?//', response.text)
    assert "<link" not in response.text


def test_redis_down_answers_503(make_settings) -> None:
    """When Redis does not answer, the pages say 503 instead of hanging or crashing."""
    settings = make_settings(http={"viewer_token": VIEWER})
    with TestClient(create_app(settings, Redis(port=closed_port(), socket_connect_timeout=1))) as client:
        assert client.get("/", headers=BEARER).status_code == 503
        assert client.get("/api/hotfixes", headers=BEARER).json()["detail"].startswith("Redis is not reachable")


def test_a_state_stored_with_calendar_edge_dates_still_shows(redis: Redis, herald) -> None:
    """A hotfix stored before the date window (ETA, deadline, post-mortem in year 9999) shows on every page and in ``show``."""
    settings, client = herald()
    edge = datetime.max.replace(tzinfo=UTC) - timedelta(minutes=30)
    now = datetime.now(UTC)
    state = HotfixState(ticket="INC-1", declared=True, severity=Severity.P0, title="Far", declared_at=now,
                        deadline=edge, eta=edge, postmortem_at=edge, last_update_at=now,
                        timeline=[TimelineEntry(at=edge, type="updated", id="u1", summary="far")])
    redis.set(keys.hotfix("INC-1"), state.model_dump_json())
    redis.sadd(keys.OPEN_SET, "INC-1")
    redis.sadd(keys.ALL_SET, "INC-1")
    for path in PAGES:
        answer = client.get(path, headers=BEARER)
        assert answer.status_code == 200, (path, answer.text[:300])
    assert "9999" in document_md(state, [], settings, now)
    assert show_data(state, [], now)["eta"].startswith("9999-12-31")


def test_the_pages_speak_the_configured_locale(redis: Redis, herald, make_daemon) -> None:
    """The status pages are worded in [locale]: French labels, phases, roles and timeline; English when set to en."""
    settings, _ = herald()
    push(redis, settings, make_daemon, ev("declared", ago_min=5, team={"coordinator": "Alice"}),
         ev("updated", ago_min=2, phase="fix", message="Branch created", checks={"branch": True}))
    for locale, words in (("fr", ['lang="fr"', "hotfixes en cours", "Coordinateur", "Temps restant", "lecture seule",
                                  "🔄 Mise à jour : Branch created · phase → Fix", "Branche hotfix/TICKET-description créée",
                                  'data-w-left="reste {}"', '<dd id="status" data-status="open">en cours']),
                          ("en", ['lang="en"', "open hotfixes", "Coordinator", "Time left", "read-only",
                                  "🔄 Update: Branch created · phase → Fix", 'data-w-left="{} left"'])):
        _, client = herald(locale=locale)
        html = client.get("/", headers=BEARER).text + client.get("/hotfix/INC-1", headers=BEARER).text
        for word in words:
            assert word in html, (locale, word)
