"""Email composition (workers.compose): the fast paths write what the standard library would."""
from __future__ import annotations

import email
import os
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.compose import SMTP_POLICY, compose_email, flatten
from workers.content import EmailContent

#: The standard library's policy for SMTP, without Herald's fast paths: the reference.
REFERENCE = policy.SMTP
HEADER_NAMES = ["Subject", "From", "To", "Message-ID", "In-Reply-To", "X-Hotfix-Ticket", "Content-Language",
                "Content-Type", "Content-Transfer-Encoding", "Date", "Auto-Submitted"]
#: Values as a producer could make them: ASCII, accents, emoji, encoded-word look-alikes, long, quoted, commas.
HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
    st.text(max_size=60).map(lambda t: " ".join(t.split())),
    st.sampled_from(["=?utf-8?q?caf=C3=A9?=", 'Desk, Ops <desk@example.com>', '"Ops" <o@example.com>',
                     "text/html; charset=\"utf-8\"", "Incident é 🔥", "x" * 77, "a " * 40]),
)


def reference_header(name: str, value: str) -> object:
    """The header object the standard policy makes of ``value`` (None when it refuses the value)."""
    try:
        return REFERENCE.header_store_parse(name, value)[1]
    except Exception:  # noqa: BLE001 - the standard parser fails on some odd addresses (":;0"): not ours to write
        return None


@settings(max_examples=int(os.environ.get("HOTFIX_COMPOSE_EXAMPLES", "400")), deadline=None)
@given(st.sampled_from(HEADER_NAMES), HEADER_VALUES)
def test_a_header_is_folded_as_the_standard_policy_folds_it(name: str, value: str) -> None:
    """Every header, as a header object or stored raw, is written byte for byte as email.policy.SMTP writes it."""
    for cte in ("8bit", "7bit"):
        assert outcome(SMTP_POLICY.clone(cte_type=cte).fold_binary, name, value) == \
            outcome(REFERENCE.clone(cte_type=cte).fold_binary, name, value)
    header = reference_header(name, value)
    if header is None:
        return
    assert outcome(SMTP_POLICY.fold, name, header) == outcome(REFERENCE.fold, name, header)
    for cte in ("8bit", "7bit"):
        assert outcome(SMTP_POLICY.clone(cte_type=cte).fold_binary, name, header) == \
            outcome(REFERENCE.clone(cte_type=cte).fold_binary, name, header)


def outcome(fold: Callable[[str, Any], str | bytes], name: str, header: object) -> object:
    """What ``fold`` writes, or the kind of error it raises."""
    try:
        return fold(name, header)
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return type(exc).__name__


def reference_email(content: EmailContent, *, ticket: str, locale: str) -> EmailMessage:
    """The same email composed with the standard library only."""
    message = EmailMessage(policy=REFERENCE)
    message["From"] = "Herald <herald@example.com>"
    message["To"] = "oncall@example.com"
    message["Subject"] = content.subject
    message["Message-ID"] = "<a1@example.com>"
    message["In-Reply-To"] = message["References"] = "<t0@example.com>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Hotfix-Ticket"] = ticket
    message.set_content(content.text, subtype="plain", charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    message["Content-Language"] = locale
    return message


@pytest.mark.parametrize(("subject", "ticket", "locale"), [
    ("[P0] Checkout down", "INC-1", "en"),
    ("[P0] Paiement indisponible — clients impactés", "OPS-42", "fr"),
    ("=?utf-8?q?not=20an=20encoded=20word?= " + "long " * 30 + "end", "A" * 60, "fr-CA"),
])
def test_an_email_reads_back_as_the_standard_library_would_have_written_it(subject: str, ticket: str,
                                                                           locale: str) -> None:
    """Parsed back, Herald's email has the reference's headers (values) and parts, whatever the subject."""
    content = EmailContent(subject, "Texte é\n" * 3, "<p>" + "é" * 300 + "</p>\n")
    ours = compose_email(content, sender="Herald <herald@example.com>", recipients=["oncall@example.com"],
                         message_id="<a1@example.com>", thread_id="<t0@example.com>", ticket=ticket, locale=locale)
    mine, theirs = (email.message_from_bytes(flatten(m), policy=policy.default)
                    for m in (ours, reference_email(content, ticket=ticket, locale=locale)))
    wanted = ["From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
              "X-Auto-Response-Suppress", "X-Hotfix-Ticket", "Content-Language", "MIME-Version"]
    assert [(h, mine[h]) for h in wanted] == [(h, theirs[h]) for h in wanted]
    assert [(p.get_content_type(), p.get_content()) for p in mine.walk() if not p.is_multipart()] == \
        [(p.get_content_type(), p.get_content()) for p in theirs.walk() if not p.is_multipart()]
    assert all(len(line) <= 998 for line in flatten(ours).split(b"\r\n"))


def test_each_email_has_its_own_boundary_absent_from_its_body() -> None:
    """The boundary (random, not checked against the body) differs per email and occurs only as a boundary."""
    content = EmailContent("s", "t\n", "<p>h</p>\n")
    boundaries = set()
    for n in range(50):
        message = compose_email(content, sender="h@example.com", recipients=["a@example.com"],
                                message_id=f"<m{n}@example.com>", thread_id=None, ticket="INC-1", locale="en")
        data = flatten(message)
        boundary = email.message_from_bytes(data, policy=policy.default).get_boundary()
        assert boundary and data.count(boundary.encode()) == 4  # header, two separators, closing
        boundaries.add(boundary)
    assert len(boundaries) == 50
