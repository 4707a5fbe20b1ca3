"""Post a rendered message to one Teams webhook: a Workflows Adaptive Card, or a legacy connector MessageCard."""
from __future__ import annotations

import json
import logging
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
import pymsteams

from hotfix.enums import TeamsFormat
from hotfix.limits import TEAMS_CARD_BYTES
from hotfix.service_settings import TEAMS_RATE
from workers.cards import teams_envelope
from workers.classify import classify_teams, classify_teams_exception
from workers.content import TeamsContent
from workers.errors import PermanentError

logger = logging.getLogger(__name__)

def connector_card(content: TeamsContent, url: str = "") -> dict[str, Any]:
    """The legacy connector's MessageCard, built with pymsteams (its public ``payload``)."""
    card = pymsteams.connectorcard(url)
    card.title(content.title)
    card.summary(content.title)
    card.text(content.text)
    card.color(content.color)
    if content.facts:
        section = pymsteams.cardsection()
        for name, value in content.facts:
            section.addFact(name, value)
        card.addSection(section)
    payload: dict[str, Any] = {"@type": "MessageCard", "@context": "https://schema.org/extensions"}
    payload.update(card.payload)
    return payload


def build_payload(fmt: TeamsFormat, content: TeamsContent, url: str = "") -> dict[str, Any]:
    """The exact JSON document POSTed to a webhook of this format."""
    if fmt is TeamsFormat.WORKFLOW:
        return teams_envelope(content.card)
    return connector_card(content, url)


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The request body for a payload (compact UTF-8 JSON)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _RedactHttpxUrls(logging.Filter):
    """Hide the path and query (where a webhook keeps its secret) of URLs httpx logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{a.scheme}://{a.host}/[redacted]" if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_HTTPX_FILTER = _RedactHttpxUrls()


def _install_log_redaction() -> None:
    for name in ("httpx", "httpcore"):
        target = logging.getLogger(name)
        if _HTTPX_FILTER not in target.filters:
            target.addFilter(_HTTPX_FILTER)


class TeamsSender:
    """Deliver to Teams webhooks; raises ``TransientError`` or ``PermanentError``, never retries."""

    #: The largest request body Teams accepts.
    max_body_bytes: ClassVar[int] = TEAMS_CARD_BYTES
    #: Requests per second one webhook takes before throttling (enforced by ``workers.throttle``).
    max_rate: ClassVar[float] = TEAMS_RATE

    def __init__(self, client: httpx.Client | None = None, *, timeout: float = 10.0) -> None:
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(follow_redirects=False)
        self.timeout = timeout
        _install_log_redaction()

    def send(self, url: str, fmt: TeamsFormat, content: TeamsContent, *, timeout: float | None = None) -> None:
        """Post ``content`` to the webhook at ``url`` in its format (``timeout`` overrides the sender's)."""
        fmt = TeamsFormat(fmt)
        body = encode_payload(build_payload(fmt, content, url))
        if len(body) > self.max_body_bytes:
            raise PermanentError(
                f"card too large: {len(body)} bytes, Teams accepts at most {self.max_body_bytes:,} bytes"
            )
        try:
            response = self._client.post(
                url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout or self.timeout
            )
        except Exception as exc:  # noqa: BLE001 - every failure is classified; the original may name the URL
            failure = classify_teams_exception(exc)
            logger.warning("teams %s post failed: %s", fmt.value, failure.reason)
            raise failure from None
        error = classify_teams(response.status_code, response.text, fmt, response.headers)
        if error is not None:
            logger.warning("teams %s post refused: %s", fmt.value, error.reason)
            raise error
        logger.info("teams %s message delivered (%d bytes, HTTP %d)", fmt.value, len(body), response.status_code)

    def close(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._own_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
