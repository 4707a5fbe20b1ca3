"""Who may POST: a Bearer token per source, compared in constant time; and how much they may send.

The token of a source is ``[http] tokens.<source>`` when set, else ``[http] token``;
with neither, every POST of that source is refused. Tokens never appear in a
log line or a response.
"""
from __future__ import annotations

import hmac
import logging

from starlette.requests import Request

from daemon.intake.errors import Rejected
from hotfix.service_settings import HttpSettings

log = logging.getLogger(__name__)

_BEARER = "bearer "


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case); "" for anything else."""
    if authorization and authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER):].strip()
    return ""


def same_secret(presented: str, secret: str) -> bool:
    """Whether a presented token is the secret, compared in constant time (on bytes: never raises on non-ASCII)."""
    return bool(presented) and hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


def expected_token(http: HttpSettings, source: str) -> str | None:
    """The token a source must present, or None when none is configured."""
    secret = http.tokens.get(source) or http.token
    value = secret.get_secret_value() if secret is not None else ""
    return value or None


def check_token(http: HttpSettings, source: str, authorization: str | None) -> None:
    """Raise ``Rejected`` (401) unless ``authorization`` is ``Bearer <the source's token>``."""
    expected = expected_token(http, source)
    if expected is None:
        raise Rejected(
            401, "unauthorized",
            f"[http] token is not set (nor [http] tokens.{source}): the intake refuses every POST until one is configured",
        )
    if not same_secret(bearer(authorization), expected):
        raise Rejected(401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 when its Content-Length or its actual size exceeds ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Rejected(400, "invalid", "Content-Length: not a number") from None
        if size > limit:
            raise Rejected(413, "too_large", f"body of {size} bytes exceeds [http] max_body ({limit} bytes)")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:  # a chunked body, or a Content-Length that lied
            raise Rejected(413, "too_large", f"body exceeds [http] max_body ({limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)
