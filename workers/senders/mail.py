"""Send emails over SMTP (aiosmtplib), classifying every refusal: one message to a batch of recipients
(``send``), or each recipient its own message (``send_each``: a personal List-Unsubscribe).

A worker keeps one event loop (``asyncio.Runner``) and one SMTP connection to the configured host for
all its jobs (one per thread: a P0 companion never waits for the main worker's transaction): connect,
EHLO, STARTTLS and AUTH happen once, not per email. Before each reuse a
NOOP checks the connection; one the server closed (idle timeout, restart) or that fails a NOOP is
dropped and a new one opened, so a stale connection never fails a delivery. A send that fails on the
connection drops it too (the next email reconnects); a batch whose recipients were all refused keeps
it (aiosmtplib resets the envelope). ``close`` says QUIT (the worker calls it when it stops).
``send_async`` / ``send_each_async`` (inside someone else's loop) and a sender built with
``keep_connection=False`` (a forking worker, whose job process exits after one job) use one connection
per call.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TypeVar

import aiosmtplib

from hotfix.enums import SmtpSecurity
from hotfix.service_settings import SmtpSettings
from workers.classify import classify_smtp, classify_smtp_exception, refused_batch
from workers.compose import flatten
from workers.errors import DeliveryError, PermanentError, TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: One transaction over a connected client.
Transaction = Callable[[aiosmtplib.SMTP], Awaitable[T]]


@dataclass
class MailResult:
    """What the server did with each recipient of a batch that was (at least partly) accepted."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, DeliveryError] = field(default_factory=dict)


@dataclass
class _Kept:
    """One thread's event loop and kept SMTP connection (``pid``: the process that made them)."""

    runner: asyncio.Runner
    client: aiosmtplib.SMTP | None
    pid: int
    closed: bool = False

    def drop(self) -> None:
        """Forget the connection (closed without a word: it failed, or the server closed it)."""
        if self.client is not None:
            self.client.close()
            self.client = None


class MailSender:
    """Deliver emails through the configured SMTP server; raises ``TransientError`` / ``PermanentError``."""

    def __init__(self, smtp: SmtpSettings, *, keep_connection: bool = True) -> None:
        self.smtp = smtp
        self.keep_connection = keep_connection
        #: SMTP connections opened so far by this sender (a kept one counts once).
        self.connections = 0
        self._secrets = tuple(s for s in (smtp.password.get_secret_value() if smtp.password else None,) if s)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._all: list[_Kept] = []

    # -- public ---------------------------------------------------------------------------------
    def send(self, message: EmailMessage, recipients: list[str]) -> MailResult:
        """Send ``message`` to every recipient in one transaction (from synchronous code: the RQ job)."""
        batch = self._batch(recipients)
        if not batch:
            return MailResult()
        return self._sync(lambda client: self._transact(client, message, batch), len(batch))

    async def send_async(self, message: EmailMessage, recipients: list[str]) -> MailResult:
        """``send`` over a connection of its own; raise if nobody got it."""
        batch = self._batch(recipients)
        if not batch:
            return MailResult()
        return await self._own(lambda client: self._transact(client, message, batch), len(batch))

    def send_each(self, messages: dict[str, EmailMessage]) -> MailResult:
        """Send each recipient its own message (``{recipient: message}``), from synchronous code."""
        if not self._batch(list(messages)):
            return MailResult()
        return self._sync(lambda client: self._transact_each(client, messages), len(messages))

    async def send_each_async(self, messages: dict[str, EmailMessage]) -> MailResult:
        """``send_each`` over a connection of its own.

        A refusal or a failure mid-way is that recipient's outcome; the recipients after a lost connection
        are retried (transient). Raises only when the connection cannot be made or nobody got a message.
        """
        if not self._batch(list(messages)):
            return MailResult()
        return await self._own(lambda client: self._transact_each(client, messages), len(messages))

    def close(self) -> None:
        """Say QUIT on every kept connection and close the loops (the worker stops; no send may be running)."""
        with self._lock:
            kept, self._all = self._all, []
        for state in kept:
            if state.pid != os.getpid():
                continue
            try:
                if state.client is not None:
                    state.runner.run(self._quit(state.client))
            except Exception as exc:  # noqa: BLE001 - closing anyway
                logger.debug("SMTP QUIT on close failed: %s", type(exc).__name__)
            finally:
                state.client, state.closed = None, True
                state.runner.close()

    # -- where a transaction runs ---------------------------------------------------------------
    def _sync(self, transaction: Transaction[MailResult], count: int) -> MailResult:
        """Run ``transaction`` on this process's loop and kept connection (or as ``_own`` where it cannot)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if not self.keep_connection:
                return asyncio.run(self._own(transaction, count))
            state = self._state()
            return state.runner.run(self._kept_run(state, transaction, count))
        # called from inside an event loop: run on a loop of our own in a helper thread
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="herald-mail") as pool:
            return pool.submit(asyncio.run, self._own(transaction, count)).result()

    async def _own(self, transaction: Transaction[MailResult], count: int) -> MailResult:
        """Connect, run ``transaction``, QUIT."""
        client = self._client()
        try:
            try:
                await self._connect(client)
                return await transaction(client)
            finally:
                await self._quit(client)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified, never chained (secrets)
            raise self._failure(exc, count) from None

    def _state(self) -> _Kept:
        """This thread's loop and kept connection (a forked child starts afresh, never touching its parent's)."""
        state: _Kept | None = getattr(self._local, "state", None)
        if state is None or state.closed or state.pid != os.getpid():
            state = _Kept(asyncio.Runner(), None, os.getpid())
            self._local.state = state
            with self._lock:
                self._all.append(state)
        return state

    async def _kept_run(self, state: _Kept, transaction: Transaction[MailResult], count: int) -> MailResult:
        """Run ``transaction`` on the kept connection; drop it when it failed on the connection."""
        try:
            client = await self._ready(state)
            try:
                result = await transaction(client)
            except aiosmtplib.SMTPRecipientsRefused:
                raise  # the server answered (and the envelope was reset): the connection is fine
            except DeliveryError:
                if not client.is_connected:
                    state.drop()
                raise
            except Exception:
                state.drop()
                raise
            if not client.is_connected:
                state.drop()
            return result
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified, never chained (secrets)
            raise self._failure(exc, count) from None

    async def _ready(self, state: _Kept) -> aiosmtplib.SMTP:
        """The kept connection if a NOOP says it still works, else a new one."""
        client = state.client
        if client is not None and client.is_connected:
            try:
                await client.noop()
                return client
            except Exception as exc:  # noqa: BLE001 - stale (closed by the server, timed out): open a new one
                logger.info("SMTP connection to %s:%d is gone (%s): reconnecting", self.smtp.host, self.smtp.port,
                            type(exc).__name__)
        state.drop()
        client = self._client()
        await self._connect(client)
        state.client = client
        return client

    # -- transactions ---------------------------------------------------------------------------
    def _batch(self, recipients: list[str]) -> list[str]:
        if not self.smtp.host:
            raise PermanentError("SMTP is not configured (no [smtp] host)")
        return list(dict.fromkeys(r.strip() for r in recipients if r.strip()))

    async def _connect(self, client: aiosmtplib.SMTP) -> None:
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        self.connections += 1

    async def _transact(self, client: aiosmtplib.SMTP, message: EmailMessage, batch: list[str]) -> MailResult:
        """One message, one envelope with every recipient of the batch."""
        envelope_from = parseaddr(self.smtp.sender)[1] or self.smtp.sender
        refusals = await self._message(client, message, envelope_from, batch)
        refused = {rcpt: classify_smtp(reply.code, reply.message) for rcpt, reply in refusals.items()}
        accepted = [rcpt for rcpt in batch if rcpt not in refused]
        if not accepted:  # aiosmtplib raises in this case; kept as a guard
            raise refused_batch(refused)
        for rcpt, error in refused.items():
            logger.warning("mail to %s refused: %s", rcpt, error.reason)
        logger.info("mail %s: %d accepted, %d refused", message.get("Message-ID", "?"), len(accepted), len(refused))
        return MailResult(accepted=accepted, refused=refused)

    async def _transact_each(self, client: aiosmtplib.SMTP, messages: dict[str, EmailMessage]) -> MailResult:
        """One transaction per recipient, each with its own message."""
        envelope_from = parseaddr(self.smtp.sender)[1] or self.smtp.sender
        result = MailResult()
        for recipient, message in messages.items():
            if not client.is_connected:
                result.refused[recipient] = TransientError("SMTP connection lost before this recipient")
                continue
            try:
                refusals = await self._message(client, message, envelope_from, [recipient])
            except Exception as exc:  # noqa: BLE001 - this recipient's outcome
                result.refused[recipient] = classify_smtp_exception(exc, secrets=self._secrets)
                continue
            if recipient in refusals:
                reply = refusals[recipient]
                result.refused[recipient] = classify_smtp(reply.code, reply.message)
            else:
                result.accepted.append(recipient)
        if not result.accepted:
            raise refused_batch(result.refused)
        logger.info("mail to %d recipient(s) one by one: %d accepted, %d refused", len(messages),
                    len(result.accepted), len(result.refused))
        return result

    @staticmethod
    async def _message(client: aiosmtplib.SMTP, message: EmailMessage, envelope_from: str,
                       recipients: list[str]) -> dict[str, aiosmtplib.SMTPResponse]:
        """Send one message to ``recipients``; the refused ones. Flattened here (``workers.compose.flatten``: the
        List-Unsubscribe header kept whole, a third cheaper than aiosmtplib's) unless an address needs SMTPUTF8,
        which aiosmtplib's ``send_message`` negotiates."""
        if envelope_from.isascii() and all(r.isascii() for r in recipients):
            eight_bit = client.supports_extension("8BITMIME")
            data = flatten(message, cte_type="8bit" if eight_bit else "7bit")
            refusals, _ = await client.sendmail(envelope_from, recipients, data,
                                                mail_options=["BODY=8BITMIME"] if eight_bit else [])
        else:
            refusals, _ = await client.send_message(message, sender=envelope_from, recipients=recipients)
        return refusals

    def _failure(self, exc: Exception, count: int) -> DeliveryError:
        error = classify_smtp_exception(exc, secrets=self._secrets)
        logger.warning("mail to %d recipient(s) via %s:%d failed: %s", count, self.smtp.host, self.smtp.port,
                       error.reason)
        return error

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
    async def _quit(client: aiosmtplib.SMTP) -> None:
        if not client.is_connected:
            return
        try:
            await client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            client.close()
