"""Approval links (hotfix.approval_links): they work as long as the held message waits for the decision."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from hotfix.approval_links import WITHOUT_TIMEOUT, ApprovalGrant, expiry, links, read_grant
from hotfix.settings import Settings
from hotfix.signing import TokenError

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SETTINGS = Settings(http={"public_url": "https://herald.example.com", "signing_key": "approval-links-key-0123456789",
                          "link_ttl": "48h"})
GRANT = ApprovalGrant(held="ap-0123456789ab", ticket="INC-1", by="Alice")


@pytest.mark.parametrize(("timeout_at", "expires"), [
    (None, NOW + WITHOUT_TIMEOUT),                                          # waits for a decision: 30 days
    (NOW + timedelta(minutes=5), NOW + timedelta(hours=48)),                # a short timeout: link_ttl still
    (NOW + timedelta(days=5), NOW + timedelta(days=5)),                     # a weekend and more: until the timeout
    (NOW + timedelta(days=400), NOW + WITHOUT_TIMEOUT),                     # never beyond 30 days
    (NOW.replace(tzinfo=None) + timedelta(days=5), NOW + WITHOUT_TIMEOUT),  # an unreadable (naive) time: no timeout
])
def test_a_link_lives_as_long_as_its_message_can_wait(timeout_at: datetime | None, expires: datetime) -> None:
    """Until the held message's timeout (at least link_ttl, at most 30 days), 30 days when it has none."""
    assert expiry(SETTINGS, NOW, timeout_at) == expires


def test_a_link_of_a_message_held_over_a_weekend_still_opens_the_page() -> None:
    """Without an approval_timeout, the link read three days later still names the approver; a month later it is
    refused as expired."""
    token = urlsplit(links(SETTINGS, GRANT, NOW)["approve"]).path.rpartition("/")[2]
    assert read_grant(SETTINGS, token, NOW + timedelta(days=3)) == GRANT
    with pytest.raises(TokenError) as refused:
        read_grant(SETTINGS, token, NOW + WITHOUT_TIMEOUT + timedelta(minutes=1))
    assert refused.value.expired_at is not None
