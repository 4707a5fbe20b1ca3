"""What a log line, an error or a delivery record may show of a text: never a credential.

One owner for both cleanings Herald does:

- ``without_link_tokens(text)``: the signed token of every link Herald mints (``/act/…``,
  ``/approval/…``, the subscription links) and every ``token=`` or ``invite=`` query value replaced by ``…``; the
  intake's access log goes through it, so a link seen in a log can never be followed;
- ``server_snippet(text, secrets)``: a text a far end answered (an SMTP reply, a Teams body, an
  exception's message) on one line, without URLs (webhook URLs carry their secret in path and
  query) or the given secrets, cut to ``MAX_SNIPPET`` characters; every delivery error, log line
  and receipt that quotes a server goes through it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

#: What a token looks like inside a URL path or a query.
_TOKEN_IN_PATH = re.compile(r"(/(?:act|approval|unsubscribe|subscribe/confirm)/)[A-Za-z0-9_.-]+")
_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&\s])(?:token|invite)=)[^&\s\"]+")
#: A URL anywhere in a text.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
#: The longest text taken from a server's answer into an error.
MAX_SNIPPET = 200


def without_link_tokens(text: str) -> str:
    """``text`` with every link token and ``token=`` / ``invite=`` query value replaced by ``…``."""
    return _TOKEN_IN_QUERY.sub(r"\1…", _TOKEN_IN_PATH.sub(r"\1…", text))


def server_snippet(text: str, secrets: Iterable[str | None] = (), *, limit: int = MAX_SNIPPET) -> str:
    """``text`` on one line, without URLs or the given secrets, cut to ``limit`` characters."""
    out = text
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        out = out.replace(secret, "[secret]")
    out = _URL.sub("[url]", out)
    out = " ".join(out.split())
    if len(out) > limit:
        out = out[: limit - 1] + "…"
    return out
