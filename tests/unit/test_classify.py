"""The classification tables: which answers are delivered, retried or given up on."""
from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiosmtplib
import httpx
import pytest

from hotfix.enums import TeamsFormat
from tests.fixtures.teams_server import CONNECTOR_THROTTLED
from workers.classify import (
    classify_smtp,
    classify_smtp_exception,
    classify_teams,
    classify_teams_exception,
    parse_retry_after,
)
from workers.errors import DeliveryError, PermanentError, TransientError

W, C = TeamsFormat.WORKFLOW, TeamsFormat.CONNECTOR
_REQ = httpx.Request("POST", "https://example.webhook.office.com/webhookb2/secret-token")

TEAMS_CASES = [
    # status, body, format, headers, expected class (None = delivered), words in the reason
    (200, "", W, {}, None, ""),
    (202, "", W, {}, None, ""),
    (204, "", W, {}, None, ""),
    (200, "1", C, {}, None, ""),
    (200, " 1\n", C, {}, None, ""),
    (202, "", C, {}, None, ""),
    (200, CONNECTOR_THROTTLED, C, {}, TransientError, "throttled"),
    (200, "Webhook message delivery failed: ... returned HTTP error 413", C, {}, PermanentError, "too large"),
    (200, "Summary or Text is required.", C, {}, PermanentError, "connector answered 200"),
    (200, "", C, {}, PermanentError, "empty body"),
    (200, "anything", W, {}, None, ""),
    (429, "", W, {"Retry-After": "7"}, TransientError, "throttled"),
    (500, "", W, {}, TransientError, "server error"),
    (502, "", C, {}, TransientError, "server error"),
    (503, "", W, {"Retry-After": "3"}, TransientError, "server error"),
    (504, "", W, {}, TransientError, "server error"),
    (408, "", W, {}, TransientError, "timeout"),
    (400, "bad card", W, {}, PermanentError, "bad request"),
    (401, "", W, {}, PermanentError, "unauthorized"),
    (403, "", W, {}, PermanentError, "forbidden"),
    (404, "", W, {}, PermanentError, "webhook not found: the channel or workflow was removed"),
    (410, "", C, {}, PermanentError, "gone"),
    (413, "", W, {}, PermanentError, "card too large"),
    (418, "teapot", W, {}, PermanentError, "HTTP 418"),
    (302, "", W, {"Location": "https://elsewhere"}, PermanentError, "unexpected"),
]


@pytest.mark.parametrize(("status", "body", "fmt", "headers", "expected", "words"), TEAMS_CASES)
def test_classify_teams_table(
    status: int, body: str, fmt: TeamsFormat, headers: dict[str, str], expected: type[DeliveryError] | None, words: str
) -> None:
    """Every Teams status/body/format combination maps to delivered, transient or permanent with a telling reason."""
    error = classify_teams(status, body, fmt, headers)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert error is not None and words in error.reason


def test_teams_429_retry_after_seconds() -> None:
    """A 429's Retry-After in seconds becomes ``retry_after``."""
    error = classify_teams(429, "", W, httpx.Headers({"retry-after": "12"}))
    assert isinstance(error, TransientError) and error.retry_after == 12.0


def test_teams_429_retry_after_http_date() -> None:
    """A 429's Retry-After as an HTTP date becomes the seconds until then."""
    when = datetime.now(UTC) + timedelta(seconds=90)
    error = classify_teams(429, "", W, {"Retry-After": format_datetime(when, usegmt=True)})
    assert isinstance(error, TransientError) and error.retry_after is not None
    assert 85 <= error.retry_after <= 91


def test_teams_429_without_retry_after() -> None:
    """A 429 without Retry-After is transient with no hint."""
    error = classify_teams(429, "", W, {})
    assert isinstance(error, TransientError) and error.retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), ("", None), (None, None), ("soon", None), ("nan", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After accepts delta-seconds and HTTP dates, clamps the past to 0 and ignores garbage."""
    assert parse_retry_after(value) == expected


def test_teams_error_body_urls_redacted() -> None:
    """A URL echoed in an error body never reaches the reason."""
    error = classify_teams(418, "failed for https://x.webhook.office.com/webhookb2/abc?sig=SECRET", W, {})
    assert error is not None and "SECRET" not in error.reason and "webhook.office.com" not in error.reason


TEAMS_EXCEPTION_CASES = [
    (httpx.ConnectTimeout("timed out", request=_REQ), TransientError, "connecting"),
    (httpx.ReadTimeout("timed out", request=_REQ), TransientError, "waiting"),
    (httpx.WriteTimeout("timed out", request=_REQ), TransientError, "sending"),
    (httpx.PoolTimeout("timed out", request=_REQ), TransientError, "free HTTP connection"),
    (httpx.ConnectError("[Errno 111] Connection refused", request=_REQ), TransientError, "cannot connect"),
    (httpx.RemoteProtocolError("Server disconnected", request=_REQ), TransientError, "closed the connection"),
    (httpx.ReadError("reset", request=_REQ), TransientError, "reading"),
    (httpx.WriteError("broken pipe", request=_REQ), TransientError, "sending"),
    (httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'", request=_REQ),
     PermanentError, "unsupported scheme"),
    (httpx.InvalidURL("Invalid URL"), PermanentError, "invalid webhook URL"),
    (ssl.SSLError("bad handshake"), TransientError, "TLS"),
    (OSError("network unreachable"), TransientError, "network error"),
    (ValueError("boom"), PermanentError, "ValueError"),
]


@pytest.mark.parametrize(("exc", "expected", "words"), TEAMS_EXCEPTION_CASES)
def test_classify_teams_exception_table(exc: BaseException, expected: type[DeliveryError], words: str) -> None:
    """Timeouts and network trouble are transient; a bad URL or an unknown error is permanent."""
    error = classify_teams_exception(exc)
    assert type(error) is expected and words in error.reason
    assert "secret-token" not in error.reason


SMTP_CASES = [
    (421, "closing", TransientError, "service not available"),
    (450, "busy", TransientError, "mailbox unavailable"),
    (451, "greylisted", TransientError, "try again later"),
    (452, "full", TransientError, "storage"),
    (454, "tls", TransientError, "temporary"),
    (499, "odd", TransientError, "temporary failure"),
    (500, "what", PermanentError, "syntax"),
    (530, "auth", PermanentError, "authentication required"),
    (535, "5.7.8 bad credentials", PermanentError, "authentication failed"),
    (550, "no such user", PermanentError, "mailbox unavailable"),
    (552, "too big", PermanentError, "storage"),
    (553, "bad name", PermanentError, "not allowed"),
    (554, "spam", PermanentError, "transaction failed"),
    (599, "odd", PermanentError, "permanent failure"),
    (-1, "garbage", TransientError, "unexpected reply"),
]


@pytest.mark.parametrize(("code", "message", "expected", "words"), SMTP_CASES)
def test_classify_smtp_table(code: int, message: str, expected: type[DeliveryError], words: str) -> None:
    """SMTP 4xx replies are transient, 5xx permanent, each with what the code means and the server's words."""
    error = classify_smtp(code, message)
    assert type(error) is expected and words in error.reason and str(code) in error.reason and message in error.reason


SMTP_EXCEPTION_CASES = [
    (aiosmtplib.SMTPConnectError("Error connecting to 127.0.0.1 on port 1"), TransientError, "cannot connect"),
    (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), TransientError, "timed out connecting"),
    (aiosmtplib.SMTPConnectResponseError(554, "go away"), TransientError, "cannot connect"),
    (aiosmtplib.SMTPReadTimeoutError("Timed out waiting"), TransientError, "timed out waiting"),
    (aiosmtplib.SMTPTimeoutError("Timed out"), TransientError, "timed out"),
    (aiosmtplib.SMTPServerDisconnected("Unexpected EOF"), TransientError, "closed the connection"),
    (aiosmtplib.SMTPHeloError(501, "bad hostname"), TransientError, "EHLO/HELO"),
    (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), TransientError, "STARTTLS"),
    (ssl.SSLError("certificate verify failed"), TransientError, "TLS"),
    (TimeoutError(), TransientError, "timed out"),
    (ConnectionResetError("reset"), TransientError, "connection"),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication credentials invalid"), PermanentError,
     "authentication failed"),
    (aiosmtplib.SMTPAuthenticationError(454, "4.7.0 try later"), TransientError, "login refused"),
    (aiosmtplib.SMTPSenderRefused(550, "sender rejected", "hotfix@x"), PermanentError, "sender refused"),
    (aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x"), PermanentError, "recipient refused"),
    (aiosmtplib.SMTPRecipientRefused(451, "later", "a@x"), TransientError, "recipient refused"),
    (aiosmtplib.SMTPDataError(552, "too big"), PermanentError, "message refused"),
    (aiosmtplib.SMTPDataError(451, "try later"), TransientError, "message refused"),
    (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported"), PermanentError, "does not support"),
    (ValueError("Address contains a line break"), PermanentError, "invalid address"),
    (RuntimeError("boom"), PermanentError, "RuntimeError"),
]


@pytest.mark.parametrize(("exc", "expected", "words"), SMTP_EXCEPTION_CASES)
def test_classify_smtp_exception_table(exc: BaseException, expected: type[DeliveryError], words: str) -> None:
    """Connection, EHLO, STARTTLS and timeout trouble is transient; a refused login (535) is permanent."""
    error = classify_smtp_exception(exc)
    assert type(error) is expected and words in error.reason


def test_all_recipients_refused_mixed_is_transient_with_details() -> None:
    """A batch refused as a whole is transient if any refusal is, and keeps each recipient's cause."""
    exc = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "unknown", "a@x"), aiosmtplib.SMTPRecipientRefused(451, "later", "b@x")]
    )
    error = classify_smtp_exception(exc)
    assert isinstance(error, TransientError)
    assert isinstance(error.recipients["a@x"], PermanentError) and isinstance(error.recipients["b@x"], TransientError)


def test_all_recipients_refused_permanently_is_permanent() -> None:
    """A batch refused with 5xx for everyone is permanent."""
    exc = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "unknown", "a@x")])
    assert isinstance(classify_smtp_exception(exc), PermanentError)


def test_smtp_exception_secret_redacted() -> None:
    """A server echoing the password cannot put it into the reason."""
    exc = aiosmtplib.SMTPAuthenticationError(535, "bad credentials for hotfix / hunter2-pass")
    assert "hunter2-pass" not in classify_smtp_exception(exc, secrets=("hunter2-pass",)).reason


def test_delivery_error_hierarchy() -> None:
    """Both kinds are DeliveryErrors; ``transient`` tells them apart and ``str`` is the reason."""
    transient, permanent = TransientError("later", 3.0), PermanentError("never")
    assert isinstance(transient, DeliveryError) and isinstance(permanent, DeliveryError)
    assert transient.transient and not permanent.transient
    assert str(transient) == "later" and transient.retry_after == 3.0
