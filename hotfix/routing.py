"""From audiences and people to deliveries: one message to one audience (or person) on one channel.

``expand`` is the one place that turns audience names into deliveries (one per Teams
channel of the audience, one for its emails); the daemon's policy and timers and the
workers' fallback all route through it. ``to_person`` does the same for one person of
``[people]``: their own email, and a card mentioning them in the hotfix's Teams channels.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hotfix.enums import AudienceKind, Channel, MessageName
from hotfix.settings import Settings


@dataclass(frozen=True)
class Delivery:
    """One message to one audience on one channel; ``target`` is a Teams channel name, or None for its emails.

    ``person`` names the person of ``[people]`` the message is for (a role prompt, a reminder).
    """

    message: MessageName
    audience: str
    channel: Channel
    cause: str
    target: str | None = None
    notice: dict[str, Any] | None = field(default=None, compare=False)
    person: str | None = None


#: The audience name of a delivery to one person's own address.
PERSON_AUDIENCE = "person:"


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
        if audience.emails or audience.emails_file or audience.self_service:  # joiners alone make a list too
            out.append(Delivery(message, name, Channel.EMAIL, cause, None, notice))
    return out


def team_channels(audiences: Iterable[str], settings: Settings) -> list[tuple[str, str]]:
    """(audience, Teams channel) of the responder audiences among ``audiences``, each channel once."""
    out: dict[str, str] = {}
    for name in dict.fromkeys(audiences):
        audience = settings.audiences.get(name)
        if audience is None or audience.kind is not AudienceKind.TEAM:
            continue
        for channel in audience.teams:
            out.setdefault(channel, name)
    return [(audience, channel) for channel, audience in out.items()]


def to_person(message: MessageName, name: str, settings: Settings, cause: str, *,
              channels: Iterable[tuple[str, str]] = (), notice: dict[str, Any] | None = None) -> list[Delivery]:
    """``message`` for ``name``: to their email when ``[people]`` knows it, and (mentioning them) to ``channels``."""
    out: list[Delivery] = []
    person = settings.people.get(name)
    if person is not None and person.email:
        out.append(Delivery(message, PERSON_AUDIENCE + name, Channel.EMAIL, cause, person.email, notice, name))
    for audience, channel in channels:
        out.append(Delivery(message, audience, Channel.TEAMS, cause, channel, notice, name))
    return out
