"""The job contract: one typed payload, plain JSON on the wire, versioned so either release runs the other's jobs."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from hotfix.enums import Channel, Locale, MessageName, Severity
from hotfix.jobs import BUNDLE_FROM, BUNDLE_SIZE, JOB_VERSION, JobPayload, build_jobs
from hotfix.routing import Delivery
from hotfix.settings import Settings
from hotfix.state import NOT_IN_JOBS, HotfixState, TimelineEntry

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SETTINGS = Settings(audiences={"oncall": {"emails": ["a@example.com", "b@example.com", "c@example.com"]},
                               "eng": {"teams": ["engineering"], "locale": "en"}},
                    teams={"engineering": {}}, smtp={"batch_size": 2})


def _state() -> HotfixState:
    return HotfixState(ticket="INC-7", declared=True, severity=Severity.P1, title="Checkout", declared_id="e1",
                       applied_ids=["e1"], fired=["reminder@x"], announcement_jobs=["hf-1"],
                       timeline=[TimelineEntry(at=NOW + timedelta(minutes=i), type="updated", id=f"u{i}")
                                 for i in range(40)])


def test_build_jobs_batches_emails_and_routes_by_severity() -> None:
    """Emails are batched by ``[smtp] batch_size``; a Teams delivery is one job; the queue follows the severity."""
    deliveries = [Delivery(MessageName.UPDATE, "oncall", Channel.EMAIL, "e2"),
                  Delivery(MessageName.UPDATE, "eng", Channel.TEAMS, "e2", "engineering")]
    specs = build_jobs(deliveries, _state(), {"type": "updated"}, SETTINGS, NOW)
    assert [s.payload.recipients for s in specs] == [["a@example.com", "b@example.com"], ["c@example.com"],
                                                     ["engineering"]]
    assert {s.queue for s in specs} == {"hotfix-p1"}
    assert [s.payload.locale for s in specs] == [Locale.FR, Locale.FR, Locale.EN]
    assert all(s.payload.after == ["hf-1"] and s.payload.job_key == s.job_id for s in specs)


def test_wire_is_plain_json_that_parses_back_to_the_same_payload() -> None:
    """A payload survives JSON (RQ's serializer) unchanged, without the daemon's bookkeeping, recent timeline only."""
    spec = build_jobs([Delivery(MessageName.UPDATE, "eng", Channel.TEAMS, "e2", "engineering")], _state(),
                      {"type": "updated", "message": "é"}, SETTINGS, NOW)[0]
    wire = json.loads(json.dumps(spec.payload.wire()))
    assert wire["version"] == JOB_VERSION
    assert not NOT_IN_JOBS & set(wire["hotfix"])
    assert len(wire["hotfix"]["timeline"]) == 30 and wire["hotfix"]["timeline"][-1]["id"] == "u39"
    parsed = JobPayload.model_validate(wire)
    assert parsed.wire() == spec.payload.wire() and parsed.hotfix.applied_ids == []


def test_a_payload_of_the_previous_shape_still_parses() -> None:
    """Version 1 (no ``version`` key, as the first release wrote it) reads as version 1, with the same fields."""
    v1 = {"job_key": "hf-abc", "ticket": "INC-7", "message": "announcement", "audience": "oncall",
          "channel": "email", "recipients": ["a@example.com"], "locale": "fr", "severity": "P0",
          "cause": "e1", "after": [], "hotfix": {"ticket": "INC-7", "title": "Checkout", "severity": "P0"},
          "event": {"type": "declared"}, "notice": None, "created_at": NOW.isoformat()}
    job = JobPayload.model_validate(v1)
    assert (job.version, job.message, job.channel, job.hotfix.title, job.created_at) == (
        1, MessageName.ANNOUNCEMENT, Channel.EMAIL, "Checkout", NOW)


def test_a_newer_payload_with_unknown_keys_still_parses() -> None:
    """Keys a later release adds are ignored, so an older worker still runs the job."""
    job = JobPayload.model_validate({**_minimal(), "version": JOB_VERSION + 1, "signed_links": {"ack": "x"}})
    assert job.version == JOB_VERSION + 1 and job.ticket == "INC-7"


@pytest.mark.parametrize("field,value", [("channel", "pigeon"), ("ticket", "../etc"), ("severity", "P9"),
                                         ("recipients", "a@example.com"), ("created_at", "yesterday")])
def test_a_bad_payload_names_the_field(field: str, value: object) -> None:
    """A payload no release wrote fails validation naming its bad field."""
    with pytest.raises(ValidationError) as raised:
        JobPayload.model_validate({**_minimal(), field: value})
    assert raised.value.errors()[0]["loc"][0] == field


def _minimal() -> dict[str, object]:
    return {"job_key": "hf-abc", "ticket": "INC-7", "message": "update", "audience": "oncall", "channel": "email",
            "recipients": ["a@example.com"], "locale": "fr", "severity": "P2", "hotfix": {"ticket": "INC-7"}}


@pytest.mark.parametrize(("tickets", "per_ticket", "queued"), [
    (1, 2, ["job", "job"]),                    # one P0's card and email: two workers at once
    (1, BUNDLE_FROM - 1, ["job"] * (BUNDLE_FROM - 1)),
    (1, BUNDLE_FROM, ["bundle"]),              # a fan-out
    (2, 2, ["bundle"]),                        # a storm read a few alerts at a time
    (1, BUNDLE_SIZE + 1, ["bundle", "bundle"]),
])
def test_many_jobs_of_one_commit_go_in_bundles(fake_redis, tickets: int, per_ticket: int, queued: list[str]) -> None:
    """A commit's jobs on one queue go alone when they are one hotfix's few, in bundles when many or several hotfixes'."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    from hotfix.jobs import BUNDLE_FUNCTION, JOB_FUNCTION, JobSpec, enqueue_in

    specs = [JobSpec(f"hf-{t}-{n}", "hotfix-p1", JobPayload.model_validate(
                {**build_jobs([Delivery(MessageName.UPDATE, "eng", Channel.TEAMS, f"e{n}", "engineering")], _state(),
                              None, SETTINGS, NOW)[0].payload.wire(), "ticket": f"INC-{t}", "job_key": f"hf-{t}-{n}"}))
             for t in range(tickets) for n in range(per_ticket)]
    pipe = fake_redis.pipeline()
    enqueue_in(pipe, fake_redis, specs, SETTINGS)
    pipe.execute()
    jobs = Queue("hotfix-p1", connection=fake_redis, serializer=JSONSerializer).get_jobs()
    kinds = {JOB_FUNCTION: "job", BUNDLE_FUNCTION: "bundle"}
    assert [kinds[j.func_name] for j in jobs] == queued
    carried = [p["job_key"] for j in jobs for p in (j.kwargs.get("payloads") or [j.kwargs["payload"]])]
    assert carried == [s.job_id for s in specs]  # every job once, in order
