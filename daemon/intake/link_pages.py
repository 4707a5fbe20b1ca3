"""What the pages opened from a link in a message share: drawing a page, refusing, reading a form.

The action page (``daemon.intake.act``), the approval page (``daemon.intake.approval``) and the
subscription pages (``daemon.intake.subscriptions``) are reached from links whose signed token is
the credential; this module alone keeps their rules:

- a page answers with ``no-store``, ``no-referrer`` and a CSP that loads nothing from outside, runs no
  script and lets a form post only to this server;
- a refusal is a page saying why (``link_refused.html.j2``, one text per ``reason``), never a trace;
- a form is url-encoded, at most ``FORM_MAX`` bytes (or the page's own bound) and ``FORM_FIELDS``
  fields; a post a browser says comes from another site (``Sec-Fetch-Site``, else ``Origin``) is refused.
"""
from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from daemon.intake.auth import read_body
from daemon.intake.status import _HEADERS, page_environment
from hotfix.settings import Settings

log = logging.getLogger(__name__)

#: The largest form these pages take.
FORM_MAX = 32 * 1024
#: The most fields a form may have.
FORM_FIELDS = 32


class FormRefused(ValueError):
    """A post that is not a readable form: ``reason`` names it for ``link_refused.html.j2``, ``status`` the code."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LinkPages:
    """Draws the link pages of one configuration (``templates/status/<name>``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = page_environment(settings)
        self.origins = {_origin(settings.http.public_url)} if settings.http.public_url else set()

    def html(self, name: str, status: int = 200, **context: Any) -> Response:
        """The page ``name`` rendered with ``context`` (and ``locale`` defaulting to the configured one)."""
        context.setdefault("locale", self.settings.locale.value)
        page = self.env.get_template(name).render(nonce=secrets.token_urlsafe(16), timezone=self.settings.timezone,
                                                  **context)
        return HTMLResponse(page, status_code=status, headers=_HEADERS | _csp())

    def refused(self, reason: str, status: int = 403, locale: str | None = None, **details: Any) -> Response:
        """The page saying why a link or a form was refused (nothing was changed)."""
        log.info("link page refused with %d: %s", status, reason)
        return self.html("link_refused.html.j2", status, reason=reason, locale=locale or self.settings.locale.value,
                         details=details)

    async def form(self, request: Request) -> dict[str, str]:
        """The posted url-encoded form (first value of each field); ``FormRefused`` otherwise."""
        out: dict[str, str] = {}
        for key, value in await self.fields(request):
            out.setdefault(key, value)
        return out

    async def fields(self, request: Request, max_bytes: int = FORM_MAX) -> list[tuple[str, str]]:
        """Every (name, value) of the posted url-encoded form, in order; ``FormRefused`` otherwise."""
        if _cross_site(request, self.origins):
            raise FormRefused("cross_site", 403)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", ""):
            raise FormRefused("form_type", 415)
        try:
            body = await read_body(request, max_bytes)
        except Exception:  # noqa: BLE001 - Rejected 413 / 400: a form too large or lying about its size
            raise FormRefused("too_large", 413) from None
        try:
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise FormRefused("invalid", 400) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cross_site(request: Request, allowed: set[str]) -> bool:
    """Whether the browser says this POST comes from another page than Herald's own.

    ``Sec-Fetch-Site`` decides when the browser sends it; else an ``Origin`` naming another site. A
    page served with ``Referrer-Policy: no-referrer`` posts with ``Origin: null``, which says nothing.
    """
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    origin = (request.headers.get("origin") or "").lower()
    if not origin or origin == "null":
        return False
    return origin not in allowed | {_origin(str(request.base_url))}


def _csp() -> dict[str, str]:
    """Nothing from outside, no script; a form may only post to this server."""
    return {"Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")}
