"""Action links: what a signed ``{public_url}/act/{token}`` link lets its holder do on one hotfix.

A ``Grant`` names the ticket, who acts (a person of ``[people]``, or an audience), the actions
allowed (post an update, take a role, resolve), the role a prompt concerns, and the locale of the
page. The worker that renders a message to responders mints it; ``hotfix serve`` checks it. Both go
through ``hotfix.signing`` with the purpose ``act``, so no other kind of token opens the page.

Invariants: links exist only when ``[http] public_url`` and ``[http] signing_key`` are both set;
``grant_for`` never grants anything for an audience of kind ``stakeholders`` or ``users`` (their
messages carry no link); a grant always has a ticket and someone to act as.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from hotfix.enums import AudienceKind, Locale
from hotfix.settings import Settings
from hotfix.signing import TokenProblem, configured_signer, page_url, read_claims

#: The purpose action-link tokens are minted for.
PURPOSE = "act"


class LinkAction(str, Enum):
    """What the action page can do (the form's ``action`` field)."""

    UPDATE = "update"
    TAKE_ROLE = "take_role"
    RESOLVE = "resolve"


class Grant(BaseModel):
    """The claims of an action link."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticket: str = Field(min_length=1, max_length=64)
    by: str = Field(min_length=1, max_length=100)
    person: bool = Field(description="True: ``by`` is a person of [people]; False: an audience")
    actions: tuple[LinkAction, ...] = tuple(LinkAction)
    role: str | None = Field(None, max_length=64)
    locale: Locale = Locale.FR


def grant_for(settings: Settings, *, ticket: str, audience: str, person: str | None = None,
              role: str | None = None, locale: Locale | None = None) -> Grant | None:
    """The grant of a message to ``audience`` (or to ``person`` in it), or None when it gets no link."""
    if not settings.http.links_enabled():
        return None
    found = settings.audiences.get(audience)
    if found is not None and (found.kind is not AudienceKind.TEAM or found.self_service):  # joiners are no responders
        return None
    if person:
        return Grant(ticket=ticket, by=person, person=True, role=role, locale=locale or settings.person_locale(person))
    if audience not in settings.audiences:  # neither a person nor a configured audience: nobody to act as
        return None
    return Grant(ticket=ticket, by=audience, person=False, role=role,
                 locale=locale or settings.audience_locale(audience))


def mint(settings: Settings, grant: Grant, now: datetime) -> str:
    """A token for ``grant``, valid for ``[http] link_ttl`` from ``now``."""
    return configured_signer(settings).issue(PURPOSE, grant.model_dump(mode="json", exclude_defaults=True),
                                             expires=now + settings.http.link_ttl)


def act_url(settings: Settings, grant: Grant, now: datetime) -> str:
    """``{public_url}/act/{token}`` for ``grant``."""
    return page_url(settings, "/act/", mint(settings, grant, now))


def read_grant(settings: Settings, token: str, now: datetime) -> Grant:
    """The grant of a valid token; ``TokenError`` for a forged, expired or malformed one."""
    return read_claims(settings, PURPOSE, token, now, Grant, misfit=TokenProblem.MALFORMED)
