"""Jira issue webhooks against the real Redis: labelled issues declare, changes update, resolutions resolve."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from redis import Redis

from tests.integration.test_intake_support import (
    AUTH,
    TestClient,
    change,
    jira_comment,
    jira_created,
    jira_updated,
    make_client,  # noqa: F401  (fixture)
    stream_events,
)

HOOK = "/hooks/jira"


def test_labelled_issue_created_is_declared(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """jira:issue_created with label hotfix and priority Highest is a P0 `declared` on the issue key."""
    response = make_client().post(HOOK, json=jira_created(), headers=AUTH)
    assert response.status_code == 202
    [event] = stream_events(redis)
    assert (event["type"], event["ticket"], event["severity"], event["source"]) == ("declared", "OPS-42", "P0", "jira")
    assert event["title"] == "Checkout returns 500"
    assert event["impact"].startswith("No order can be paid")
    assert event["link"] == "https://acme.atlassian.net/browse/OPS-42"
    assert event["team"] == {"developer": "Bob"}
    started = datetime.fromisoformat(event["started_at"])  # "depuis quand ?": the issue's creation
    assert timedelta(minutes=29) < datetime.now(timezone.utc) - started < timedelta(minutes=32)


def test_priority_map(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """Priorities High and Medium map to P1 and P2; Low is not mapped and is ignored with a note."""
    client = make_client()
    client.post(HOOK, json=jira_created(key="OPS-1", priority="High"), headers=AUTH)
    client.post(HOOK, json=jira_created(key="OPS-2", priority="Medium"), headers=AUTH)
    low = client.post(HOOK, json=jira_created(key="OPS-3", priority="Low"), headers=AUTH)
    assert low.status_code == 202 and low.json()["ids"] == [] and "priority" in low.json()["notes"][0]
    assert [(e["ticket"], e["severity"]) for e in stream_events(redis)] == [("OPS-1", "P1"), ("OPS-2", "P2")]


def test_unlabelled_issue_is_not_a_hotfix(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """An issue without the hotfix label is accepted (202) and nothing is pushed."""
    response = make_client().post(HOOK, json=jira_created(labels=("backend",)), headers=AUTH)
    assert response.status_code == 202 and response.json()["ids"] == []
    assert stream_events(redis) == []


def test_label_added_later_declares(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """An issue labelled hotfix in a later jira:issue_updated is declared then, once."""
    client = make_client()
    client.post(HOOK, json=jira_created(labels=()), headers=AUTH)
    labelled = jira_updated([change("labels", "", "hotfix")])
    client.post(HOOK, json=labelled, headers=AUTH)
    client.post(HOOK, json=labelled, headers=AUTH)
    assert [e["type"] for e in stream_events(redis)] == ["declared"]


def test_status_transition_and_comment_are_updates(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A status transition in the changelog and a comment_created are each one `updated`; re-deliveries are not."""
    client = make_client()
    client.post(HOOK, json=jira_created(), headers=AUTH)
    transition = jira_updated([change("status", "To Do", "In Progress", "3")], status="In Progress")
    client.post(HOOK, json=transition, headers=AUTH)
    client.post(HOOK, json=transition, headers=AUTH)
    client.post(HOOK, json=jira_comment("Fix deployed to staging, smoke test running"), headers=AUTH)
    client.post(HOOK, json=jira_comment("Fix deployed to staging, smoke test running"), headers=AUTH)
    _, status, comment = stream_events(redis)
    assert (status["type"], status["message"]) == ("updated", "Statut : To Do → In Progress")
    assert comment["type"] == "updated"
    assert comment["message"] == "Commentaire de Bob : Fix deployed to staging, smoke test running"


def test_priority_change_reclassifies(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A priority change to a mapped priority is an `updated` carrying the new severity."""
    client = make_client()
    client.post(HOOK, json=jira_created(priority="Medium"), headers=AUTH)
    client.post(HOOK, json=jira_updated([change("priority", "Medium", "Highest", "1")]), headers=AUTH)
    assert [(e["type"], e["severity"]) for e in stream_events(redis)] == [("declared", "P2"), ("updated", "P0")]


def test_resolution_resolves_with_root_cause(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A resolution in the changelog is `resolved`, its root cause read from root_cause_field."""
    client = make_client(intake={"jira": {"root_cause_field": "customfield_10050"}})
    client.post(HOOK, json=jira_created(), headers=AUTH)
    done = jira_updated(
        [change("resolution", None, "Done", "10000"), change("status", "In Progress", "Done", "10001")],
        changelog_id="10150", status="Done", resolution="Done",
        customfield_10050={"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Coupon service returned null"}]}]},
    )
    client.post(HOOK, json=done, headers=AUTH)
    client.post(HOOK, json=jira_comment("post-mortem on Thursday", comment_id="10300"), headers=AUTH)
    declared, resolved = stream_events(redis)
    assert resolved["type"] == "resolved" and resolved["ticket"] == "OPS-42"
    assert resolved["root_cause"] == "Coupon service returned null"
    assert "In Progress → Done" in resolved["message"]


def test_comment_on_unknown_issue_is_ignored(make_client: Callable[..., TestClient], redis: Redis) -> None:
    """A comment on an issue Herald never declared is accepted and pushes nothing."""
    response = make_client().post(HOOK, json=jira_comment("hello", key="OPS-9"), headers=AUTH)
    assert response.status_code == 202 and response.json()["ids"] == []
    assert stream_events(redis) == []
