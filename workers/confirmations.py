"""The RQ entry point ``send_confirmation``: the double opt-in email of a subscription.

``hotfix serve`` enqueues it (``hotfix.confirmations``) when someone asks to join a self-service
audience; this renders ``templates/<locale>/subscribe_confirm.{subject,text,html}.j2`` and sends it
to that one address (SMTP, or the outbox when no server is configured). A transient failure raises,
so RQ retries it (``hotfix.confirmations.RETRY``); a permanent one is logged and ends the job.
The link is a credential: it is never logged.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from hotfix.confirmations import Confirmation
from workers.compose import compose_email, make_message_id
from workers.content import EmailContent
from workers.errors import PermanentError
from workers.render import one_line
from workers.runtime import Runtime, current

log = logging.getLogger(__name__)

#: The template set of the confirmation, per locale.
TEMPLATE = "subscribe_confirm"


def render(rt: Runtime, confirmation: Confirmation, now: datetime) -> EmailContent:
    """Subject, text and HTML of the confirmation email."""
    context: dict[str, Any] = {"audience": confirmation.audience, "address": confirmation.address,
                               "url": confirmation.url, "locale": confirmation.locale.value,
                               "now": now.astimezone(rt.renderer.tz)}
    part = {name: rt.renderer.env.get_template(f"{confirmation.locale.value}/{TEMPLATE}.{name}.j2").render(context)
            for name in ("subject", "text", "html")}
    return EmailContent(subject=one_line(part["subject"]), text=part["text"].strip() + "\n", html=part["html"].strip() + "\n")


def send_confirmation(payload: dict[str, Any]) -> dict[str, Any]:
    """Send one confirmation email; raise on a transient failure (RQ retries)."""
    try:
        confirmation = Confirmation.model_validate(payload)
    except ValidationError as exc:
        log.error("subscription confirmation: invalid payload (%d errors): dropped", exc.error_count())
        return {"sent": 0, "error": "invalid payload"}
    rt = current()
    now = datetime.now(UTC)
    sender = rt.settings.smtp.sender
    email = compose_email(render(rt, confirmation, now), sender=sender, recipients=[confirmation.address],
                          message_id=make_message_id(f"subscribe|{confirmation.audience}|{confirmation.address}|"
                                                     f"{confirmation.asked_at.isoformat()}", sender),
                          thread_id=None, ticket=None, locale=confirmation.locale.value, now=now)
    if rt.mail is None:
        rt.outbox.write_email(email, confirmation.address, f"subscribe-{confirmation.audience}", ticket="_subscriptions")
        return {"sent": 1, "via": "outbox"}
    try:
        rt.mail.send(email, [confirmation.address])
    except PermanentError as exc:
        log.warning("subscription confirmation for %s refused for good: %s", confirmation.audience, exc.reason)
        return {"sent": 0, "error": exc.reason}
    log.info("subscription confirmation for %s sent", confirmation.audience)
    return {"sent": 1, "via": "smtp"}
