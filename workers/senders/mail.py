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
from workers.compose import flatten
from workers.errors import DeliveryError, PermanentError, TransientError

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

    def send_each(self, messages: dict[str, EmailMessage]) -> MailResult:
        """Synchronous ``send_each_async``: one message per recipient (``{recipient: message}``)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.send_each_async(messages))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="herald-mail") as pool:
            return pool.submit(asyncio.run, self.send_each_async(messages)).result()

    async def send_each_async(self, messages: dict[str, EmailMessage]) -> MailResult:
        """Send each recipient its own message over one connection (a personal List-Unsubscribe, say).

        A refusal or a failure mid-way is that recipient's outcome; the recipients after a lost connection
        are retried (transient). Raises only when the connection cannot be made or nobody got a message.
        """
        if not self.smtp.host:
            raise PermanentError("SMTP is not configured (no [smtp] host)")
        if not messages:
            return MailResult()
        envelope_from = parseaddr(self.smtp.sender)[1] or self.smtp.sender
        client = self._client()
        result = MailResult()
        try:
            try:
                await client.connect()
                if client.is_ehlo_or_helo_needed:
                    await client.ehlo()
            except Exception as exc:  # noqa: BLE001 - classified, never chained (secrets)
                raise classify_smtp_exception(exc, secrets=self._secrets) from None
            eight_bit = client.supports_extension("8BITMIME")
            options = ["BODY=8BITMIME"] if eight_bit else []
            for recipient, message in messages.items():
                if not client.is_connected:
                    result.refused[recipient] = TransientError("SMTP connection lost before this recipient")
                    continue
                try:
                    if recipient.isascii() and envelope_from.isascii():  # our own flattening keeps List-Unsubscribe whole
                        data = flatten(message, cte_type="8bit" if eight_bit else "7bit")
                        refusals, _ = await client.sendmail(envelope_from, [recipient], data, mail_options=options)
                    else:
                        refusals, _ = await client.send_message(message, sender=envelope_from, recipients=[recipient])
                except Exception as exc:  # noqa: BLE001 - this recipient's outcome
                    result.refused[recipient] = classify_smtp_exception(exc, secrets=self._secrets)
                    continue
                if recipient in refusals:
                    reply = refusals[recipient]
                    result.refused[recipient] = classify_smtp(reply.code, reply.message)
                else:
                    result.accepted.append(recipient)
        finally:
            await self._close(client)
        if not result.accepted:
            raise refused_batch(result.refused)
        logger.info("mail to %d recipient(s) one by one: %d accepted, %d refused", len(messages),
                    len(result.accepted), len(result.refused))
        return result

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
