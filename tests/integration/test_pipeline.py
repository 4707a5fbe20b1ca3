"""Events to inboxes: daemon and worker on the real Redis, a real SMTP server and a local Teams stand-in."""
from __future__ import annotations

import re
import time
from email import message_from_bytes, policy

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon import store
from hotfix import keys
from tests.fixtures.herald import CHECKED, drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401
from workers import runtime


@pytest.fixture
def herald(redis: Redis, make_settings, make_daemon, smtp_server, teams_server):
    """A configured daemon, a worker runner, the SMTP server and the Teams stand-in."""
    smtp = smtp_server()
    teams_server.script("/engineering", [Reply.accepted()] * 100)
    settings = make_settings(smtp=smtp.settings().model_dump(), teams={"engineering": {"url": teams_server.url("/engineering")}})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)

    def work() -> None:
        drain(daemon)
        SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)

    return daemon, work, smtp, teams_server


def by_subject(smtp) -> dict[str, list]:
    out: dict[str, list] = {}
    for m in smtp.messages:
        parsed = message_from_bytes(m.data, policy=policy.default)
        out.setdefault(str(parsed["Subject"]), []).append((m, parsed))
    return out


def test_p0_lifecycle_reaches_every_recipient_once_in_its_locale(redis: Redis, herald) -> None:
    """Declared → updated → resolved: each recipient gets each message once, stakeholders in English."""
    _daemon, work, smtp, teams = herald
    xadd(redis, event("declared", team={"coordinator": "Alice", "developer": "Bob"}))
    work()
    xadd(redis, event("updated", minutes=10, phase="fix", message="Branch created", next_step="Review"))
    work()
    xadd(redis, event("resolved", minutes=40, root_cause="bad timeout", fix={"pr": "#42"}, checks=CHECKED))
    work()
    rcpts: dict[str, int] = {}
    for m in smtp.messages:
        for r in m.rcpt_tos:
            rcpts[r] = rcpts.get(r, 0) + 1
    # announcement + resolution to all 5; update only to oncall (2) and stakeholders (2)
    assert rcpts == {"oncall@example.com": 3, "dev@example.com": 3, "cto@example.com": 3,
                     "support@example.com": 3, "boss@example.com": 2}
    assert len(teams.requests("/engineering")) == 3
    subjects = [message_from_bytes(m.data, policy=policy.default)["Subject"] for m in smtp.messages
                if "cto@example.com" in m.rcpt_tos]
    fr = [message_from_bytes(m.data, policy=policy.default)["Subject"] for m in smtp.messages
          if "boss@example.com" in m.rcpt_tos]
    assert any("HOTFIX" in s for s in subjects) and not any("RÉSOLU" in s for s in subjects)
    assert any("RÉSOLU" in s for s in fr)
    card = teams.requests("/engineering")[0].json
    assert card["type"] == "message"
    assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    statuses = {d["status"] for d in store.receipts(redis, "INC-1")}
    assert statuses == {"sent"}


def test_emails_of_a_hotfix_form_one_thread(redis: Redis, herald) -> None:
    """Every later email replies to the announcement's Message-ID and is marked auto-generated."""
    _daemon, work, smtp, _teams = herald
    xadd(redis, event("declared"))
    work()
    xadd(redis, event("updated", minutes=5, message="progress"))
    work()
    parsed = [message_from_bytes(m.data, policy=policy.default) for m in smtp.messages
              if "oncall@example.com" in m.rcpt_tos]
    announcement, update = parsed[0], parsed[1]
    assert update["In-Reply-To"] == announcement["Message-ID"]
    assert announcement["Message-ID"] in update["References"]
    assert update["Auto-Submitted"] == "auto-generated"
    assert update.get_body(("html",)) is not None and update.get_body(("plain",)) is not None


def test_same_event_id_again_sends_nothing(redis: Redis, herald) -> None:
    """Pushing an already-delivered event id again sends no email and no card."""
    _daemon, work, smtp, teams = herald
    xadd(redis, event("declared"))
    work()
    count, cards = len(smtp.messages), len(teams.requests("/engineering"))
    xadd(redis, event("declared"))
    work()
    assert (len(smtp.messages), len(teams.requests("/engineering"))) == (count, cards)


def test_redelivered_job_does_not_resend(redis: Redis, herald) -> None:
    """A job run again (e.g. after a worker crash) sends only to recipients without a sent receipt."""
    from rq import Queue

    from workers.jobs import deliver

    _daemon, work, smtp, _teams = herald
    xadd(redis, event("declared"))
    work()
    sent = len(smtp.messages)
    q = Queue("hotfix-p0", connection=redis, serializer=JSONSerializer)
    jobs = [q.fetch_job(j) for j in q.finished_job_registry.get_job_ids()]
    payload = next(j.kwargs["payload"] for j in jobs if j.kwargs["payload"]["audience"] == "oncall"
                   and j.kwargs["payload"]["channel"] == "email")
    assert deliver(payload) == "already sent"
    assert len(smtp.messages) == sent
    redis.hdel(keys.receipts("INC-1"), f"{payload['job_key']}|dev@example.com")
    deliver(payload)
    assert len(smtp.messages) == sent + 1
    assert smtp.messages[-1].rcpt_tos == ["dev@example.com"]


def test_failed_delivery_is_dead_lettered_and_replayable(redis: Redis, make_settings, make_daemon, smtp_server,
                                                         teams_server) -> None:
    """A 404 webhook fails for good with its meaning; once fixed, replaying the dead letter delivers it once."""
    from daemon.deadletters import list_dead, replay_delivery

    smtp = smtp_server()
    teams_server.script("/gone", [Reply.error(404, "Not Found")])
    settings = make_settings(smtp=smtp.settings().model_dump(), teams={"engineering": {"url": teams_server.url("/gone")}})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)
    xadd(redis, event("declared"))
    drain(daemon)
    worker = SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)
    dead = list_dead(redis, keys.DELIVERY_DEAD_LETTERS)
    assert [(d["recipient"], d["message"]) for d in dead] == [("engineering", "announcement")]
    assert "removed" in dead[0]["error"] or "not found" in dead[0]["error"].lower()
    receipt = next(d for d in store.receipts(redis, "INC-1") if d["channel"] == "teams")
    assert receipt["status"] == "failed" and receipt["reason"] == dead[0]["error"]
    assert replay_delivery(redis, dead[0]["id"], settings)
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    assert len(teams_server.requests("/gone")) == 2  # the 404, then the replay (script exhausted: 202)
    receipt = next(d for d in store.receipts(redis, "INC-1") if d["channel"] == "teams")
    assert receipt["status"] == "sent"
    assert list_dead(redis, keys.DELIVERY_DEAD_LETTERS) == []


def hanging_webhook_daemon(redis: Redis, make_settings, make_daemon, teams_server):
    """A daemon whose P0 announcements are only cards, to a webhook that hangs (1 s timeout)."""
    teams_server.script("/hang", [Reply.hanging(5.0)])
    settings = make_settings(teams={"engineering": {"url": teams_server.url("/hang"), "timeout": "1s"}},
                             audiences={"oncall": {"emails": []}, "stakeholders": {"emails": []},
                                        "management": {"emails": []}})
    runtime.configure(settings, redis)
    return make_daemon(settings)


def test_a_hanging_webhook_holds_one_worker_once(redis: Redis, make_settings, make_daemon, teams_server) -> None:
    """After one card times out, other cards for that webhook hold off at once instead of each waiting the timeout."""
    daemon = hanging_webhook_daemon(redis, make_settings, make_daemon, teams_server)
    xadd(redis, event("declared", ticket="HANG-1"), event("declared", ticket="HANG-2"),
         event("declared", ticket="HANG-3"))
    drain(daemon)
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    assert len(teams_server.requests("/hang")) == 1  # one card waited out the timeout; the others never tried
    receipts = [d for t in ("HANG-1", "HANG-2", "HANG-3") for d in store.receipts(redis, t)]
    assert [d["status"] for d in receipts] == ["retrying"]  # the one that timed out; the others wait, unattempted
    from rq import Queue

    scheduled = Queue("hotfix-p0", connection=redis, serializer=JSONSerializer).scheduled_job_registry
    assert scheduled.count == 3
    holds = [Queue.fetch_job(Queue("hotfix-p0", connection=redis, serializer=JSONSerializer), j).meta.get("holds", 0)
             for j in scheduled.get_job_ids()]
    assert sorted(holds) == [0, 1, 1]


def test_a_p2_card_without_a_slot_yields_its_worker_to_a_queued_p0(redis: Redis, make_settings, make_daemon,
                                                                   teams_server) -> None:
    """A P2 card whose webhook has no shared slot left, while a P0 job is queued, goes back at once: a wait, not an attempt."""
    from rq import Queue

    from workers.throttle import Throttle

    settings = make_settings(teams={"engineering": {"url": teams_server.url("/eng")}},
                             audiences={"oncall": {"emails": []}, "stakeholders": {"emails": []},
                                        "management": {"emails": []}},
                             severity={"P2": {"announce": ["oncall"]}})
    runtime.configure(settings, redis)
    xadd(redis, event("declared", ticket="LOW-1", severity="P2"))
    drain(make_daemon(settings))
    throttle = Throttle.for_channel(redis, "engineering")
    later = (time.time() + 600) * 1_000_000  # grants the window keeps however slowly this test runs
    redis.zadd(throttle.key, {f"p2-card-{n}": later for n in range(throttle.shared)})
    redis.rpush(Queue("hotfix-p0", connection=redis).key, "hf-a-p0-job-waiting")
    SimpleWorker(["hotfix-p2"], connection=redis, serializer=JSONSerializer).work(burst=True)
    assert teams_server.requests("/eng") == [] and store.receipts(redis, "LOW-1") == []
    queue = Queue("hotfix-p2", connection=redis, serializer=JSONSerializer)
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    meta = queue.fetch_job(job_id).meta  # type: ignore[union-attr]
    assert (meta["holds"], meta["attempts"]) == (1, 0)
    assert throttle.wait_time() == 0.0  # the P0 slot is still free


def test_a_job_of_the_previous_shape_still_runs(redis: Redis, herald) -> None:
    """A job enqueued by the first release (no ``version`` key) is delivered and leaves a sent receipt."""
    from rq import Queue

    from hotfix.jobs import JOB_FUNCTION

    _daemon, work, smtp, _teams = herald
    v1 = {"job_key": "hf-v1job", "ticket": "OLD-1", "message": "announcement", "audience": "oncall",
          "channel": "email", "recipients": ["oncall@example.com"], "locale": "fr", "severity": "P1", "cause": "old",
          "after": [], "hotfix": {"ticket": "OLD-1", "declared": True, "title": "Export broken", "severity": "P1"},
          "event": None, "notice": None, "created_at": None}
    Queue("hotfix-p1", connection=redis, serializer=JSONSerializer).enqueue_call(JOB_FUNCTION, kwargs={"payload": v1})
    work()
    assert [m.rcpt_tos for m in smtp.messages] == [["oncall@example.com"]]
    assert [(d["recipient"], d["status"]) for d in store.receipts(redis, "OLD-1")] == [("oncall@example.com", "sent")]


def test_a_job_no_release_wrote_is_dead_lettered_not_retried(redis: Redis, herald) -> None:
    """A payload that fails the contract ends as a delivery dead letter naming the field, and the job finishes."""
    from rq import Queue

    from daemon.deadletters import list_dead
    from hotfix.jobs import JOB_FUNCTION

    _daemon, work, smtp, _teams = herald
    queue = Queue("hotfix-p1", connection=redis, serializer=JSONSerializer)
    job = queue.enqueue_call(JOB_FUNCTION, kwargs={"payload": {"ticket": "BAD-1", "channel": "pigeon"}})
    work()
    dead = list_dead(redis, keys.DELIVERY_DEAD_LETTERS)
    assert len(dead) == 1 and "invalid job payload" in dead[0]["error"] and "BAD-1" in dead[0]["raw"]
    assert job.get_status(refresh=True) == "finished" and smtp.messages == []


def test_a_recipient_given_up_on_is_not_tried_again_with_its_retrying_batch(
        redis: Redis, make_settings, make_daemon, smtp_server) -> None:
    """In one batch, a refused mailbox fails once for good while a deferred one is retried until it is delivered."""
    from rq import Queue
    from rq.scheduler import RQScheduler

    from daemon.deadletters import list_dead
    from tests.fixtures.processes import wait_until

    smtp = smtp_server(refuse=["gone@example.com"], defer_times={"slow@example.com": 1})
    settings = make_settings(smtp=smtp.settings().model_dump(), worker={"p0_backoff_base": "1s"},
                             audiences={"oncall": {"teams": [], "emails": ["gone@example.com", "slow@example.com"]},
                                        "stakeholders": {"emails": []}, "management": {"emails": []}})
    runtime.configure(settings, redis)
    xadd(redis, event("declared"))
    drain(make_daemon(settings))
    worker = SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)
    scheduled = Queue("hotfix-p0", connection=redis, serializer=JSONSerializer).scheduled_job_registry
    assert scheduled.count == 1  # slow@ was deferred: the job comes back

    def due() -> bool:
        scheduler = RQScheduler(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer)
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        return scheduled.count == 0
    wait_until(due, timeout=10, message="the retry is due")
    worker.work(burst=True)
    assert [m.rcpt_tos for m in smtp.messages] == [["slow@example.com"]]
    receipts = {d["recipient"]: (d["status"], d["attempt"]) for d in store.receipts(redis, "INC-1")}
    assert receipts == {"gone@example.com": ("failed", 1), "slow@example.com": ("sent", 2)}
    assert [d["recipient"] for d in list_dead(redis, keys.DELIVERY_DEAD_LETTERS)] == ["gone@example.com"]


def test_a_storm_goes_in_bundles_and_each_recipient_hears_each_hotfix_once(redis: Redis, herald) -> None:
    """Many P0s in one commit are queued as bundles of jobs; each message reaches each recipient once, and a bundle
    run again (a worker that died) sends nothing twice."""
    from rq import Queue

    from hotfix.jobs import BUNDLE_FUNCTION, BUNDLE_SIZE
    from workers.jobs import deliver_bundle

    _daemon, work, smtp, teams = herald
    tickets = [f"STORM-{n:02d}" for n in range(BUNDLE_SIZE // 2)]  # a few jobs each: more than one bundle
    xadd(redis, *[event("declared", ticket=t) for t in tickets])
    work()
    q = Queue("hotfix-p0", connection=redis, serializer=JSONSerializer)
    bundles = [q.fetch_job(j) for j in q.finished_job_registry.get_job_ids()]
    members = [p for b in bundles for p in b.kwargs["payloads"]]
    assert {b.func_name for b in bundles} == {BUNDLE_FUNCTION} and len(bundles) >= 2
    assert len(bundles) == -(-len(members) // BUNDLE_SIZE) and {p["ticket"] for p in members} == set(tickets)
    heard = [(r, t) for m in smtp.messages for r in m.rcpt_tos for t in tickets if t in m.data.decode(errors="replace")]
    assert len(heard) == len(set(heard))  # nobody told twice
    told = {t: sorted(r for r, about in heard if about == t) for t in tickets}
    assert told[tickets[0]] and all(told[t] == told[tickets[0]] for t in tickets)  # everyone told of every hotfix
    cards = [re.findall(r"STORM-\d\d", c.raw.decode())[0] for c in teams.requests("/engineering")]
    assert sorted(cards) == tickets
    sent, cards = len(smtp.messages), len(teams.requests("/engineering"))
    assert deliver_bundle(bundles[0].kwargs["payloads"]) == ["already sent"] * len(bundles[0].kwargs["payloads"])
    assert (len(smtp.messages), len(teams.requests("/engineering"))) == (sent, cards)


def test_a_bundled_message_that_must_wait_comes_back_alone(redis: Redis, make_settings, make_daemon,
                                                            teams_server) -> None:
    """In a bundle, the cards held off after their webhook failed are queued again alone, each with its own tally,
    while the bundle goes on: one card tried, none lost."""
    from rq import Queue

    from hotfix.jobs import BUNDLE_FROM, JOB_FUNCTION

    daemon = hanging_webhook_daemon(redis, make_settings, make_daemon, teams_server)
    tickets = [f"HANG-{n}" for n in range(BUNDLE_FROM)]
    xadd(redis, *[event("declared", ticket=t) for t in tickets])
    drain(daemon)
    q = Queue("hotfix-p0", connection=redis, serializer=JSONSerializer)
    [bundle] = [q.fetch_job(j) for j in q.job_ids]
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    assert len(teams_server.requests("/hang")) == 1
    alone = [q.fetch_job(j) for j in q.scheduled_job_registry.get_job_ids()]
    assert {j.func_name for j in alone} == {JOB_FUNCTION} and len(alone) == len(tickets)
    assert {j.id for j in alone} == {p["job_key"] for p in bundle.kwargs["payloads"]}
    assert sorted(j.meta.get("holds", 0) for j in alone) == [0] + [1] * (len(tickets) - 1)
