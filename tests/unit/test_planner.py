"""The planner, read like the policy table: after this story, this event sends these messages, in this order."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.lifecycle import apply
from daemon.planner import Plan, plan
from hotfix.events import parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState

T0 = datetime.now(timezone.utc).replace(second=0, microsecond=0)

SETTINGS = Settings(
    teams={"engineering": {}},
    audiences={"oncall": {"teams": ["engineering"], "emails": ["oncall@example.com"]},
               "stakeholders": {"emails": ["cto@example.com"], "locale": "en"},
               "management": {"emails": ["boss@example.com"]},
               "execs": {"emails": ["ceo@example.com"], "digest": "30m"}},
    severity={"P0": {"resolve_within": "1h", "announce": ["oncall", "stakeholders", "management"],
                     "updates": ["oncall", "stakeholders", "execs"],
                     "resolution": ["oncall", "stakeholders", "management", "execs"]},
              "P2": {"resolve_within": "24h", "announce": ["oncall"], "updates": ["oncall"], "resolution": ["oncall"]}},
)
CHECKED = {"review": True, "smoke_test": True}
ANNOUNCE_P0 = ["announcement oncall/teams", "announcement oncall/email", "announcement stakeholders/email",
               "announcement management/email"]


def ev(type_: str, minutes: int = 0, **fields: Any) -> Any:
    data = {"type": type_, "ticket": "INC-7", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "id": f"{type_}-{minutes}", **fields}
    if type_ == "declared":
        data.setdefault("title", "Checkout returns 500")
        data.setdefault("severity", "P0")
    return parse_event(data)


def play(*events: Any) -> tuple[HotfixState | None, Plan]:
    """Apply and plan each event in turn (as the consumer does); the state and the last event's plan."""
    state: HotfixState | None = None
    planned = Plan(None)
    for event in events:
        planned = plan(apply(state, event, T0), SETTINGS, T0)
        state = planned.state or state
    return state, planned


def sent(planned: Plan) -> list[str]:
    return [f"{j.payload.message.value} {j.payload.audience}/{j.payload.channel.value}" for j in planned.jobs]


@pytest.mark.parametrize("story,expected", [
    ([ev("declared")], ANNOUNCE_P0),
    ([ev("declared"), ev("updated", 5, message="branch")],                     # execs fold updates into a digest
     ["update oncall/teams", "update oncall/email", "update stakeholders/email"]),
    ([ev("declared"), ev("resolved", 40, checks=CHECKED)],
     ["resolution oncall/teams", "resolution oncall/email", "resolution stakeholders/email",
      "resolution management/email", "resolution execs/email"]),
    ([ev("declared"), ev("updated", 5), ev("resolved", 40, checks=CHECKED)],                   # the digest is flushed first
     ["update execs/email", "resolution oncall/teams", "resolution oncall/email", "resolution stakeholders/email",
      "resolution management/email", "resolution execs/email"]),
    ([ev("declared"), ev("resolved", 40)],                                     # no review, no smoke test: warned
     ["resolution oncall/teams", "resolution oncall/email", "resolution stakeholders/email",
      "resolution management/email", "resolution execs/email", "guardrail oncall/teams", "guardrail oncall/email",
      "guardrail stakeholders/email", "guardrail management/email"]),
    ([ev("declared"), ev("rolled_back", 20, reason="refunds broken")],         # everyone told hears the rollback
     ["rollback oncall/teams", "rollback oncall/email", "rollback stakeholders/email", "rollback management/email"]),
    ([ev("declared"), ev("cancelled", 3, reason="false alarm")],
     ["cancellation oncall/teams", "cancellation oncall/email", "cancellation stakeholders/email",
      "cancellation management/email"]),
    ([ev("declared", severity="P2"), ev("updated", 5, severity="P0")],         # raised: announced to the newly
     ["announcement stakeholders/email", "announcement management/email",       # concerned only, then the update
      "update oncall/teams", "update oncall/email", "update stakeholders/email"]),
    ([ev("updated", 2, message="early")], []),                                 # waits for its declaration
    ([ev("updated", 2, message="early"), ev("declared")],                      # then goes, after the announcement
     [*ANNOUNCE_P0, "update oncall/teams", "update oncall/email", "update stakeholders/email"]),
    ([ev("declared"), ev("declared")], []),                                    # a duplicate
    ([ev("declared"), ev("resolved", 40), ev("updated", 50, message="late")], []),  # late: recorded, not sent
])
def test_the_last_event_sends(story: list[Any], expected: list[str]) -> None:
    """Each story's last event sends exactly these messages, in this order."""
    _, planned = play(*story)
    assert sent(planned) == expected


def test_every_other_message_waits_for_the_announcement() -> None:
    """Jobs other than the announcement wait for the announcement's jobs, also within one event's steps."""
    state, planned = play(ev("updated", 2, message="early"), ev("declared"))
    announcing = [j.job_id for j in planned.jobs if j.payload.message.value == "announcement"]
    assert state is not None and state.announcement_jobs == announcing and len(announcing) == 4
    assert all(j.payload.after == announcing for j in planned.jobs if j.payload.message.value != "announcement")
    assert all(j.payload.after == [] for j in planned.jobs if j.payload.message.value == "announcement")
    _, later = play(ev("updated", 2, message="early"), ev("declared"), ev("updated", 9, message="news"))
    assert all(j.payload.after == announcing for j in later.jobs)


def test_announced_to_grows_with_each_announcement() -> None:
    """``announced_to`` lists the audiences an announcement went to, a raise adding the newly concerned."""
    state, _ = play(ev("declared", severity="P2"))
    assert state is not None and state.announced_to == ["oncall"]
    state, _ = play(ev("declared", severity="P2"), ev("updated", 5, severity="P0"))
    assert state is not None and state.announced_to == ["oncall", "stakeholders", "management"]


def test_a_reopening_starts_a_new_announcement() -> None:
    """A declaration of a closed hotfix announces again, and later messages wait for that announcement."""
    first, _ = play(ev("declared"))
    state, planned = play(ev("declared"), ev("resolved", 40), ev("declared", 60, id="again"))
    assert sent(planned) == ANNOUNCE_P0
    assert first is not None and state is not None
    assert state.announcement_jobs == [j.job_id for j in planned.jobs] != first.announcement_jobs


def test_digest_folds_updates_until_a_closing_event() -> None:
    """Updates for a digest audience are kept on the state, one per event, then sent together when it closes."""
    state, _ = play(ev("declared"), ev("updated", 5, message="one"), ev("updated", 9, message="two"))
    assert state is not None and [e["message"] for e in state.digest["execs"]] == ["one", "two"]
    state, planned = play(ev("declared"), ev("updated", 5, message="one"), ev("updated", 9, message="two"),
                          ev("resolved", 40))
    digest = planned.jobs[0].payload.notice or {}
    assert [e["message"] for e in digest["digest"]] == ["one", "two"]
    assert state is not None and state.digest == {} and state.digest_since == {}


def test_planning_changes_none_of_its_inputs() -> None:
    """The states ``apply`` returned are left as they were: the plan carries its own."""
    state, _ = play(ev("declared"))
    steps = apply(state, ev("updated", 5, message="one"), T0)
    before = steps[-1].after.model_dump()
    planned = plan(steps, SETTINGS, T0)
    assert steps[-1].after.model_dump() == before
    assert planned.state is not None and planned.state.digest != steps[-1].after.digest


def test_planning_reads_emails_files_through_its_reader(tmp_path: Any) -> None:
    """An audience's ``emails_file`` is read through the given reader (the planner's only outside read)."""
    settings = Settings(audiences={"list": {"emails_file": str(tmp_path / "x.txt")}},
                        severity={"P0": {"resolve_within": "1h", "announce": ["list"]}})
    planned = plan(apply(None, ev("declared"), T0), settings, T0, reader=lambda path: ["a@example.com"])
    assert [j.payload.recipients for j in planned.jobs] == [["a@example.com"]]
