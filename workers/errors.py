"""Delivery errors: what a sender raises, and whether trying again can help.

The hierarchy, so a reader sees at once what to catch::

    DeliveryError              .reason: one line saying what went wrong (never a secret)
    │                          .recipients: per-recipient causes when a whole batch was refused
    ├── TransientError         trying again later may work; .retry_after: seconds the far end asked for
    │   └── Throttled          Herald's own rate limit of a webhook is reached: nothing was sent (a wait)
    └── PermanentError         trying again cannot help (bad card, unknown webhook, refused mailbox, bad login)

Senders only raise these; the RQ job alone turns a ``TransientError`` into a retry.
Texts come from the classification tables in ``workers.classify``, and any text
received from a server goes through ``hotfix.redaction.server_snippet`` first, so no webhook URL, password
or token ever ends up in an error, a log line or a delivery record.
"""
from __future__ import annotations

from collections.abc import Mapping


class DeliveryError(Exception):
    """A delivery did not happen; ``reason`` says why in one secret-free line."""

    def __init__(self, reason: str, *, recipients: Mapping[str, DeliveryError] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.recipients: dict[str, DeliveryError] = dict(recipients or {})

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return isinstance(self, TransientError)

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class TransientError(DeliveryError):
    """Trying again later may work (throttling, 5xx, timeouts, 4xx SMTP replies)."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        recipients: Mapping[str, DeliveryError] | None = None,
    ) -> None:
        super().__init__(reason, recipients=recipients)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"TransientError({self.reason!r}, retry_after={self.retry_after!r})"


class Throttled(TransientError):
    """Herald's shared limit of a webhook has no slot now: nothing was sent; try again in ``retry_after`` s.

    Inside an RQ job this is a wait, not an attempt (``workers.jobs``); elsewhere it is a transient failure.
    """

    def __repr__(self) -> str:
        return f"Throttled({self.reason!r}, retry_after={self.retry_after!r})"


class PermanentError(DeliveryError):
    """Trying again cannot help; the delivery is failed for good."""
