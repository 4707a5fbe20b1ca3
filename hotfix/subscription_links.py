"""Subscription links: the signed tokens of one-click unsubscribe, double opt-in and invitations.

Four purposes, each its own key derivation (``hotfix.signing``), so a token of one never verifies as
another (nor as an action or approval link):

- ``unsubscribe`` — one address of one audience (``List-Unsubscribe`` of every email to a
  self-service audience): ``{public_url}/unsubscribe/{token}``; it lasts ``UNSUBSCRIBE_TTL``, since
  people unsubscribe from old mail too;
- ``subscribe`` — the confirmation of one address for one audience (double opt-in):
  ``{public_url}/subscribe/confirm/{token}``, valid ``CONFIRM_TTL``;
- ``invite`` — opens ``{public_url}/subscribe`` for some audiences without the viewer token
  (``hotfix subscribers AUDIENCE --invite``), valid ``[http] invite_ttl``;
- ``subscribe-form`` — what the subscription form carries in a hidden field: which audiences the
  page was opened for, so that a post needs neither the viewer token nor a cookie.

Invariants: a token names its audience (and address), and only that one: changing either changes the
signature; the pages check again that the audience is still ``self_service`` (a token of an audience
that no longer is refuses); no token is ever logged (``hotfix.redaction.without_link_tokens``).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from hotfix.settings import Settings
from hotfix.signing import configured_signer, page_url, read_claims

#: How long an unsubscribe link works (mail is read, and unsubscribed from, long after it was sent).
UNSUBSCRIBE_TTL = timedelta(days=400)
#: How long a confirmation link of the double opt-in works.
CONFIRM_TTL = timedelta(days=7)
#: How long a subscription form, once shown, may be posted.
FORM_TTL = timedelta(hours=12)


class Purpose(str, Enum):
    """What a subscription token is for."""

    UNSUBSCRIBE = "unsubscribe"
    CONFIRM = "subscribe"
    INVITE = "invite"
    FORM = "subscribe-form"


class Membership(BaseModel):
    """One address of one audience: the claims of an unsubscribe or a confirmation token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audience: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=3, max_length=254)


class Opening(BaseModel):
    """The audiences a subscription page may offer: the claims of an invitation or a form token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audiences: list[str] = Field(min_length=1, max_length=100)


def unsubscribe_url(settings: Settings, audience: str, address: str, now: datetime) -> str:
    """``{public_url}/unsubscribe/{token}`` taking ``address`` out of ``audience``."""
    claims = Membership(audience=audience, address=address).model_dump()
    token = configured_signer(settings).issue(Purpose.UNSUBSCRIBE.value, claims, expires=now + UNSUBSCRIBE_TTL)
    return page_url(settings, "/unsubscribe/", token)


def confirm_url(settings: Settings, audience: str, address: str, now: datetime) -> str:
    """``{public_url}/subscribe/confirm/{token}`` confirming ``address`` for ``audience``."""
    claims = Membership(audience=audience, address=address).model_dump()
    token = configured_signer(settings).issue(Purpose.CONFIRM.value, claims, expires=now + CONFIRM_TTL)
    return page_url(settings, "/subscribe/confirm/", token)


def invite_url(settings: Settings, audiences: list[str], now: datetime) -> str:
    """``{public_url}/subscribe?invite={token}``: the form for ``audiences``, without the viewer token."""
    claims = Opening(audiences=audiences).model_dump()
    token = configured_signer(settings).issue(Purpose.INVITE.value, claims, expires=now + settings.http.invite_ttl)
    return page_url(settings, "/subscribe?invite=", token)


def form_token(settings: Settings, audiences: list[str], now: datetime) -> str:
    """The hidden field of a subscription form shown for ``audiences``."""
    claims = Opening(audiences=audiences).model_dump()
    return configured_signer(settings).issue(Purpose.FORM.value, claims, expires=now + FORM_TTL)


def read_membership(settings: Settings, purpose: Purpose, token: str, now: datetime) -> Membership:
    """The claims of a valid unsubscribe or confirmation token; ``TokenError`` otherwise."""
    return read_claims(settings, purpose.value, token, now, Membership)


def read_opening(settings: Settings, purpose: Purpose, token: str, now: datetime) -> Opening:
    """The claims of a valid invitation or form token; ``TokenError`` otherwise."""
    return read_claims(settings, purpose.value, token, now, Opening)
