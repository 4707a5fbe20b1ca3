"""What every scenario runs on: loopback sinks, the bench's Redis database, and the real Herald processes.

The sinks are the test suite's own (``tests/fixtures``): ``FakeTeams`` for Teams
webhooks and aiosmtpd's ``RecordingHandler`` for SMTP, extended here only to time
each accepted RCPT. Herald runs as real ``hotfix daemon`` / ``hotfix worker`` /
``hotfix serve`` subprocesses on Redis database 10 (``$HOTFIX_BENCH_REDIS_DB``), flushed before each scenario.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from redis import Redis

from hotfix import keys
from tests.fixtures.herald import BASE_CONFIG, merge
from tests.fixtures.processes import HotfixProcess, to_toml, wait_until
from tests.fixtures.smtp_server import RecordingHandler, free_port
from tests.fixtures.teams_server import FakeTeams

#: The bench's own Redis database (``$HOTFIX_BENCH_REDIS_DB``, default 10); the others belong to tests and dev.
BENCH_DB = int(os.environ.get("HOTFIX_BENCH_REDIS_DB", "10"))
#: Never these: 0 (dev, the default URL), 13 (the test suite's default).
FORBIDDEN_DBS = frozenset({0, 13})
REDIS_URL = f"redis://127.0.0.1:6379/{BENCH_DB}"
SENDER = "Hotfix Bench <bench@herald.test>"
_TICKET_HEADER = re.compile(rb"^X-Hotfix-Ticket:\s*(\S+)", re.MULTILINE | re.IGNORECASE)

if BENCH_DB in FORBIDDEN_DBS:
    raise SystemExit(f"refusing to benchmark on Redis db {BENCH_DB} (HOTFIX_BENCH_REDIS_DB)")


def bench_redis() -> Redis:
    """A client on the bench database (never 0 or 13)."""
    client = Redis.from_url(REDIS_URL, socket_timeout=30)
    db = client.connection_pool.connection_kwargs.get("db")
    if db != BENCH_DB or db in FORBIDDEN_DBS:
        raise RuntimeError(f"refusing to benchmark on Redis db {db}")
    return client


def flush(redis: Redis) -> None:
    """Empty the bench database (and only it)."""
    if redis.connection_pool.connection_kwargs.get("db") != BENCH_DB:
        raise RuntimeError("flush is for the bench database only")
    redis.flushdb()


def group_info(redis: Redis) -> dict[str, Any]:
    """``XINFO GROUPS`` of the event stream for the daemons' group (lag, entries-read, pending)."""
    for row in redis.xinfo_groups(keys.EVENTS_STREAM):
        name = row["name"].decode() if isinstance(row["name"], bytes) else row["name"]
        if name == keys.CONSUMER_GROUP:
            return dict(row)
    return {}


def drained(redis: Redis) -> bool:
    """The daemons' group has read and acknowledged every entry of the stream."""
    info = group_info(redis)
    return bool(info) and info.get("lag") == 0 and info.get("pending") == 0


def xadd_event(redis: Redis, data: dict[str, Any]) -> None:
    redis.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: json.dumps(data)})


def xadd_many(redis: Redis, events: list[dict[str, Any]], chunk: int = 1000) -> None:
    """Push many events, pipelined."""
    for start in range(0, len(events), chunk):
        pipe = redis.pipeline(transaction=False)
        for data in events[start:start + chunk]:
            pipe.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: json.dumps(data)})
        pipe.execute()


# -- sinks -------------------------------------------------------------------------
@dataclass
class TimingHandler(RecordingHandler):
    """The tests' recording SMTP handler, also counting accepted RCPTs and timing the last one."""

    rcpt_accepted: int = 0
    last_rcpt: float = 0.0
    keep_data: bool = True

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        reply = await super().handle_RCPT(server, session, envelope, address, rcpt_options)
        if reply.startswith("250"):
            with self.cond:
                self.rcpt_accepted += 1
                self.last_rcpt = time.monotonic()
        return reply


class BurstController(Controller):
    """aiosmtpd's controller listening with a backlog of ``SMTP_BACKLOG`` instead of asyncio's 100.

    Alertmanager opens one SMTP connection per notification, a thousand at once in the burst: past 100
    waiting connections the sink reset the rest ("connection reset by peer" in Alertmanager's log) and
    Alertmanager retried them ~15 s later, which made it ~110/s instead of ~500/s in most runs (its "two
    speeds" before 2026-11-30). A real relay takes the burst; so must the sink.
    """

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, host=self.hostname, port=self.port,
                                       ssl=self.ssl_context, backlog=SMTP_BACKLOG)


#: Connections the bench's SMTP sink lets wait (its own, not the test suite's).
SMTP_BACKLOG = 4096


@dataclass
class Sinks:
    """A fake Teams and an SMTP server on 127.0.0.1."""

    teams: FakeTeams
    smtp: Controller
    handler: TimingHandler
    smtp_port: int

    def close(self) -> None:
        self.teams.close()
        self.smtp.stop()

    def email_arrivals(self, pattern: re.Pattern[bytes] | None = None) -> dict[str, float]:
        """Ticket (or what ``pattern`` finds, by default the X-Hotfix-Ticket header) → first DATA accepted."""
        out: dict[str, float] = {}
        with self.handler.cond:
            messages = list(self.handler.messages)
        for msg in messages:
            found = (pattern or _TICKET_HEADER).search(msg.data)
            if found:
                out.setdefault(found.group(1).decode(), msg.at)
        return out

    def teams_arrivals(self, path: str, pattern: re.Pattern[bytes]) -> dict[str, float]:
        """Ticket (found by ``pattern`` in the body) → monotonic arrival of its first request to ``path``."""
        out: dict[str, float] = {}
        for req in self.teams.requests(path):
            found = pattern.search(req.raw)
            if found:
                out.setdefault(found.group(1).decode(), req.at)
        return out


@contextmanager
def sinks() -> Iterator[Sinks]:
    """Start both sinks; stop them at the end."""
    teams = FakeTeams()
    handler = TimingHandler()
    controller: Controller | None = None
    port = 0
    for _ in range(5):
        port = free_port()
        controller = BurstController(handler, hostname="127.0.0.1", port=port, ready_timeout=5.0,
                                     data_size_limit=0)
        try:
            controller.start()
            break
        except Exception:  # noqa: BLE001 - the probed port was taken meanwhile
            controller = None
    if controller is None:
        teams.close()
        raise RuntimeError("cannot start the SMTP sink")
    found = Sinks(teams, controller, handler, port)
    try:
        yield found
    finally:
        found.close()


# -- which Herald: this tree, or another one for a side-by-side before/after ------------
@dataclass(frozen=True)
class Tree:
    """The Herald source tree the scenario's processes run (``PYTHONPATH``), and what its CLI offers."""

    path: Path
    label: str
    #: ``hotfix worker --p0-workers`` exists (P0 companions): each worker process registers more RQ workers.
    companions: bool


_TREE: Tree | None = None


def tree_of(path: Path, label: str) -> Tree:
    """Describe the tree at ``path`` (asks its own ``hotfix worker --help``)."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(path), "PYTHONSAFEPATH": "1"}
    shown = subprocess.run([sys.executable, "-m", "herald.cli", "worker", "--help"], capture_output=True, text=True,
                           env=env, timeout=60, cwd=path)
    return Tree(path, label, "--p0-workers" in shown.stdout)


def current_tree() -> Tree:
    """The tree the processes run now (this one unless ``use_tree`` says otherwise)."""
    global _TREE
    if _TREE is None:
        _TREE = tree_of(Path(__file__).resolve().parent.parent, "this tree")
    return _TREE


@contextmanager
def use_tree(tree: Tree) -> Iterator[Tree]:
    """Run the Herald processes started meanwhile from ``tree``."""
    global _TREE
    previous = current_tree()
    _TREE = tree
    try:
        yield tree
    finally:
        _TREE = previous


# -- Herald ------------------------------------------------------------------------
def herald_config(s: Sinks, workdir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The tests' base config pointed at the sinks and the bench db, with a scenario's overrides deep-merged."""
    base = merge(BASE_CONFIG, {
        "redis": {"url": REDIS_URL},
        "smtp": {"host": "127.0.0.1", "port": s.smtp_port, "security": "none", "sender": SENDER,
                 "timeout": "10s", "validate_certs": False},
        "outbox": {"dir": str(workdir / "outbox")},
        "http": {"listen": f"127.0.0.1:{free_port()}", "token": "bench-token", "viewer_token": "bench-viewer"},
    })
    return merge(base, overrides)


@dataclass
class Herald:
    """Running Herald processes for one scenario."""

    workdir: Path
    config_path: Path
    config: dict[str, Any]
    procs: list[HotfixProcess] = field(default_factory=list)
    #: RQ workers the started ``hotfix worker`` processes register (each its P0 companions too).
    rq_workers: int = 0

    def start(self, *args: str, prefix: list[str] | None = None) -> HotfixProcess:
        # PYTHONSAFEPATH: ``-m herald.cli`` must not put the working directory (this tree) ahead of PYTHONPATH
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOTFIX_CONFIG": str(self.config_path),
               "PYTHONPATH": str(current_tree().path), "PYTHONSAFEPATH": "1"}
        env.pop("HOTFIX_REDIS__URL", None)
        log = self.workdir / f"{len(self.procs)}-{args[0]}.log"
        argv = [*args, "--config", str(self.config_path)]
        # ``prefix``: a profiler wrapping the command (``-m pyinstrument …``)
        proc = _wrapped(prefix, argv, log, env) if prefix else HotfixProcess(argv, log, env)
        self.procs.append(proc)
        return proc

    def daemon(self) -> HotfixProcess:
        return self.start("daemon")

    def worker(self, queues: str | None = None, fork: bool = False, p0_workers: int = 1) -> HotfixProcess:
        """``hotfix worker`` (by default with its one P0 companion, as deployed)."""
        args = ["worker"] + (["--queues", queues] if queues else []) + (["--fork"] if fork else [])
        companions = 0
        if current_tree().companions:
            args += ["--p0-workers", str(p0_workers)]
            companions = 0 if queues == keys.QUEUE_NAMES[0] else p0_workers
        self.rq_workers += 1 + companions
        return self.start(*args)

    def wait_workers(self, redis: Redis, timeout: float = 30.0) -> None:
        """Until every started worker (and its companions) has registered."""
        wait_workers(redis, self.rq_workers, timeout)

    def serve(self) -> HotfixProcess:
        return self.start("serve")

    def check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive() and proc.proc.returncode not in (0, None):
                tail = proc.output()[-2000:]
                raise RuntimeError(f"hotfix {proc.args[0]} exited {proc.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout=8)


def _wrapped(prefix: list[str], args: list[str], log: Path, env: dict[str, str]) -> HotfixProcess:
    import subprocess
    import sys

    proc = HotfixProcess.__new__(HotfixProcess)
    proc.args = args
    proc.log = log
    proc._handle = log.open("wb")
    proc.proc = subprocess.Popen([sys.executable, *prefix, "-m", "herald.cli", *args], stdout=proc._handle,
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc


@contextmanager
def herald(s: Sinks, workdir: Path, overrides: dict[str, Any]) -> Iterator[Herald]:
    """Write the scenario's config; yield a handle that starts processes; stop them all at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = herald_config(s, workdir, overrides)
    path = workdir / "config.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    handle = Herald(workdir, path, config)
    try:
        yield handle
    finally:
        handle.stop()


def wait_workers(redis: Redis, count: int, timeout: float = 30.0) -> None:
    """Until ``count`` RQ workers have registered (they are then warm: templates preloaded)."""
    wait_until(lambda: redis.scard("rq:workers") >= count, timeout=timeout, message=f"{count} RQ workers")


def wait_group(redis: Redis, timeout: float = 30.0) -> None:
    """Until a daemon has created the consumer group."""
    wait_until(lambda: bool(redis.exists(keys.EVENTS_STREAM)) and bool(group_info(redis)), timeout=timeout,
               message="the daemon's consumer group")
