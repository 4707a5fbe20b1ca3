"""Approval links: what a signed ``{public_url}/approval/{token}`` link lets an approver decide.

An ``approval_request`` email (and the card mentioning the approver) carries three links to the same
page — approve as is, edit the free text then approve, decline — each the same token with a ``do``
query that only pre-selects the form: following a link (a mail scanner's prefetch included) decides
nothing; posting the page's form does.

Invariants: a token names one held message (its id and ticket) and one approver, and verifies only
for the purpose ``approve`` (an action link or an unsubscribe token never opens the page); links
exist only when ``[http] public_url`` and ``[http] signing_key`` are both set; the page checks again,
when the form is posted, that the approver is still one of the audience's approvers.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from hotfix.enums import Locale
from hotfix.settings import Settings
from hotfix.signing import configured_signer, page_url, read_claims

#: The purpose approval tokens are minted for.
PURPOSE = "approve"
#: The page's path, before the token.
PATH = "/approval/"
#: How long an approval link lives when its held message has no ``approval_timeout``: the message waits for a
#: decision (or the hotfix's closing), so the link must outlive ``[http] link_ttl`` (48 h: a weekend); the page
#: refuses a message that is no longer held and an approver who no longer is one, whatever the link's age.
WITHOUT_TIMEOUT = timedelta(days=30)


class Choice(str, Enum):
    """What an approver chooses on the page (the links' ``do``, the form's ``decision``)."""

    APPROVE = "approve"
    EDIT = "edit"
    DECLINE = "decline"


class ApprovalGrant(BaseModel):
    """The claims of an approval link."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    held: str = Field(min_length=1, max_length=40, pattern=r"^ap-[0-9a-f]{12}$")
    ticket: str = Field(min_length=1, max_length=64)
    by: str = Field(min_length=1, max_length=100)
    locale: Locale = Locale.FR


def expiry(settings: Settings, now: datetime, timeout_at: datetime | None) -> datetime:
    """When a link asking about a held message stops working: as long as the message can wait for the decision
    (until its ``timeout_at``, at most ``WITHOUT_TIMEOUT``; that when it has none), never before ``[http] link_ttl``."""
    longest = now + WITHOUT_TIMEOUT
    until = longest if timeout_at is None or timeout_at.tzinfo is None else min(timeout_at, longest)
    return max(now + settings.http.link_ttl, until)


def approval_url(settings: Settings, grant: ApprovalGrant, now: datetime, timeout_at: datetime | None = None) -> str:
    """``{public_url}/approval/{token}``, valid from ``now`` until ``expiry``."""
    token = configured_signer(settings).issue(PURPOSE, grant.model_dump(mode="json"),
                                              expires=expiry(settings, now, timeout_at))
    return page_url(settings, PATH, token)


def links(settings: Settings, grant: ApprovalGrant, now: datetime, timeout_at: datetime | None = None) -> dict[str, str]:
    """The three links of an approval request (one token, the choice pre-selected), or none when links are off;
    ``timeout_at``: when the held message goes out unapproved (None: it waits for a decision)."""
    if not settings.http.links_enabled():
        return {}
    url = approval_url(settings, grant, now, timeout_at)
    return {choice.value: f"{url}?do={choice.value}" for choice in Choice}


def read_grant(settings: Settings, token: str, now: datetime) -> ApprovalGrant:
    """The grant of a valid approval token; ``TokenError`` otherwise (claims that do not fit count as forged)."""
    return read_claims(settings, PURPOSE, token, now, ApprovalGrant)
