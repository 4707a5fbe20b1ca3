"""A viewer session: a signed cookie, so that no status-page link or history entry carries a token.

Invariants:

- A status page opened with a good ``?token=`` answers 303 to the same URL without ``token`` and
  sets ``COOKIE``; later pages and the in-place refresh open with the cookie alone.
- The cookie is ``<expiry>.<HMAC-SHA256>``, never a token: the key is the tokens that open the
  pages, so rotating one of them ends every session. It is HttpOnly, SameSite=Strict, Path=/,
  and Secure when the page was asked over https; it lasts ``LIFETIME``.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

#: The session cookie's name.
COOKIE = "herald_session"
#: How long a session opened with ``?token=`` lasts.
LIFETIME = timedelta(days=7)
_VALUE = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})")


def _signature(tokens: list[str], expires: int) -> str:
    key = "\0".join(sorted(tokens)).encode("utf-8")
    return hmac.new(key, f"herald-session:{expires}".encode(), hashlib.sha256).hexdigest()


def issue(tokens: list[str], now: datetime) -> str:
    """A session cookie value valid until ``now + LIFETIME``."""
    expires = int((now + LIFETIME).timestamp())
    return f"{expires}.{_signature(tokens, expires)}"


def valid(value: str | None, tokens: list[str], now: datetime) -> bool:
    """Whether a cookie value was issued with these tokens and has not expired."""
    found = _VALUE.fullmatch(value or "")
    if found is None or not tokens or int(found.group(1)) < now.timestamp():
        return False
    return hmac.compare_digest(found.group(2), _signature(tokens, int(found.group(1))))


def open_session(request: Request, tokens: list[str], now: datetime) -> Response:
    """303 to the URL asked for, without ``token``, with the session cookie set."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = "/" + request.url.path.lstrip("/") + (f"?{urlencode(kept)}" if kept else "")  # never //host
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store",
                                                                    "Referrer-Policy": "no-referrer"})
    response.set_cookie(COOKIE, issue(tokens, now), max_age=int(LIFETIME.total_seconds()), path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
