"""What a worker process builds once and every job reuses: settings, renderer, senders."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
from redis import Redis

from hotfix.config import load_settings
from hotfix.settings import Settings
from workers.render import Renderer
from workers.senders.mail import MailSender
from workers.senders.outbox import OutboxSender
from workers.senders.teams import TeamsSender

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The long-lived parts of a worker."""

    settings: Settings
    renderer: Renderer
    teams: TeamsSender
    outbox: OutboxSender
    mail: MailSender | None
    redis: Redis | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))


_current: Runtime | None = None


def configure(settings: Settings, redis: Redis | None = None, *, keep_connections: bool = True) -> Runtime:
    """Build the runtime for this process (``hotfix worker`` and ``hotfix demo`` call it first).

    ``keep_connections``: one SMTP connection kept for every job (a forking worker's jobs run in
    processes that end with the job: there each email has its own connection).
    """
    global _current
    client = httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False)
    _current = Runtime(
        settings=settings,
        renderer=Renderer(settings.templates_path(), settings.timezone, settings.mentionable(),
                          settings.resolve_within()),
        teams=TeamsSender(client),
        outbox=OutboxSender(settings.outbox.dir),
        mail=MailSender(settings.smtp, keep_connection=keep_connections) if settings.smtp.host else None,
        redis=redis,
    )
    return _current


def close() -> None:
    """Let go of the kept SMTP connection (QUIT): the worker is stopping."""
    if _current is not None and _current.mail is not None:
        _current.mail.close()


def current() -> Runtime:
    """The configured runtime, or one built from ``$HOTFIX_CONFIG`` / ``./config.toml``."""
    return _current if _current is not None else configure(load_settings(None))
