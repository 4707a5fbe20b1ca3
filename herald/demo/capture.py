"""What each recipient saw: the renderings of the story's jobs, folded into the distinct messages of a step.

``CapturingRenderer`` is the workers' renderer plus a memory: every rendering is kept under its
job key (the one its receipts name: one message to one audience on one channel, even inside a
bundle), so the page shows exactly what was sent, on whatever channel it went. ``distinct`` turns a step's delivery receipts into the
messages they carried: recipients who got the same rendering share one entry, so each distinct
message appears once, with everyone who received it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from rq import get_current_job

from hotfix.enums import Channel, Locale, MessageName
from hotfix.state import HotfixState
from workers.cards import card_to_html
from workers.content import EmailContent, TeamsContent
from workers.jobs import current_job_key
from workers.render import Renderer


@dataclass(frozen=True)
class Rendering:
    """One message as its recipients see it: the email's HTML, or the Teams card drawn as HTML."""

    message: str
    channel: str
    locale: str
    subject: str
    html: str
    #: The message's first line (its heading): what tells apart two messages of one kind with one subject.
    headline: str = ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\x1f".join([self.channel, self.locale, self.subject, self.html]).encode()).hexdigest()


class CapturingRenderer(Renderer):
    """The workers' renderer, remembering each rendering by the id of the job that asked for it."""

    def __init__(self, templates_dir: Any, timezone: str) -> None:
        super().__init__(templates_dir, timezone)
        self.renderings: dict[str, Rendering] = {}

    def email(self, message: MessageName, locale: Locale, hotfix: HotfixState, **options: Any) -> EmailContent:
        content = super().email(message, locale, hotfix, **options)
        self._keep(Rendering(MessageName(message).value, Channel.EMAIL.value, Locale(locale).value,
                             content.subject, content.html, _headline(content.text)))
        return content

    def teams(self, message: MessageName, locale: Locale, hotfix: HotfixState, **options: Any) -> TeamsContent:
        content = super().teams(message, locale, hotfix, **options)
        self._keep(Rendering(MessageName(message).value, Channel.TEAMS.value, Locale(locale).value,
                             content.title, card_to_html(content.card), _headline(content.text)))
        return content

    def _keep(self, rendering: Rendering) -> None:
        job = get_current_job()
        key = current_job_key() or (job.id if job is not None else None)  # a bundle's job delivers several
        if key is not None:  # the last rendering of a retried job is the one that was sent
            self.renderings[key] = rendering


def _headline(text: str) -> str:
    """The first non-blank line of a message's plain text, without Markdown emphasis."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line.replace("**", "").strip()


@dataclass(frozen=True)
class Recipient:
    """Who received a message, through which audience and channel, and how it went."""

    audience: str
    channel: str
    recipient: str
    status: str
    via: str
    reason: str | None = None


@dataclass
class Message:
    """One distinct rendering of a message and everyone who received it (``rendering`` None: not rendered)."""

    message: str
    channel: str
    rendering: Rendering | None
    recipients: list[Recipient] = field(default_factory=list)

    @property
    def locale(self) -> str | None:
        return self.rendering.locale if self.rendering else None

    @property
    def audiences(self) -> list[str]:
        return list(dict.fromkeys(r.audience for r in self.recipients))


@dataclass
class Family:
    """A message on one channel within a step, with its distinct renderings (one per locale, usually)."""

    message: str
    channel: str
    variants: list[Message] = field(default_factory=list)

    @property
    def recipients(self) -> list[Recipient]:
        return [r for v in self.variants for r in v.recipients]

    @property
    def locales(self) -> list[str]:
        return list(dict.fromkeys(v.locale for v in self.variants if v.locale))


def distinct(rows: list[dict[str, Any]], renderings: dict[str, Rendering], main_locale: str) -> list[Family]:
    """The messages a step's receipts carried, each distinct rendering once with all its recipients."""
    families: dict[tuple[str, str], Family] = {}
    variants: dict[tuple[str, str], Message] = {}
    for row in rows:
        message, channel = str(row.get("message")), str(row.get("channel"))
        rendering = renderings.get(str(row.get("job")))
        key = (channel, rendering.fingerprint if rendering else f"unrendered|{message}|{row.get('audience')}")
        if key not in variants:
            variants[key] = Message(message, channel, rendering)
            families.setdefault((message, channel), Family(message, channel)).variants.append(variants[key])
        variants[key].recipients.append(Recipient(
            audience=str(row.get("audience")), channel=channel, recipient=str(row.get("recipient")),
            status=str(row.get("status")), via=str(row.get("via") or ""), reason=row.get("reason")))
    for family in families.values():
        family.variants.sort(key=lambda v: (v.locale != main_locale, v.locale or ""))
    return sorted(families.values(), key=lambda f: _CHANNELS.get(f.channel, len(_CHANNELS)))  # stable: Teams first


#: The order channels are shown in: where a team reads first.
_CHANNELS = {Channel.TEAMS.value: 0, Channel.EMAIL.value: 1}
