"""One-click unsubscribe on the emails of self-service audiences (RFC 8058).

Every email to an audience with ``self_service = true`` (when links are on) is sent to each recipient
alone, carrying that recipient's own link (``hotfix.subscription_links.unsubscribe_url``):

- ``List-Unsubscribe: <{public_url}/unsubscribe/{token}>`` and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (mail clients show an unsubscribe button);
- the same link at the foot of the text and the HTML, for clients that show no button.

The message is rendered once, with ``PLACEHOLDER`` where the link goes, and each recipient's copy
replaces it (``personal``): a large audience costs one rendering, not one per address. Audiences
without ``self_service`` (on-call, management) never carry the headers nor the link.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hotfix.settings import Settings
from hotfix.subscription_links import unsubscribe_url
from workers.content import EmailContent

#: Where the rendered message puts the link before each recipient gets their own (URL-safe, never sent).
PLACEHOLDER = "https://unsubscribe.invalid/herald-unsubscribe-link"


def applies(settings: Settings, audience: str) -> bool:
    """Whether emails to ``audience`` carry a one-click unsubscribe (a self-service audience, links on)."""
    found = settings.audiences.get(audience)
    return found is not None and found.self_service and settings.http.links_enabled()


def link(settings: Settings, audience: str, address: str, now: datetime) -> str:
    """The recipient's own unsubscribe URL."""
    return unsubscribe_url(settings, audience, address, now)


def headers(url: str) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers for ``url``."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def personal(content: EmailContent, url: str) -> EmailContent:
    """``content`` with the placeholder replaced by the recipient's link."""
    return replace(content, text=content.text.replace(PLACEHOLDER, url), html=content.html.replace(PLACEHOLDER, url))
