"""Where a demo plays: the settings, the Redis (the configured one, else an embedded fakeredis) and the outbox.

With nothing configured the demo runs on ``DEMO_SETTINGS``: every channel goes to the outbox
folder, so a fresh checkout needs no Redis, no SMTP server and no Teams webhook. With a
configuration the demo uses its Redis (so ``hotfix show`` finds the story's hotfix afterwards),
its policies and its channels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis

from hotfix.config import load_settings, resolve_config_path
from hotfix.connection import answering, connect
from hotfix.enums import Locale
from hotfix.settings import Settings

#: What the demo tells when no configuration exists: three audiences, the four people of the stories, policies.
DEMO_SETTINGS: dict[str, Any] = {
    "teams": {"engineering": {}},
    "audiences": {
        "oncall": {"teams": ["engineering"], "emails": ["oncall@example.com", "dev-team@example.com"]},
        "stakeholders": {"emails": ["cto@example.com", "support@example.com"], "locale": "en", "kind": "stakeholders"},
        "management": {"emails": ["management@example.com"], "kind": "stakeholders"},
    },
    "people": {name: {"email": f"{address}@example.com", "teams": f"{address}@example.com"}
               for name, address in (("Alice", "alice"), ("Bob", "bob"), ("Chloé", "chloe"), ("Dan", "dan"))},
    "severity": {
        "P0": {"resolve_within": "1h", "announce": ["oncall", "stakeholders", "management"],
               "updates": ["oncall", "stakeholders"], "resolution": ["oncall", "stakeholders", "management"],
               "update_every": "15m", "remind": ["oncall"], "warn_before": "15m", "escalate": ["management"]},
        "P1": {"resolve_within": "4h", "announce": ["oncall", "stakeholders"], "updates": ["oncall"],
               "resolution": ["oncall", "stakeholders"], "update_every": "30m", "remind": ["oncall"],
               "warn_before": "30m", "escalate": ["management"]},
        "P2": {"resolve_within": "24h", "announce": ["oncall"], "updates": ["oncall"], "resolution": ["oncall"],
               "update_every": "4h", "remind": ["oncall"]},
    },
}


@dataclass
class Stage:
    """The settings, the Redis and where the story's files go."""

    settings: Settings
    redis: Redis
    configured: bool
    #: True when the Redis is the in-process fakeredis (gone when the demo ends).
    embedded: bool
    #: A note for the terminal when the configured Redis did not answer.
    note: str | None = None

    @property
    def outbox(self) -> Path:
        return Path(self.settings.outbox.dir)

    def folder(self, ticket: str) -> Path:
        """The story's folder: its messages (when they go to the outbox), the page and the document."""
        path = self.outbox / ticket
        path.mkdir(parents=True, exist_ok=True)
        return path


def settings_for(config: Path | None, locale: Locale | None) -> tuple[Settings, bool]:
    """The configured settings (``ConfigError`` when bad), else the demo's; ``locale`` overrides the locale."""
    path = resolve_config_path(config)
    overrides: dict[str, Any] = {"locale": locale} if locale is not None else {}
    if path is None:
        return Settings(**{**DEMO_SETTINGS, **overrides}), False
    return load_settings(path, **overrides), True


def set_stage(settings: Settings, configured: bool) -> Stage:
    """The Redis of a demo: the configured one when it answers, an embedded fakeredis otherwise."""
    note = None
    if configured:
        client = connect(settings)
        if answering(client):
            return Stage(settings, client, configured=True, embedded=False)
        note = "the configured Redis does not answer: using an embedded one"
    import fakeredis

    return Stage(settings, fakeredis.FakeRedis(), configured=configured, embedded=True, note=note)
