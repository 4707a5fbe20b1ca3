"""Signed, scoped, expiring tokens: the one way Herald puts a credential in a link.

A token carries a *purpose* (what it may be used for: ``act``, ``approve``, ``unsubscribe``,
``subscribe``, ``invite``…), plain JSON *claims* (ticket, person or audience, allowed actions…) and an expiry.
It is signed with HMAC-SHA256 (itsdangerous) under ``[http] signing_key``, the purpose mixed into
the key derivation, so a token minted for one purpose never verifies for another.

Invariants:

- ``verify`` checks the signature before reading anything else; a token that fails any check
  raises ``TokenError`` whose ``problem`` says why (forged, expired, malformed), never echoing it;
- the expiry travels inside the signed payload, so each token keeps its own lifetime;
- tokens and the key are credentials: they are never logged (``hotfix.redaction.without_link_tokens`` cleans a log
  line of them).
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from itsdangerous import BadData, BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from pydantic import BaseModel, SecretStr, ValidationError

if TYPE_CHECKING:  # the settings import this module (MIN_KEY_LENGTH)
    from hotfix.settings import Settings

Claims = TypeVar("Claims", bound=BaseModel)

#: Longer input is refused before any work (a token Herald mints is a few hundred characters).
MAX_TOKEN_LENGTH = 2048
#: A key shorter than this is refused by the settings.
MIN_KEY_LENGTH = 16
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_.-]+$")


class TokenProblem(str, Enum):
    """Why a token is refused."""

    MALFORMED = "malformed"
    FORGED = "forged"
    EXPIRED = "expired"


class TokenError(Exception):
    """A token that cannot be honoured; ``problem`` says why, ``expired_at`` when it has expired."""

    def __init__(self, problem: TokenProblem, expired_at: datetime | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.expired_at = expired_at


class Signer:
    """Issues and verifies tokens under one key; ``purpose`` scopes each token."""

    def __init__(self, key: SecretStr | str) -> None:
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        if len(secret) < MIN_KEY_LENGTH:
            raise ValueError(f"a signing key needs at least {MIN_KEY_LENGTH} characters")
        self._secret = secret

    def _serializer(self, purpose: str) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret, salt=f"hotfix-herald/{purpose}",
                                 signer_kwargs={"digest_method": hashlib.sha256})

    def issue(self, purpose: str, claims: dict[str, Any], *, expires: datetime) -> str:
        """A URL-safe token for ``purpose`` carrying ``claims`` until ``expires``."""
        if expires.tzinfo is None:
            raise ValueError("expires must be timezone-aware")
        token = self._serializer(purpose).dumps({"c": claims, "e": int(expires.timestamp())})
        return token if isinstance(token, str) else token.decode("ascii")

    def verify(self, purpose: str, token: str, *, now: datetime) -> dict[str, Any]:
        """The claims of a valid, unexpired token minted for ``purpose``; else ``TokenError``."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not _TOKEN_CHARS.match(token):
            raise TokenError(TokenProblem.MALFORMED)
        try:
            data = self._serializer(purpose).loads(token)
        except BadSignature:  # BadPayload is a BadSignature too: both mean "not ours"
            raise TokenError(TokenProblem.FORGED) from None
        if not _canonical(token):  # a changed padding bit decodes to the same bytes: still not the token we made
            raise TokenError(TokenProblem.FORGED)
        if not isinstance(data, dict) or not isinstance(data.get("c"), dict) or not isinstance(data.get("e"), int):
            raise TokenError(TokenProblem.MALFORMED)
        expires = datetime.fromtimestamp(data["e"], tz=timezone.utc)
        if now >= expires:
            raise TokenError(TokenProblem.EXPIRED, expires)
        claims: dict[str, Any] = data["c"]
        return claims


def _canonical(token: str) -> bool:
    """Whether every base64 segment of ``token`` is written the one way ``issue`` writes it."""
    try:
        return all(base64_encode(base64_decode(part)).decode("ascii") == part for part in token.lstrip(".").split("."))
    except (BadData, ValueError):
        return False


# -- the links of Herald's own pages (action, approval, subscription links) --------------------------
def configured_signer(settings: Settings) -> Signer:
    """The signer of ``[http] signing_key``; without a key no token can be Herald's (``TokenError`` forged)."""
    if settings.http.signing_key is None:
        raise TokenError(TokenProblem.FORGED)
    return Signer(settings.http.signing_key)


def read_claims(settings: Settings, purpose: str, token: str, now: datetime, model: type[Claims], *,
                misfit: TokenProblem = TokenProblem.FORGED) -> Claims:
    """The claims of a valid ``purpose`` token as ``model``; ``TokenError`` otherwise (``misfit``: signed
    claims that do not fit ``model``)."""
    claims = configured_signer(settings).verify(purpose, token, now=now)
    try:
        return model.model_validate(claims)
    except ValidationError:
        raise TokenError(misfit) from None


def page_url(settings: Settings, path: str, token: str) -> str:
    """``{public_url}{path}{token}`` (``path`` like ``/act/``, or ``/subscribe?invite=``), the token quoted."""
    if not settings.http.public_url:
        raise ValueError("[http] public_url is not set")
    return f"{settings.http.public_url}{path}{quote(token, safe='')}"
