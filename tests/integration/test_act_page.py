"""The signed action page of ``hotfix serve`` (GET|POST /act/{token}) on the real Redis, applied by a real daemon."""
from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import pytest
from redis import Redis

from daemon import store
from daemon.consumer import Daemon
from daemon.intake import create_app
from hotfix import keys
from hotfix.actions import Grant, LinkAction, act_url
from hotfix.settings import Settings
from tests.fixtures.herald import drain, make_daemon, make_settings, pushed, xadd  # noqa: F401

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

PUBLIC = "https://herald.example.com"
KEY = "act-page-signing-key-0123456789"
TEAM = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}


def ev(type_: str, ago_min: float = 0, **fields: Any) -> dict[str, Any]:
    """An event of INC-1 that happened ``ago_min`` minutes before now."""
    at = datetime.now(UTC) - timedelta(minutes=ago_min)
    data = {"type": type_, "ticket": "INC-1", "at": at.isoformat(), "id": f"{type_}-{ago_min}", **fields}
    if type_ == "declared":
        data.update(title="Checkout returns 500", severity="P0", team=TEAM)
    return data


class Desk:
    """A hotfix INC-1 in review, the app under test, and helpers to mint links and read the stream."""

    def __init__(self, redis: Redis, settings: Settings, daemon: Daemon) -> None:
        self.redis, self.settings, self.daemon = redis, settings, daemon
        self.client = TestClient(create_app(settings, redis), base_url=PUBLIC)

    def push(self, *events: dict[str, Any]) -> None:
        xadd(self.redis, *events)
        drain(self.daemon)

    def link(self, by: str = "Chloé", person: bool = True, now: datetime | None = None, **grant: Any) -> str:
        """The path of a fresh action link (``/act/<token>``)."""
        url = act_url(self.settings, Grant(ticket="INC-1", by=by, person=person, **grant), now or datetime.now(UTC))
        return url.removeprefix(PUBLIC)

    def stream(self) -> int:
        return len(pushed(self.redis))

    def last_event(self) -> dict[str, Any]:
        return pushed(self.redis)[-1]

    def form(self, path: str) -> tuple[str, dict[str, str]]:
        """The form's action (absolute path) and its hidden inputs, read from the page."""
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        return urljoin(PUBLIC + path, action.group(1)).removeprefix(PUBLIC), hidden


@pytest.fixture
def desk(redis: Redis, make_settings: Callable[..., Settings], make_daemon: Callable[..., Daemon]) -> Iterator[Desk]:
    """INC-1, a P0 declared 10 minutes ago with its four role holders, now in review; links signed with KEY."""
    settings = make_settings(http={"token": "intake", "viewer_token": "viewer", "public_url": PUBLIC, "signing_key": KEY},
                             people={name: {"email": f"{name.lower()}@corp.example"} for name in TEAM.values()})
    made = Desk(redis, settings, make_daemon(settings))
    made.push(ev("declared", 10), ev("updated", 5, phase="review"))
    yield made
    made.client.close()


def test_the_page_shows_the_hotfix_and_a_form_named_after_the_event(desk: Desk) -> None:
    """GET shows the state and one form: message, next_step, eta, phase, a box per check, root_cause, pr, action."""
    path = desk.link(role="reviewer")
    page = desk.client.get(path)
    assert page.status_code == 200
    html = page.text
    assert "INC-1" in html and "Checkout returns 500" in html and 'id="acting-as">Chloé<' in html
    for field in ("message", "next_step", "eta", "phase", "root_cause", "pr"):
        assert f'name="{field}"' in html
    assert re.findall(r'name="checks" value="([a-z_]+)"', html) == [
        "branch", "tests", "review", "merged", "staging", "smoke_test", "production", "confirmed", "monitoring",
        "cherry_pick"]
    assert sorted(re.findall(r'name="action" value="(\w+)"', html)) == ["resolve", "take_role", "update"]
    action, hidden = desk.form(path)
    assert action == path and hidden["token"] == path.rsplit("/", 1)[1] and len(hidden["form_id"]) == 32
    csp = page.headers["content-security-policy"]
    assert "form-action 'self'" in csp and "script-src" not in csp
    assert page.headers["referrer-policy"] == "no-referrer"


def test_posting_an_update_pushes_one_event_that_acknowledges_the_reviewer(desk: Desk) -> None:
    """The form becomes one ``updated`` event (source link, by Chloé, checks review), then 303 back to the page."""
    path = desk.link(role="reviewer")
    action, hidden = desk.form(path)
    before = desk.stream()
    answer = desk.client.post(action, data={**hidden, "message": "Review OK, merge away", "checks": ["review"],
                                            "next_step": "Merge and deploy to staging", "action": "update"},
                              follow_redirects=False)
    assert answer.status_code == 303
    assert urljoin(PUBLIC + action, answer.headers["location"]) == f"{PUBLIC}{path}?sent=1"
    assert desk.stream() == before + 1
    pushed = desk.last_event()
    assert {k: pushed[k] for k in ("type", "ticket", "source", "by", "message", "checks", "next_step")} == {
        "type": "updated", "ticket": "INC-1", "source": "link", "by": "Chloé", "message": "Review OK, merge away",
        "checks": {"review": True}, "next_step": "Merge and deploy to staging"}
    drain(desk.daemon)
    state = store.load(desk.redis, "INC-1")
    assert state is not None and state.checks["review"] is True
    assert state.checked_by["review"].by == "Chloé" and state.acknowledged("reviewer") is not None
    assert "✅ Envoyé" in desk.client.get(f"{path}?sent=1").text


def test_the_same_form_posted_twice_pushes_one_event(desk: Desk) -> None:
    """A double submit (same token, same form id, same fields) pushes a single event; both answers are 303."""
    path = desk.link()
    action, hidden = desk.form(path)
    data = {**hidden, "message": "on it", "action": "update"}
    before = desk.stream()
    answers = [desk.client.post(action, data=data, follow_redirects=False).status_code for _ in range(2)]
    assert answers == [303, 303] and desk.stream() == before + 1
    _action, fresh = desk.form(path)  # a new page load is a new form: a new update
    assert desk.client.post(action, data={**fresh, "message": "on it", "action": "update"},
                            follow_redirects=False).status_code == 303
    assert desk.stream() == before + 2


def _tamper(path: str) -> str:
    """The path with one character of its token changed."""
    i = len("/act/") + 10
    return path[:i] + ("A" if path[i] != "A" else "B") + path[i + 1:]


@pytest.mark.parametrize("case,reason", [("one character changed", "forged"), ("expired", "expired"),
                                         ("resolved hotfix", "closed"), ("garbage", "malformed")])
def test_forged_expired_and_closed_links_are_403_and_push_nothing(desk: Desk, case: str, reason: str) -> None:
    """Each refused link answers 403 with a page saying why, on GET and on POST, and pushes nothing."""
    path = desk.link()
    if case == "one character changed":
        path = _tamper(path)
    elif case == "expired":
        path = desk.link(now=datetime.now(UTC) - timedelta(hours=48, minutes=1))
    elif case == "resolved hotfix":
        desk.push(ev("resolved", 1, root_cause="bad timeout"))
    else:
        path = "/act/not%20a%20token"
    before = desk.stream()
    page = desk.client.get(path)
    posted = desk.client.post(path, data={"token": path.rsplit("/", 1)[1], "message": "x", "action": "update"},
                              follow_redirects=False)
    for answer in (page, posted):
        assert answer.status_code == 403
        assert f'data-reason="{reason}"' in answer.text and "Rien n&#39;a été enregistré" in answer.text
    assert desk.stream() == before


def test_a_cross_site_post_is_refused(desk: Desk) -> None:
    """A POST whose Origin is another site, or which the browser marks cross-site, is 403 and pushes nothing."""
    path = desk.link()
    action, hidden = desk.form(path)
    before = desk.stream()
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "null"}):
        answer = desk.client.post(action, data={**hidden, "message": "x", "action": "update"}, headers=headers,
                                  follow_redirects=False)
        assert answer.status_code == 403 and 'data-reason="cross_site"' in answer.text
    same = desk.client.post(action, data={**hidden, "message": "x", "action": "update"}, follow_redirects=False,
                            headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})  # a no-referrer page posting
    assert same.status_code == 303 and desk.stream() == before + 1


def test_an_action_the_link_does_not_grant_is_refused(desk: Desk) -> None:
    """A link granting only updates cannot resolve: 403, nothing pushed."""
    path = desk.link(actions=(LinkAction.UPDATE,))
    action, hidden = desk.form(path)
    assert 'value="resolve"' not in desk.client.get(path).text
    before = desk.stream()
    answer = desk.client.post(action, data={**hidden, "root_cause": "x", "action": "resolve"}, follow_redirects=False)
    assert answer.status_code == 403 and 'data-reason="not_allowed"' in answer.text
    assert desk.stream() == before


@pytest.mark.parametrize("fields,field", [
    ({"eta": "tomorrow-ish"}, "eta"), ({"checks": ["coffee"]}, "checks"), ({"phase": "resolved"}, "phase"),
    ({}, "message"), ({"action": "delete"}, "action"), ({"message": "x", "pr": "p" * 600}, "fix.pr"),
])
def test_a_bad_form_is_422_naming_the_field(desk: Desk, fields: dict[str, Any], field: str) -> None:
    """A field that cannot become an event is a 422 page naming it, the form refilled, nothing pushed."""
    path = desk.link()
    action, hidden = desk.form(path)
    before = desk.stream()
    answer = desk.client.post(action, data={**hidden, "action": "update", **fields}, follow_redirects=False)
    assert answer.status_code == 422, answer.text
    assert f'data-field="{field}"' in answer.text and '<form method="post"' in answer.text
    assert desk.stream() == before


def test_hostile_bodies_are_clear_4xx(desk: Desk) -> None:
    """A JSON body is 415, a 100 KB form 413, a token in the body that differs from the URL's 403: nothing pushed."""
    path = desk.link()
    action, hidden = desk.form(path)
    before = desk.stream()
    assert desk.client.post(action, json={"message": "x"}, follow_redirects=False).status_code == 415
    assert desk.client.post(action, data={**hidden, "message": "x" * 100_000}, follow_redirects=False).status_code == 413
    other = desk.link(by="Dan").rsplit("/", 1)[1]
    assert desk.client.post(action, data={**hidden, "token": other, "message": "x"}, follow_redirects=False).status_code == 403
    weird = desk.client.post(action, data={**hidden, "message": "ligne\r\n\x00\u202e", "action": "update"},
                             follow_redirects=False)
    assert weird.status_code in (303, 422)
    assert desk.stream() <= before + 1


def test_take_role_assigns_the_link_holder(desk: Desk) -> None:
    """``take_role`` from Dan's devops prompt makes him devops, acknowledged; from an audience link it asks who."""
    path = desk.link(by="Dan", role="devops")
    action, hidden = desk.form(path)
    assert desk.client.post(action, data={**hidden, "action": "take_role"}, follow_redirects=False).status_code == 303
    assert desk.last_event()["team"] == {"devops": "Dan"}
    crew = desk.link(by="oncall", person=False)
    crew_action, crew_hidden = desk.form(crew)
    missing = desk.client.post(crew_action, data={**crew_hidden, "action": "take_role", "role": "reviewer"},
                               follow_redirects=False)
    assert missing.status_code == 422 and 'data-field="name"' in missing.text
    taken = desk.client.post(crew_action, data={**crew_hidden, "action": "take_role", "role": "reviewer", "name": "Bob"},
                             follow_redirects=False)
    assert taken.status_code == 303
    assert {k: desk.last_event()[k] for k in ("team", "by")} == {"team": {"reviewer": "Bob"}, "by": "oncall"}
    drain(desk.daemon)
    state = store.load(desk.redis, "INC-1")
    assert state is not None and state.acknowledged("devops").by == "Dan" and state.acknowledged("reviewer").by == "Bob"


def test_resolve_closes_the_hotfix_and_then_the_link_is_refused(desk: Desk) -> None:
    """``resolve`` pushes a resolution with root cause and PR; afterwards the same link answers 403 (closed)."""
    path = desk.link()
    action, hidden = desk.form(path)
    answer = desk.client.post(action, data={**hidden, "action": "resolve", "root_cause": "Timeout set to 0",
                                            "pr": "4711"}, follow_redirects=False)
    assert answer.status_code == 303
    pushed = desk.last_event()
    assert (pushed["type"], pushed["root_cause"], pushed["fix"], pushed["by"]) == ("resolved", "Timeout set to 0",
                                                                                  {"pr": "4711"}, "Chloé")
    drain(desk.daemon)
    assert desk.client.get(path).status_code == 403


def test_eta_is_read_in_the_configured_time_zone(desk: Desk) -> None:
    """A ``datetime-local`` ETA is Paris time; a bare ``HH:MM`` is the next such time."""
    path = desk.link()
    action, hidden = desk.form(path)
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    local = in_an_hour.astimezone(ZoneInfo("Europe/Paris"))
    desk.client.post(action, data={**hidden, "action": "update", "eta": local.strftime("%Y-%m-%dT%H:%M")},
                     follow_redirects=False)
    assert datetime.fromisoformat(desk.last_event()["eta"]) == in_an_hour.replace(second=0, microsecond=0)
    _a, fresh = desk.form(path)
    desk.client.post(action, data={**fresh, "action": "update", "eta": local.strftime("%H:%M")}, follow_redirects=False)
    assert datetime.fromisoformat(desk.last_event()["eta"]) == in_an_hour.replace(second=0, microsecond=0)


def test_the_status_page_shows_who_is_on_it_and_who_ticked(desk: Desk) -> None:
    """After Chloé posts through her link, the status page says she is on it since then and ticked the review."""
    path = desk.link(role="reviewer")
    action, hidden = desk.form(path)
    desk.client.post(action, data={**hidden, "message": "Review OK", "checks": ["review"], "action": "update"},
                     follow_redirects=False)
    drain(desk.daemon)
    page = desk.client.get("/hotfix/INC-1", headers={"Authorization": "Bearer viewer"}).text
    assert re.search(r'<span class="role" data-role="reviewer">Reviewer</span> Chloé <span class="muted on-it"[^>]*>'
                     r'en cours depuis ', page)  # the page speaks [locale] (fr)
    assert 'Review faite <span class="muted">par Chloé</span>' in page
    assert '<span class="muted by">— par Chloé</span>' in page
    shown = desk.client.get("/api/hotfixes/INC-1", headers={"Authorization": "Bearer viewer"}).json()
    assert shown["acks"]["reviewer"]["by"] == "Chloé" and shown["checked_by"]["review"]["by"] == "Chloé"
    assert "reviewer" in shown["on_it"]
