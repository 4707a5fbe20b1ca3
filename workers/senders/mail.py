"""Send one email to a batch of recipients over one SMTP connection (aiosmtplib), classifying every refusal."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib

from hotfix.enums import SmtpSecurity
from hotfix.settings import SmtpSettings
from workers.classify import classify_smtp, classify_smtp_exception, refused_batch
from workers.errors import DeliveryError, PermanentError

logger = logging.getLogger(__name__)


@dataclass
class MailResult:
    """What the server did with each recipient of a batch that was (at least partly) accepted."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, DeliveryError] = field(default_factory=dict)


class MailSender:
    """Deliver emails through the configured SMTP server; raises ``TransientError`` / ``PermanentError``."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp
        self._secrets = tuple(s for s in (smtp.password.get_secret_value() if smtp.password else None,) if s)

    def send(self, message: EmailMessage, recipients: list[str]) -> MailResult:
        """Synchronous ``send_async`` for the RQ worker; each call runs on a fresh event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.send_async(message, recipients))
        # called from inside an event loop: run on a loop of our own in a helper thread
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="herald-mail") as pool:
            return pool.submit(asyncio.run, self.send_async(message, recipients)).result()

    async def send_async(self, message: EmailMessage, recipients: list[str]) -> MailResult:
        """Send ``message`` to every recipient in one transaction; raise if none got it."""
        if not self.smtp.host:
            raise PermanentError("SMTP is not configured (no [smtp] host)")
        batch = list(dict.fromkeys(r.strip() for r in recipients if r.strip()))
        if not batch:
            return MailResult()
        envelope_from = parseaddr(self.smtp.sender)[1] or self.smtp.sender
        client = self._client()
        try:
            try:
                await client.connect()
                refusals, _ = await client.send_message(message, sender=envelope_from, recipients=batch)
            finally:
                await self._close(client)
        except Exception as exc:  # noqa: BLE001 - every failure is classified, never chained (secrets)
            error = classify_smtp_exception(exc, secrets=self._secrets)
            logger.warning(
                "mail to %d recipient(s) via %s:%d failed: %s", len(batch), self.smtp.host, self.smtp.port, error.reason
            )
            raise error from None
        refused = {rcpt: classify_smtp(reply.code, reply.message) for rcpt, reply in refusals.items()}
        accepted = [rcpt for rcpt in batch if rcpt not in refused]
        if not accepted:  # aiosmtplib raises in this case; kept as a guard
            raise refused_batch(refused)
        for rcpt, error in refused.items():
            logger.warning("mail to %s refused: %s", rcpt, error.reason)
        logger.info("mail %s: %d accepted, %d refused", message.get("Message-ID", "?"), len(accepted), len(refused))
        return MailResult(accepted=accepted, refused=refused)

    def _client(self) -> aiosmtplib.SMTP:
        smtp = self.smtp
        use_auth = bool(smtp.username) and smtp.password is not None
        return aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            timeout=smtp.timeout.total_seconds(),
            use_tls=smtp.security is SmtpSecurity.TLS,
            start_tls=smtp.security is SmtpSecurity.STARTTLS,
            validate_certs=smtp.validate_certs,
            username=smtp.username if use_auth else None,
            password=smtp.password.get_secret_value() if use_auth and smtp.password else None,
        )

    @staticmethod
    async def _close(client: aiosmtplib.SMTP) -> None:
        if not client.is_connected:
            return
        try:
            await client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            client.close()
