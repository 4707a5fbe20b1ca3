"""Chaos: `kill -9` daemons at random moments while events stream in; nothing is lost, nothing is said twice."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from redis import Redis

from tests.chaos.herald_procs import applied_ids, mail_kinds, one_inbox_config, quiet, write_config
from tests.chaos.support import LONG, SHORT, Sizes, duplicates, full_only, record
from tests.fixtures.herald import event, xadd
from tests.fixtures.processes import hotfix_process, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401

pytestmark = pytest.mark.e2e


def story(sizes: Sizes) -> list[dict[str, Any]]:
    """``sizes.events`` events over ``sizes.tickets`` tickets: each ticket declared first, then updates."""
    tickets = [f"CHAOS-{n}" for n in range(sizes.tickets)]
    events = [event("declared", ticket=t, severity=("P0", "P1", "P2")[n % 3], id=f"{t}-d")
              for n, t in enumerate(tickets)]
    for n in range(sizes.events - len(tickets)):
        ticket = tickets[n % len(tickets)]
        eid = f"{ticket}-u{n}"
        events.append(event("updated", ticket=ticket, minutes=1 + n / 100, id=eid, message=f"note-{eid}"))
    return events


def run_daemon_chaos(sizes: Sizes, tmp_path: Path, redis: Redis, redis_url: str, smtp_server: Callable[..., Any],
                     hotfix_process: Callable[..., Any], stream_seconds: float) -> None:
    smtp = smtp_server()
    config = write_config(tmp_path, one_inbox_config(redis_url, tmp_path, smtp))
    args = ("daemon", "--config", str(config), "--claim-idle", "1")
    daemons = [hotfix_process(*args), hotfix_process(*args)]
    workers = [hotfix_process("worker", "--config", str(config)) for _ in range(2 if sizes is LONG else 1)]
    events = story(sizes)
    rng = random.Random(1042)

    def produce() -> None:
        pause = stream_seconds / len(events)
        for item in events:
            xadd(redis, item)
            time.sleep(pause)  # a steady stream, not a burst

    producer = threading.Thread(target=produce, name="producer", daemon=True)
    started = time.monotonic()
    producer.start()
    kill_at = sorted(rng.uniform(0.05, 0.95) * stream_seconds for _ in range(sizes.daemon_kills))
    for moment in kill_at:
        time.sleep(max(0.0, started + moment - time.monotonic()))  # a random moment, chosen in advance
        victim = rng.randrange(len(daemons))
        daemons[victim].kill()
        daemons[victim] = hotfix_process(*args)  # restarted under a new consumer name
    producer.join(stream_seconds + 60)
    assert not producer.is_alive()

    expected_ids: dict[str, set[str]] = {}
    for item in events:
        expected_ids.setdefault(item["ticket"], set()).add(item["id"])
    total = len(events)
    wait_until(lambda: sum(len(applied_ids(redis, t)) for t in expected_ids) >= total, timeout=60 + total / 20,
               interval=0.2, message=f"{total} events applied")
    wait_until(lambda: sum(len(m.rcpt_tos) for m in smtp.messages) >= total, timeout=60 + total / 10,
               interval=0.2, message=f"{total} emails")
    wait_until(lambda: quiet(redis), timeout=60, interval=0.2, message="stream and queues drained")

    applied_twice = lost_events = 0
    for ticket, ids in expected_ids.items():
        seen = Counter(applied_ids(redis, ticket))
        applied_twice += duplicates(seen)
        lost_events += len(ids - set(seen))
    sent = mail_kinds(smtp.messages)
    wanted = {(t, "announcement") for t in expected_ids} | {(e["ticket"], e["message"]) for e in events
                                                            if e["type"] == "updated"}
    lost_mails = len(wanted - set(sent))
    dup_mails = duplicates(sent)
    unexpected = set(sent) - wanted
    record("daemon_kills", events=total, tickets=len(expected_ids), kills=sizes.daemon_kills,
           lost_events=lost_events, applied_twice=applied_twice, emails=sum(sent.values()), lost_emails=lost_mails,
           duplicate_emails=dup_mails, seconds=round(time.monotonic() - started, 1))
    assert (lost_events, applied_twice) == (0, 0)
    assert (lost_mails, dup_mails, unexpected) == (0, 0, set())
    for proc in daemons + workers:
        assert proc.alive(), proc.output()[-2000:]


def test_daemon_kills_lose_nothing_and_repeat_nothing(tmp_path: Path, redis: Redis, redis_url: str, smtp_server,
                                                      hotfix_process) -> None:
    """Short run: ~3 random `kill -9` of one of two daemons under 200 events: each applied once, each email sent once."""
    run_daemon_chaos(SHORT, tmp_path, redis, redis_url, smtp_server, hotfix_process, stream_seconds=8.0)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(900)
def test_daemon_kills_full(tmp_path: Path, redis: Redis, redis_url: str, smtp_server, hotfix_process) -> None:
    """Full run: 10 random `kill -9` under 2,000 events over 100 tickets: each applied once, each email sent once."""
    run_daemon_chaos(LONG, tmp_path, redis, redis_url, smtp_server, hotfix_process, stream_seconds=60.0)
