"""From audiences to deliveries: one message to one audience on one channel.

``expand`` is the one place that turns audience names into deliveries (one per Teams
channel of the audience, one for its emails); the daemon's policy and timers and the
workers' fallback all route through it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hotfix.enums import Channel, MessageName
from hotfix.settings import Settings


@dataclass(frozen=True)
class Delivery:
    """One message to one audience on one channel; ``target`` is a Teams channel name, or None for its emails."""

    message: MessageName
    audience: str
    channel: Channel
    cause: str
    target: str | None = None
    notice: dict[str, Any] | None = field(default=None, compare=False)


def expand(message: MessageName, audiences: Iterable[str], settings: Settings, cause: str,
           notice: dict[str, Any] | None = None) -> list[Delivery]:
    """One delivery per Teams channel of each audience, and one for its emails."""
    out: list[Delivery] = []
    for name in dict.fromkeys(audiences):
        audience = settings.audiences.get(name)
        if audience is None:
            continue
        for channel in audience.teams:
            out.append(Delivery(message, name, Channel.TEAMS, cause, channel, notice))
        if audience.emails or audience.emails_file:
            out.append(Delivery(message, name, Channel.EMAIL, cause, None, notice))
    return out
