"""Configs and helpers for the chaos tests that run the real ``hotfix`` processes."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from hotfix import keys
from tests.chaos.support import parse_mail
from tests.fixtures.herald import BASE_CONFIG, merge, quiet  # noqa: F401  # quiet: re-exported for the chaos tests
from tests.fixtures.processes import to_toml

ONE_INBOX = "oncall@example.com"


def one_inbox_config(redis_url: str, tmp_path: Path, smtp: Any, **extra: Any) -> dict[str, Any]:
    """Every message of every severity goes to one email address (and nothing to Teams)."""
    policy = {"announce": ["oncall"], "updates": ["oncall"], "resolution": ["oncall"]}
    data = merge(BASE_CONFIG, {
        "redis": {"url": redis_url},
        "outbox": {"dir": str(tmp_path / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "sender": "Herald <herald@test.local>"},
        "audiences": {"oncall": {"teams": [], "emails": [ONE_INBOX]}},
        "severity": {"P0": policy, "P1": policy, "P2": policy},
    })
    return merge(data, extra)


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "config.toml") -> Path:
    """Write a config dict as TOML and return its path."""
    path = tmp_path / name
    path.write_text(to_toml(data))
    return path


def applied_ids(redis: Redis, ticket: str) -> list[str]:
    """The ids the state of a ticket records as applied."""
    raw = redis.get(keys.hotfix(ticket))
    return list(json.loads(raw).get("applied_ids", [])) if raw else []


_TOKEN = re.compile(r"note-[A-Za-z0-9._-]+")


def mail_kinds(messages: list[Any]) -> Counter[tuple[str, str]]:
    """(ticket, announcement | update token) of every received email."""
    seen: Counter[tuple[str, str]] = Counter()
    for received in messages:
        mail = parse_mail(received.data)
        ticket = str(mail["X-Hotfix-Ticket"])
        subject = str(mail["Subject"])
        if "UPDATE" in subject:
            body = mail.get_body(("plain",))
            found = _TOKEN.search(body.get_content() if body is not None else "")
            seen[(ticket, found.group(0) if found else "update:?")] += len(received.rcpt_tos)
        else:
            seen[(ticket, "announcement" if "HOTFIX" in subject else subject)] += len(received.rcpt_tos)
    return seen
