"""Turn what a channel answered into "delivered", "try again" or "give up": one table per channel.

Teams: 2xx is success, except a legacy connector answering 200 with a body other
than ``1`` (its way of reporting errors, throttling included); 429 and 5xx are
transient; the known 4xx say what they mean and are permanent.
SMTP: 4xx replies are transient, 5xx permanent; connection-level trouble is
transient, a refused login permanent.
Every function returns the error (or ``None``); the sender raises it.
"""
from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiosmtplib
import httpx

from hotfix.enums import TeamsFormat
from hotfix.redaction import server_snippet
from workers.errors import DeliveryError, PermanentError, TransientError

#: What each notable Teams HTTP status means: (transient?, reason).
TEAMS_STATUS: dict[int, tuple[bool, str]] = {
    400: (False, "bad request: Teams rejected the payload (malformed card or envelope)"),
    401: (False, "unauthorized: the webhook's signature is invalid or expired"),
    403: (False, "forbidden: the webhook or workflow is disabled or may not post to this channel"),
    404: (False, "webhook not found: the channel or workflow was removed"),
    408: (True, "request timeout: Teams gave up waiting for the request"),
    410: (False, "webhook gone: the connector was retired or removed"),
    413: (False, "card too large: Teams accepts at most 28 KB"),
    429: (True, "throttled: more than 4 requests a second to this webhook"),
}
#: Errors a legacy connector reports inside a 200 body ("... returned HTTP error 429 ...").
_CONNECTOR_ERROR_RE = re.compile(r"HTTP error (\d{3})")
#: The body of a legacy connector's success.
CONNECTOR_OK_BODY = "1"

#: Transport exceptions of httpx, most specific first: (class, transient?, reason).
TEAMS_EXCEPTIONS: tuple[tuple[type[BaseException], bool, str], ...] = (
    (httpx.ConnectTimeout, True, "timed out connecting to Teams"),
    (httpx.ReadTimeout, True, "timed out waiting for Teams to answer"),
    (httpx.WriteTimeout, True, "timed out sending to Teams"),
    (httpx.PoolTimeout, True, "timed out waiting for a free HTTP connection"),
    (httpx.TimeoutException, True, "timed out talking to Teams"),
    (httpx.ConnectError, True, "cannot connect to Teams"),
    (httpx.RemoteProtocolError, True, "Teams closed the connection or answered garbage"),
    (httpx.ReadError, True, "connection lost while reading Teams' answer"),
    (httpx.WriteError, True, "connection lost while sending to Teams"),
    (httpx.UnsupportedProtocol, False, "invalid webhook URL: unsupported scheme"),
    (httpx.InvalidURL, False, "invalid webhook URL"),
    (httpx.TooManyRedirects, False, "the webhook URL redirects in a loop"),
    (httpx.TransportError, True, "network error talking to Teams"),
    (ssl.SSLError, True, "TLS error talking to Teams"),
    (OSError, True, "network error talking to Teams"),
)

#: What each notable SMTP reply code means.
SMTP_CODES: dict[int, str] = {
    421: "service not available, the server is closing the connection",
    450: "mailbox unavailable (busy or temporarily blocked)",
    451: "local error in processing (or greylisted), try again later",
    452: "insufficient storage on the server",
    454: "temporary authentication or TLS failure",
    500: "syntax error, command unrecognised",
    501: "syntax error in parameters",
    502: "command not implemented",
    503: "bad sequence of commands",
    530: "authentication required",
    534: "authentication mechanism too weak",
    535: "authentication failed: check the SMTP username and password",
    550: "mailbox unavailable (unknown user or rejected by policy)",
    551: "user not local",
    552: "message exceeds the mailbox's storage allocation",
    553: "mailbox name not allowed",
    554: "transaction failed (rejected as spam or by policy)",
}

#: SMTP exceptions that are always transient, most specific first: (class, reason).
_SMTP_TRANSIENT: tuple[tuple[type[BaseException], str], ...] = (
    (aiosmtplib.SMTPConnectTimeoutError, "timed out connecting to the SMTP server"),
    (aiosmtplib.SMTPReadTimeoutError, "timed out waiting for the SMTP server"),
    (aiosmtplib.SMTPTimeoutError, "timed out talking to the SMTP server"),
    (aiosmtplib.SMTPConnectError, "cannot connect to the SMTP server"),
    (aiosmtplib.SMTPServerDisconnected, "the SMTP server closed the connection"),
    (aiosmtplib.SMTPHeloError, "the SMTP server refused EHLO/HELO"),
    (asyncio.TimeoutError, "timed out talking to the SMTP server"),
    (ssl.SSLError, "TLS negotiation with the SMTP server failed"),
    (ConnectionError, "the connection to the SMTP server failed"),
    (OSError, "network error talking to the SMTP server"),
)

#: SMTP replies that say what was refused, most specific first: (class, what); the reply code decides transient
#: (4xx) or permanent (5xx).
_SMTP_BY_CODE: tuple[tuple[type[aiosmtplib.SMTPResponseException], str], ...] = (
    (aiosmtplib.SMTPAuthenticationError, "login refused"),
    (aiosmtplib.SMTPSenderRefused, "sender refused"),
    (aiosmtplib.SMTPRecipientRefused, "recipient refused"),
    (aiosmtplib.SMTPDataError, "message refused"),
    (aiosmtplib.SMTPResponseException, ""),
)
#: Everything else aiosmtplib (or the message) raises, most specific first: (class, transient?, reason).
_SMTP_OTHER: tuple[tuple[type[BaseException], bool, str], ...] = (
    (aiosmtplib.SMTPNotSupported, False, "the SMTP server does not support what is needed"),
    # STARTTLS refused or unavailable, no usable AUTH mechanism...: may be a passing server state
    (aiosmtplib.SMTPException, True, "SMTP error"),
    (ValueError, False, "invalid address or message"),
)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), or ``None``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    if isinstance(headers, httpx.Headers):
        found: str | None = headers.get(name)
        return found
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _teams_status_error(status: int, body: str, retry_after: float | None, *, via: str = "") -> DeliveryError:
    known = TEAMS_STATUS.get(status)
    if known is not None:
        transient, reason = known
    elif 500 <= status <= 599:
        transient, reason = True, "Teams server error"
    elif 400 <= status <= 499:
        transient, reason = False, "Teams refused the request"
    else:
        transient, reason = False, "unexpected answer from Teams"
    text = f"HTTP {status}{via}: {reason}"
    snippet = server_snippet(body)
    if snippet and known is None:
        text += f" ({snippet})"
    return TransientError(text, retry_after) if transient else PermanentError(text)


def classify_teams(
    status: int, body: str, fmt: TeamsFormat, headers: Mapping[str, str] | None = None
) -> DeliveryError | None:
    """``None`` when Teams took the message, else the error saying whether to try again."""
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if 200 <= status <= 299:
        if fmt is TeamsFormat.CONNECTOR and status == 200 and body.strip() != CONNECTOR_OK_BODY:
            embedded = _CONNECTOR_ERROR_RE.search(body)
            if embedded is not None:
                return _teams_status_error(int(embedded.group(1)), "", retry_after, via=" (reported in a 200 body)")
            return PermanentError(f"the connector answered 200 with an error: {server_snippet(body) or 'empty body'}")
        return None
    return _teams_status_error(status, body, retry_after)


def classify_teams_exception(exc: BaseException) -> DeliveryError:
    """The error for an exception raised while posting to Teams (timeouts and network trouble are transient)."""
    if isinstance(exc, DeliveryError):
        return exc
    for cls, transient, reason in TEAMS_EXCEPTIONS:
        if isinstance(exc, cls):
            return TransientError(reason) if transient else PermanentError(reason)
    return PermanentError(f"unexpected error posting to Teams: {type(exc).__name__}")


def classify_smtp(code: int, message: str, *, what: str = "") -> DeliveryError:
    """The error for an SMTP reply: 4xx transient, 5xx permanent (anything else transient)."""
    meaning = SMTP_CODES.get(code)
    if meaning is None:
        meaning = {4: "temporary failure", 5: "permanent failure"}.get(code // 100, "unexpected reply")
    text = f"{what + ': ' if what else ''}SMTP {code}: {meaning}"
    snippet = server_snippet(message)
    if snippet:
        text += f" ({snippet})"
    return PermanentError(text) if 500 <= code <= 599 else TransientError(text)


def classify_smtp_exception(exc: BaseException, *, secrets: tuple[str, ...] = ()) -> DeliveryError:
    """The error for an exception of aiosmtplib (or the network): transient unless retrying cannot help."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        per = {r.recipient: classify_smtp(r.code, r.message) for r in exc.recipients}
        return refused_batch(per)
    for cls, reason in _SMTP_TRANSIENT:
        if isinstance(exc, cls):
            if isinstance(exc, aiosmtplib.SMTPResponseException):
                reason += f" (SMTP {exc.code}: {server_snippet(exc.message, secrets)})"
            return TransientError(reason)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = next(w for cls, w in _SMTP_BY_CODE if isinstance(exc, cls))
        return classify_smtp(exc.code, server_snippet(exc.message, secrets), what=what)
    for cls, transient, prefix in _SMTP_OTHER:
        if isinstance(exc, cls):
            text = f"{prefix}: {server_snippet(getattr(exc, 'message', None) or str(exc), secrets)}"
            return TransientError(text) if transient else PermanentError(text)
    return PermanentError(f"unexpected error sending mail: {type(exc).__name__}")


def refused_batch(per_recipient: Mapping[str, DeliveryError]) -> DeliveryError:
    """One error for a batch whose every recipient was refused: transient if any refusal is."""
    parts = "; ".join(f"{rcpt}: {err.reason}" for rcpt, err in per_recipient.items())
    reason = server_snippet(f"all {len(per_recipient)} recipients refused: {parts}", limit=500)
    if any(err.transient for err in per_recipient.values()):
        return TransientError(reason, recipients=per_recipient)
    return PermanentError(reason, recipients=per_recipient)
