"""Build the email of a rendered message: text + HTML, threaded under the hotfix's announcement."""
from __future__ import annotations

import copy
import hashlib
import io
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry, MessageIDHeader, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from typing import Any

from workers.content import EmailContent

#: Headers holding URLs in angle brackets (RFC 2369): written whole on one line, never folded into
#: RFC 2047 encoded words, which mail clients would not read as a URL any more.
UNFOLDED = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
#: What an email's ``To`` says when the recipients are only in the envelope.
UNDISCLOSED = "undisclosed-recipients:;"
#: Characters that end a header line somewhere (CR, LF and the other line breaks).
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_MSGID_RE = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


class _MadeOnce(HeaderRegistry):
    """The standard header classes, each made once: ``HeaderRegistry`` builds a new class for every header
    it is asked for (``type(...)``), a third of an email's composition before this (bench/ profile)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}
        # threading headers hold one msg-id here: never RFC 2047 encoded words, which clients do not decode there
        self.map_to_type("in-reply-to", MessageIDHeader)
        self.map_to_type("references", MessageIDHeader)

    def map_to_type(self, name: str, cls: type[Any]) -> None:
        super().map_to_type(name, cls)
        self._made.pop(name.lower(), None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the made classes (built with ``type``, not importable by name): made again on use."""
        return {**self.__dict__, "_made": {}}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


def _as_is(name: str, value: object, limit: int) -> str | None:
    """The header line of a short (≤ ``limit``) printable-ASCII unstructured value, which folding would write
    unchanged; else None (an address or parameter header may be written otherwise than it reads: it is folded)."""
    if type(value) is not str and not isinstance(value, UnstructuredHeader):  # a header object is a str too
        return None
    text = str(value)
    if (text and text.isascii() and text.isprintable() and "=?" not in text and text == text.strip()
            and "  " not in text and len(name) + 2 + len(text) <= limit):
        return f"{name}: {text}"
    return None


class _SmtpPolicy(EmailPolicy):
    """``email.policy.SMTP``, except that the ``UNFOLDED`` headers are written on one line (≤ 998 characters)
    and a short plain-ASCII header is written without the parse tree's refolding (same line, a tenth of the cost)."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in UNFOLDED:
            return f"{name}: {header_safe(str(value))}{self.linesep}"
        line = _as_is(name, value, self.max_line_length or sys.maxsize)
        if line is not None:
            return line + self.linesep
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in UNFOLDED:
            return self.fold(name, value).encode("ascii", "replace")
        line = _as_is(name, value, self.max_line_length or sys.maxsize)
        if line is not None:
            return (line + self.linesep).encode("ascii")
        return super().fold_binary(name, value)


#: The policy of every email Herald writes (CRLF line ends, as SMTP wants).
SMTP_POLICY = _SmtpPolicy(linesep="\r\n", header_factory=_MadeOnce())


class _Generator(BytesGenerator):
    """The standard generator, with a random boundary that is not checked against the body: the check compiles
    one regular expression per message; 128 random bits do not occur in a rendered text."""

    @classmethod
    def _make_boundary(cls, text: str | None = None) -> str:
        return f"==============={secrets.token_hex(16)}=="


def flatten(message: EmailMessage, *, cte_type: str = "8bit") -> bytes:
    """The bytes of ``message`` as sent (``SMTP_POLICY``; ``7bit`` for a server without 8BITMIME), without Bcc."""
    copy_ = copy.copy(message)
    del copy_["Bcc"]
    with io.BytesIO() as out:
        _Generator(out, policy=SMTP_POLICY.clone(cte_type=cte_type)).flatten(copy_)
        return out.getvalue()


def header_safe(value: str) -> str:
    """``value`` with every line break turned into a space, so it cannot start a new header."""
    return " ".join(_LINE_BREAKS.sub(" ", value).split())


def plain_header(message: EmailMessage, name: str, value: str) -> None:
    """Set an unstructured header: a short plain-ASCII value is stored as it is (what parsing it into a header
    object and folding it again would write), any other goes through the policy (RFC 2047, folding)."""
    value = header_safe(value)
    if _as_is(name, value, message.policy.max_line_length or sys.maxsize) is not None:
        message.set_raw(name, value)
    else:
        message[name] = value


def sender_domain(sender: str) -> str:
    """The domain of a sender address (``Desk <desk@example.com>`` → ``example.com``), else ``localhost``."""
    address = parseaddr(header_safe(sender))[1]
    domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
    return domain if _DOMAIN_RE.match(domain) else "localhost"


def make_message_id(seed: str, sender: str) -> str:
    """A deterministic ``<hash@domain-of-sender>`` Message-ID: the same seed always gives the same id."""
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{sender_domain(sender)}>"


def thread_message_id(ticket: str, declaration_id: str, sender: str) -> str:
    """The Message-ID of a hotfix's announcement, which every later email of the hotfix replies to."""
    return make_message_id(f"hotfix-thread|{ticket}|{declaration_id}", sender)


def _message_id(value: str, what: str) -> str:
    cleaned = header_safe(value).replace(" ", "")
    if not _MSGID_RE.match(cleaned):
        raise ValueError(f"{what} must look like <id@domain>, got {cleaned[:80]!r}")
    return cleaned


def compose_email(
    content: EmailContent,
    *,
    sender: str,
    recipients: list[str],
    message_id: str,
    thread_id: str | None,
    ticket: str | None,
    locale: str,
    now: datetime | None = None,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[tuple[str, str]] = (),
) -> EmailMessage:
    """A multipart/alternative (text, then HTML) UTF-8 email; recipients beyond one stay in the envelope only."""
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = header_safe(sender)
    message["To"] = header_safe(recipients[0]) if len(recipients) == 1 else UNDISCLOSED
    plain_header(message, "Subject", content.subject)
    plain_header(message, "Date", format_datetime((now or datetime.now(UTC)).astimezone(UTC)))
    own_id = _message_id(message_id, "message_id")
    plain_header(message, "Message-ID", own_id)
    if thread_id is not None:
        parent = _message_id(thread_id, "thread_id")
        if parent != own_id:
            plain_header(message, "In-Reply-To", parent)
            plain_header(message, "References", parent)
    plain_header(message, "Auto-Submitted", "auto-generated")
    plain_header(message, "X-Auto-Response-Suppress", "All")
    if ticket is not None:  # None: not about a hotfix (a subscription confirmation)
        plain_header(message, "X-Hotfix-Ticket", ticket)
    for name, value in (headers or {}).items():  # e.g. List-Unsubscribe for a self-service audience
        message[name] = header_safe(value)
    message.set_content(content.text, subtype="plain", charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    for filename, text in attachments:  # e.g. the post-mortem draft, as Markdown: the message becomes multipart/mixed
        message.add_attachment(text, subtype="markdown", charset="utf-8", filename=header_safe(filename))
    # after the parts exist: making the message multipart moves Content-* headers into the first part
    plain_header(message, "Content-Language", locale)
    return message
