"""Email composition and the SMTP sender against a real aiosmtpd server."""
from __future__ import annotations

import asyncio
import concurrent.futures
import email
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from hotfix.enums import SmtpSecurity
from hotfix.service_settings import SmtpSettings
from tests.fixtures.smtp_server import SmtpTestServer, free_port, smtp_server  # noqa: F401
from workers.compose import UNDISCLOSED, compose_email, make_message_id, thread_message_id
from workers.content import EmailContent
from workers.errors import DeliveryError, PermanentError, TransientError
from workers.senders.mail import MailResult, MailSender

SENDER = "Hotfix Desk <hotfix@herald.test>"
CONTENT = EmailContent(
    subject="🚨 HOTFIX EN COURS — INC-1042 — Le paiement renvoie 500",
    text="Problème : le paiement renvoie 500.\nÉquipe : Alice, Bob.",
    html="<p>Problème : le paiement renvoie <b>500</b>.</p>",
)
PASSWORD = "correct-horse-battery-staple-42"

ServerFactory = Callable[..., SmtpTestServer]


def compose(recipients: list[str], *, content: EmailContent = CONTENT, thread: bool = True) -> EmailMessage:
    """An update email of INC-1042, threaded under its announcement."""
    return compose_email(
        content,
        sender=SENDER,
        recipients=recipients,
        message_id=make_message_id("INC-1042|ev-2|update", SENDER),
        thread_id=thread_message_id("INC-1042", "am-7f3a", SENDER) if thread else None,
        ticket="INC-1042",
        locale="fr",
    )


def parse(data: bytes) -> EmailMessage:
    """A received message, parsed."""
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- composition ---------------------------------------------------------------------------------


def test_threading_headers() -> None:
    """Every email of a hotfix replies to its announcement, whose id is recomputed from ticket and declaration id."""
    announcement_id = thread_message_id("INC-1042", "am-7f3a", SENDER)
    message = compose(["oncall@herald.test"])
    assert message["In-Reply-To"] == announcement_id and message["References"] == announcement_id
    assert message["Message-ID"] == make_message_id("INC-1042|ev-2|update", SENDER)
    assert message["Message-ID"].endswith("@herald.test>") and message["Message-ID"] != announcement_id


def test_announcement_has_no_parent() -> None:
    """Without a thread id (or when it is the message's own id) there is no In-Reply-To."""
    assert compose(["a@herald.test"], thread=False)["In-Reply-To"] is None
    own = thread_message_id("INC-1042", "am-7f3a", SENDER)
    message = compose_email(CONTENT, sender=SENDER, recipients=["a@herald.test"], message_id=own, thread_id=own,
                            ticket="INC-1042", locale="fr")
    assert message["In-Reply-To"] is None and message["References"] is None


def test_message_id_deterministic() -> None:
    """The same seed and sender domain always give the same Message-ID; another seed another one."""
    assert make_message_id("x", SENDER) == make_message_id("x", "other <someone@herald.test>")
    assert make_message_id("x", SENDER) != make_message_id("y", SENDER)
    assert make_message_id("x", "no address").endswith("@localhost>")


def test_multipart_alternative_utf8() -> None:
    """The email is multipart/alternative with a UTF-8 text part then an HTML part."""
    message = parse(compose(["a@herald.test"]).as_bytes())
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content().replace("\r\n", "\n").strip() == CONTENT.text  # CRLF on the wire
    assert parts[1].get_content().replace("\r\n", "\n").strip() == CONTENT.html
    assert message["Subject"] == CONTENT.subject


def test_automation_headers() -> None:
    """The email says it is automatic, suppresses auto-replies and names its ticket, date and language."""
    fixed = datetime(2026, 11, 25, 9, 12, tzinfo=UTC)
    message = compose_email(CONTENT, sender=SENDER, recipients=["a@herald.test"], message_id="<a@b>", thread_id=None,
                            ticket="INC-1042", locale="en", now=fixed)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Hotfix-Ticket"] == "INC-1042"
    assert message["Date"] == "Wed, 25 Nov 2026 09:12:00 +0000"
    assert message["Content-Language"] == "en" and message["From"] == SENDER


def test_to_header_one_or_undisclosed() -> None:
    """``To`` shows the address for one recipient, else ``undisclosed-recipients:;`` (recipients stay private)."""
    assert compose(["a@herald.test"])["To"] == "a@herald.test"
    many = compose(["a@herald.test", "b@herald.test"])
    assert str(many["To"]) == UNDISCLOSED and "b@herald.test" not in many.as_string()


@pytest.mark.parametrize("evil", ["Hi\r\nBcc: victim@evil.test", "Hi\nBcc: victim@evil.test", "Hi\rX-Evil: 1",
                                  "Hi\u2028Bcc: victim@evil.test"])
def test_crlf_in_subject_cannot_add_header(evil: str) -> None:
    """A line break in the subject cannot create a header: it stays inside the subject."""
    message = compose(["a@herald.test"], content=EmailContent(evil, "t", "<p>h</p>"))
    reparsed = parse(message.as_bytes())
    assert reparsed["Bcc"] is None and reparsed["X-Evil"] is None
    assert "victim@evil.test" in reparsed["Subject"] or "X-Evil" in reparsed["Subject"]
    assert "\n" not in reparsed["Subject"] and "\r" not in reparsed["Subject"]


def test_bad_thread_id_rejected() -> None:
    """A thread id that is not ``<id@domain>`` is refused rather than written into a header."""
    with pytest.raises(ValueError):
        compose_email(CONTENT, sender=SENDER, recipients=["a@herald.test"], message_id="<a@b>",
                      thread_id="<a@b>\r\nBcc: x@y", ticket="INC-1", locale="fr")


# --- sending ---------------------------------------------------------------------------------------


def test_one_connection_one_data_for_the_batch(smtp_server: ServerFactory) -> None:
    """A batch goes over one connection with one DATA, every recipient in the envelope."""
    server = smtp_server()
    recipients = ["a@herald.test", "b@herald.test", "c@herald.test"]
    result = MailSender(server.settings()).send(compose(recipients), recipients)
    assert result == MailResult(accepted=recipients, refused={})
    (received,) = server.wait_for_messages(1)
    assert received.rcpt_tos == recipients and received.mail_from == "hotfix@herald.test"
    assert server.handler.connections == 1
    message = parse(received.data)
    assert message["Message-ID"] == make_message_id("INC-1042|ev-2|update", SENDER)
    assert message["In-Reply-To"] == thread_message_id("INC-1042", "am-7f3a", SENDER)


def test_550_recipient_fails_alone(smtp_server: ServerFactory) -> None:
    """A recipient refused with 550 fails permanently while the others get the message."""
    server = smtp_server(refuse={"gone@herald.test"})
    recipients = ["a@herald.test", "gone@herald.test", "b@herald.test"]
    result = MailSender(server.settings()).send(compose(recipients), recipients)
    assert result.accepted == ["a@herald.test", "b@herald.test"]
    assert set(result.refused) == {"gone@herald.test"}
    error = result.refused["gone@herald.test"]
    assert isinstance(error, PermanentError) and "550" in error.reason
    (received,) = server.wait_for_messages(1)
    assert received.rcpt_tos == ["a@herald.test", "b@herald.test"]


def test_451_recipient_transient(smtp_server: ServerFactory) -> None:
    """A recipient deferred with 451 is transient (retry it), the others delivered."""
    server = smtp_server(defer={"later@herald.test"})
    recipients = ["a@herald.test", "later@herald.test"]
    result = MailSender(server.settings()).send(compose(recipients), recipients)
    assert result.accepted == ["a@herald.test"]
    assert isinstance(result.refused["later@herald.test"], TransientError)


def test_every_recipient_refused_raises(smtp_server: ServerFactory) -> None:
    """When every recipient is refused the send raises, transient if any refusal is, with each cause kept."""
    server = smtp_server(refuse={"gone@herald.test"}, defer={"later@herald.test"})
    recipients = ["gone@herald.test", "later@herald.test"]
    with pytest.raises(TransientError) as caught:
        MailSender(server.settings()).send(compose(recipients), recipients)
    assert isinstance(caught.value.recipients["gone@herald.test"], PermanentError)
    assert isinstance(caught.value.recipients["later@herald.test"], TransientError)
    with pytest.raises(PermanentError):
        MailSender(server.settings()).send(compose(["gone@herald.test"]), ["gone@herald.test"])
    assert server.messages == []


def test_connection_refused_is_transient() -> None:
    """No server listening is transient."""
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security=SmtpSecurity.NONE, sender=SENDER)
    with pytest.raises(TransientError, match="connect"):
        MailSender(settings).send(compose(["a@herald.test"]), ["a@herald.test"])


def test_send_repeatedly_and_async(smtp_server: ServerFactory) -> None:
    """The sync ``send`` can be called again and again, and ``send_async`` works inside a running loop."""
    server = smtp_server()
    sender = MailSender(server.settings())
    for _ in range(3):
        sender.send(compose(["a@herald.test"]), ["a@herald.test"])

    async def from_a_loop() -> MailResult:
        sync_inside_loop = sender.send(compose(["b@herald.test"]), ["b@herald.test"])
        assert sync_inside_loop.accepted == ["b@herald.test"]
        return await sender.send_async(compose(["c@herald.test"]), ["c@herald.test"])

    assert asyncio.run(from_a_loop()).accepted == ["c@herald.test"]
    assert len(server.wait_for_messages(5)) == 5


def test_one_connection_kept_for_every_email(smtp_server: ServerFactory) -> None:
    """A worker's emails share one SMTP connection (one EHLO), checked by NOOP before each reuse."""
    server = smtp_server()
    sender = MailSender(server.settings())
    for n in range(3):
        assert sender.send(compose([f"r{n}@herald.test"]), [f"r{n}@herald.test"]).accepted == [f"r{n}@herald.test"]
    assert len(server.wait_for_messages(3)) == 3
    assert server.handler.connections == 1 and sender.connections == 1
    sender.close()
    assert sender.send(compose(["again@herald.test"]), ["again@herald.test"]).accepted == ["again@herald.test"]
    assert sender.connections == 2  # closed (QUIT): the next email opens a new one
    sender.close()


def test_each_thread_keeps_its_own_connection(smtp_server: ServerFactory) -> None:
    """A P0 companion thread has its own connection: it never waits for the main worker's transaction."""
    server = smtp_server()
    sender = MailSender(server.settings())
    sender.send(compose(["main@herald.test"]), ["main@herald.test"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        for _ in range(2):
            pool.submit(sender.send, compose(["p0@herald.test"]), ["p0@herald.test"]).result()
    sender.send(compose(["main@herald.test"]), ["main@herald.test"])
    assert len(server.wait_for_messages(4)) == 4
    assert sender.connections == 2
    sender.close()
    assert sender.send(compose(["after@herald.test"]), ["after@herald.test"]).accepted == ["after@herald.test"]
    sender.close()


def test_connection_dropped_by_the_server_is_replaced(smtp_server: ServerFactory) -> None:
    """A kept connection the server closed (idle timeout, restart) fails its NOOP and is replaced: nothing fails."""
    server = smtp_server()
    sender = MailSender(server.settings())
    sender.send(compose(["a@herald.test"]), ["a@herald.test"])
    server.drop_connections()
    assert sender.send(compose(["b@herald.test"]), ["b@herald.test"]).accepted == ["b@herald.test"]
    assert [m.rcpt_tos for m in server.wait_for_messages(2)] == [["a@herald.test"], ["b@herald.test"]]
    assert sender.connections == 2
    sender.close()


def test_refused_batch_keeps_the_connection(smtp_server: ServerFactory) -> None:
    """A batch whose every recipient is refused leaves the connection usable for the next email."""
    server = smtp_server(refuse=["gone@herald.test"])
    sender = MailSender(server.settings())
    with pytest.raises(PermanentError):
        sender.send(compose(["gone@herald.test"]), ["gone@herald.test"])
    assert sender.send(compose(["a@herald.test"]), ["a@herald.test"]).accepted == ["a@herald.test"]
    assert sender.connections == 1
    sender.close()


def test_each_its_own_message_over_the_kept_connection(smtp_server: ServerFactory) -> None:
    """``send_each`` (a personal message per recipient) uses the same kept connection as ``send``."""
    server = smtp_server(refuse=["gone@herald.test"])
    sender = MailSender(server.settings())
    sender.send(compose(["a@herald.test"]), ["a@herald.test"])
    result = sender.send_each({r: compose([r]) for r in ("b@herald.test", "gone@herald.test", "c@herald.test")})
    assert result.accepted == ["b@herald.test", "c@herald.test"] and list(result.refused) == ["gone@herald.test"]
    assert [m.rcpt_tos for m in server.wait_for_messages(3)] == [["a@herald.test"], ["b@herald.test"], ["c@herald.test"]]
    assert sender.connections == 1
    sender.close()


def test_no_kept_connection_when_asked(smtp_server: ServerFactory) -> None:
    """``keep_connection=False`` (a forking worker) opens one connection per email and closes it."""
    server = smtp_server()
    sender = MailSender(server.settings(), keep_connection=False)
    for n in range(2):
        sender.send(compose([f"r{n}@herald.test"]), [f"r{n}@herald.test"])
    assert sender.connections == 2 and server.handler.connections == 2


def test_auth_success(smtp_server: ServerFactory) -> None:
    """With AUTH on, the configured username and password log in."""
    server = smtp_server(auth=("hotfix", PASSWORD))
    result = MailSender(server.settings()).send(compose(["a@herald.test"]), ["a@herald.test"])
    assert result.accepted == ["a@herald.test"]


def test_starttls(smtp_server: ServerFactory) -> None:
    """security = starttls upgrades the connection before sending (and logs in over it)."""
    server = smtp_server(starttls=True, auth=("hotfix", PASSWORD))
    sender = MailSender(server.settings())
    for address in ("a@herald.test", "b@herald.test"):
        assert sender.send(compose([address]), [address]).accepted == [address]
    assert len(server.wait_for_messages(2)) == 2
    assert sender.connections == 1  # STARTTLS and AUTH once for both emails
    sender.close()


def test_starttls_required_but_unavailable_is_transient(smtp_server: ServerFactory) -> None:
    """Asking for STARTTLS from a server that does not offer it fails as transient."""
    server = smtp_server()
    with pytest.raises(TransientError, match="STARTTLS"):
        MailSender(server.settings(security=SmtpSecurity.STARTTLS)).send(compose(["a@herald.test"]), ["a@herald.test"])


def test_password_never_in_errors_or_logs(smtp_server: ServerFactory, caplog: pytest.LogCaptureFixture) -> None:
    """A refused login (535) is permanent, and the SMTP password appears in no error text and no log record."""
    caplog.set_level(logging.DEBUG)
    server = smtp_server(auth=("hotfix", PASSWORD))
    settings = server.settings(password=SecretStr(PASSWORD + "-wrong"))
    with pytest.raises(DeliveryError) as caught:
        MailSender(settings).send(compose(["a@herald.test"]), ["a@herald.test"])
    assert isinstance(caught.value, PermanentError) and "535" in caught.value.reason
    texts = [caught.value.reason, str(caught.value), repr(caught.value), repr(settings)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    for text in texts:
        assert PASSWORD not in text
    assert caught.value.__cause__ is None


def test_not_configured_is_permanent() -> None:
    """Without a host there is nothing to send to: permanent."""
    with pytest.raises(PermanentError, match="not configured"):
        MailSender(SmtpSettings()).send(compose(["a@herald.test"]), ["a@herald.test"])
