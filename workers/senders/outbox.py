"""Write messages as files instead of sending them: the channel of last resort, and a demo's mailbox."""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The folder of messages whose ticket is unknown.
UNSORTED = "_unsorted"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")
_MAX_PART = 80
#: Who an outbox email was for (an email written to a file has no envelope).
RECIPIENT_HEADER = "X-Outbox-Recipient"


def safe_part(text: str, fallback: str = "_") -> str:
    """``text`` as one harmless file-name component: no separators, no leading dot, bounded length."""
    cleaned = _UNSAFE.sub("_", text).lstrip(".")[:_MAX_PART]
    return cleaned or fallback


def _addressed(message: EmailMessage, recipient: str) -> bytes:
    """``message`` as bytes with ``X-Outbox-Recipient``, the message itself left as it was (no deep copy: 20 ms each)."""
    kept = message.get_all(RECIPIENT_HEADER) or []
    del message[RECIPIENT_HEADER]
    message[RECIPIENT_HEADER] = " ".join(recipient.split())
    try:
        return message.as_bytes()
    finally:
        del message[RECIPIENT_HEADER]
        for value in kept:
            message[RECIPIENT_HEADER] = value


class OutboxSender:
    """Write emails (``.eml``) and Teams envelopes (``.json``) under ``<directory>/<ticket>/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def write_email(self, message: EmailMessage, recipient: str, name: str, *, ticket: str | None = None) -> Path:
        """Write ``message`` as it would be delivered to ``recipient``; the ticket defaults to ``X-Hotfix-Ticket``."""
        folder = ticket or str(message.get("X-Hotfix-Ticket") or UNSORTED)
        return self._write(folder, f"{safe_part(name)}-{safe_part(recipient)}.eml", _addressed(message, recipient))

    def write_card(self, payload: dict[str, Any], channel: str, name: str, *, ticket: str | None = None) -> Path:
        """Write the exact JSON envelope that would be POSTed to the Teams channel ``channel``."""
        body = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        return self._write(ticket or UNSORTED, f"{safe_part(name)}-{safe_part(channel)}.json", body)

    def _write(self, ticket: str, filename: str, data: bytes) -> Path:
        folder = (self.directory / safe_part(ticket, UNSORTED)).resolve()
        root = self.directory.resolve()
        if folder.parent != root:  # pragma: no cover - safe_part already forbids separators and dot names
            raise ValueError("outbox path escapes its directory")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = folder / f"{stamp}-{secrets.token_hex(3)}-{filename}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        logger.info("outbox: wrote %s", target.relative_to(root))
        return target
