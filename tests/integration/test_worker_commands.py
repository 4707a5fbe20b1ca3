"""``hotfix worker``: on a worker-only host it delivers and loads nothing of ``daemon/``; its P0 companion."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from redis import Redis

from tests.fixtures.herald import BASE_CONFIG, drain, event, make_daemon, make_settings, merge, xadd  # noqa: F401
from tests.fixtures.processes import hotfix_process, imported_modules, to_toml, wait_until  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401


def test_hotfix_worker_imports_nothing_from_daemon(tmp_path: Path, redis: Redis, redis_url: str,
                                                   make_settings, make_daemon) -> None:
    """A worker that delivers a job imports workers/ and hotfix/ modules, and not one module of daemon/."""
    outbox = tmp_path / "outbox"
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(outbox)}})))
    xadd(redis, event("declared"))
    drain(make_daemon(make_settings(outbox={"dir": str(outbox)})))  # the daemon runs here, in the test process
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "herald.cli", "worker", "--burst",
                           "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert {"workers.render", "workers.retry", "workers.channels", "hotfix.jobs"} <= set(modules)  # it delivered
    assert list((outbox / "INC-1").iterdir())
    assert [m for m in modules if m == "daemon" or m.startswith("daemon.")] == []


def test_a_worker_has_its_job_functions_before_its_first_job(tmp_path: Path, redis_url: str) -> None:
    """``hotfix worker`` imports the job functions at start (RQ would at the first job: ~75 ms on a P0's path)."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path)}})))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "herald.cli", "worker", "--burst",
                           "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "workers.jobs" in imported_modules(done.stderr)  # the queues were empty: no job ran


def test_a_p0_card_goes_out_while_the_worker_is_stuck_on_a_p2_card(tmp_path: Path, redis: Redis, redis_url: str,
                                                                   make_settings, make_daemon, teams_server,
                                                                   hotfix_process) -> None:
    """One ``hotfix worker`` delivers a P0 card (its P0 companion) while its main worker waits on a P2 webhook."""
    teams_server.script("/p2hook", [Reply.hanging(60)])
    overrides = {
        "outbox": {"dir": str(tmp_path / "outbox")},
        "teams": {"p0hook": {"url": teams_server.url("/p0hook")},
                  "p2hook": {"url": teams_server.url("/p2hook"), "timeout": "60s"}},
        "audiences": {"p0": {"teams": ["p0hook"], "emails": []}, "p2": {"teams": ["p2hook"], "emails": []}},
        "severity": {"P0": {"announce": ["p0"]}, "P2": {"announce": ["p2"]}},
    }
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(merge(BASE_CONFIG, {"redis": {"url": redis_url}}), overrides)))
    daemon = make_daemon(make_settings(**overrides))
    worker = hotfix_process("worker", "--config", str(config))
    wait_until(lambda: redis.scard("rq:workers") >= 2, timeout=60, message="the worker and its P0 companion")
    xadd(redis, event("declared", ticket="LOW-1", severity="P2"))
    drain(daemon)
    teams_server.wait_for_requests(1, "/p2hook", timeout=30)  # the main worker now waits on it for a minute
    xadd(redis, event("declared", ticket="TOP-1", severity="P0"))
    drain(daemon)
    [card] = teams_server.wait_for_requests(1, "/p0hook", timeout=30)
    assert "TOP-1" in card.raw.decode()
    assert len(teams_server.requests("/p2hook")) == 1  # still the one in hand, unanswered
    worker.kill()


def test_a_p0_only_worker_runs_no_companion(tmp_path: Path, redis: Redis, redis_url: str, hotfix_process) -> None:
    """``hotfix worker --queues hotfix-p0`` is one RQ worker; ``--p0-workers 2`` adds two P0 workers to a general one."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path)}})))
    hotfix_process("worker", "--config", str(config), "--queues", "hotfix-p0")
    hotfix_process("worker", "--config", str(config), "--p0-workers", "2")
    wait_until(lambda: redis.scard("rq:workers") >= 4, timeout=60, message="four RQ workers")
    names = sorted(n.decode().rsplit(":", 1)[-1] for n in redis.smembers("rq:workers"))
    assert sum(1 for n in names if "-p0-" in n) == 2
    assert redis.scard("rq:workers") == 4


def test_a_companion_says_it_waits_only_while_idle_and_not_stopping(redis: Redis) -> None:
    """The main worker leaves P0 to its companion only while the companion waits for a job (not busy, not stopping)."""
    from rq.serializers import JSONSerializer
    from rq.worker import WorkerStatus

    from workers.queue import HeraldQueue
    from workers.worker import P0Companion

    companion = P0Companion(["hotfix-p0"], connection=redis, serializer=JSONSerializer, queue_class=HeraldQueue)
    companion.set_state(WorkerStatus.IDLE)
    assert companion.waiting()
    companion.set_state(WorkerStatus.BUSY)
    assert not companion.waiting()
    companion.set_state(WorkerStatus.IDLE)
    companion.stop()
    assert not companion.waiting()


def test_a_worker_skips_a_heartbeat_only_while_its_registration_surely_lives(redis: Redis) -> None:
    """A second default heartbeat right after one is skipped; after a short-lived one (a job's) it is sent."""
    from workers.worker import make_worker

    worker = make_worker(redis, ["hotfix-p0", "hotfix-p1"])
    worker.heartbeat()
    first = redis.hget(worker.key, "last_heartbeat")
    worker.heartbeat()  # its registration lives ~95 s more: nothing to send
    assert redis.hget(worker.key, "last_heartbeat") == first
    worker.heartbeat(6)  # a job's short heartbeat (the registration now lives 6 s)
    assert 0 < redis.ttl(worker.key) <= 6
    worker.heartbeat()  # sent: the registration is long-lived again
    assert redis.ttl(worker.key) > worker.worker_ttl
