"""Hostile inputs against the faster email composition and template preload (an adversarial review's findings)."""
from __future__ import annotations

import email
import logging
import pickle
import shutil
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from hotfix.settings import SHIPPED_TEMPLATES
from workers.compose import SMTP_POLICY, compose_email, flatten, make_message_id, thread_message_id
from workers.content import EmailContent
from workers.render import Renderer

CONTENT = EmailContent("[P0] Checkout down", "Texte é\n", "<p>é</p>\n")
#: A sender whose domain has 43 characters (over 34: the 42-character hash, the brackets and a fold's space no
#: longer fit a 78-character line).
LONG_DOMAIN_SENDER = "Herald <herald@incident-notifications.platform.example.com>"
#: What a macOS copy (tar, zip, SMB share) leaves next to each file: AppleDouble metadata, binary, not UTF-8.
APPLEDOUBLE = (b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002"
               b"\x00\x00\x0e\xb0\x00\x00\x00\x02\x00\x00\x0e\xe2\x00\x00\x01\x1e\xff\xfe\xc3\x28\x80\x81")


def _email(**overrides: object) -> EmailMessage:
    args: dict[str, object] = dict(sender="Herald <herald@example.com>", recipients=["oncall@example.com"],
                                   message_id="<a1@example.com>", thread_id="<t0@example.com>", ticket="INC-1",
                                   locale="en")
    args.update(overrides)
    return compose_email(CONTENT, **args)  # type: ignore[arg-type]


# -- F1: preload (fa2a7ea) ------------------------------------------------------------------------------------


def _operator_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(SHIPPED_TEMPLATES, folder)
    return folder


def test_preload_survives_a_non_utf8_stray_file_in_a_locale_folder(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """An operator's templates copied from a Mac carry ``._<name>`` AppleDouble files (binary). No message includes
    them; before fa2a7ea the worker started. preload() now reads every ``*.j2`` of ``en/``, ``fr/``, ``_base/`` and
    only caught ``jinja2.TemplateError``: the UnicodeDecodeError escaped and ``hotfix worker`` died at start."""
    folder = _operator_templates(tmp_path)
    (folder / "en" / "._announcement.subject.j2").write_bytes(APPLEDOUBLE)
    renderer = Renderer(folder, "UTC")
    with caplog.at_level(logging.WARNING, logger="workers.render"):
        renderer.preload()  # a dotfile is not a template: not read at all
    assert "._announcement" not in caplog.text


def test_preload_survives_a_non_utf8_stray_file_in_base(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Same, in ``_base/`` (e.g. a latin-1 backup ``_base/old_layout.j2`` an operator kept)."""
    folder = _operator_templates(tmp_path)
    (folder / "_base" / "old_layout.j2").write_bytes("{# mise à jour #}".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="workers.render"):
        Renderer(folder, "UTC").preload()
    assert "_base/old_layout.j2" in caplog.text  # named in a warning, the worker starts


# -- F2: the cached header registry (d492a57) ---------------------------------------------------------------


def test_a_composed_email_can_still_be_pickled() -> None:
    """A standard ``EmailMessage`` (policy.SMTP) pickles; Herald's did before d492a57. ``_MadeOnce`` keeps the
    classes ``HeaderRegistry`` builds with ``type(...)`` (``email.headerregistry._UniqueAddressHeader``…) in
    ``_made``: they are not importable by name, so pickling the policy, hence any composed email, fails."""
    message = _email()
    reference = EmailMessage(policy=policy.SMTP)
    reference["From"] = "Herald <herald@example.com>"
    reference["Subject"] = "x"
    pickle.loads(pickle.dumps(reference))  # the standard library's holds
    restored = pickle.loads(pickle.dumps(message))
    assert restored["Subject"] == message["Subject"]


def test_the_smtp_policy_can_be_pickled_after_use() -> None:
    """The policy itself (shared by every message, sent to a process pool, kept by an RQ job's exception…)."""
    _email()  # fills the registry's cache
    clone = pickle.loads(pickle.dumps(SMTP_POLICY))
    assert clone.linesep == "\r\n"


# -- F3: the short-line fast path ignores the policy's max_line_length (d492a57) ----------------------------


@pytest.mark.parametrize("max_line_length", [40, 60])
def test_a_clone_with_a_shorter_line_still_folds_like_the_standard_policy(max_line_length: int) -> None:
    """``_as_is`` hard-codes 78 (SHORT_LINE): a clone of SMTP_POLICY with a shorter ``max_line_length`` writes a
    70-character Subject line unfolded where ``email.policy.SMTP.clone(...)`` folds it."""
    value = "word " * 12 + "end"
    ours = SMTP_POLICY.clone(max_line_length=max_line_length)
    reference = policy.SMTP.clone(max_line_length=max_line_length)
    assert ours.fold("Subject", value) == reference.fold("Subject", value)
    assert ours.fold_binary("Subject", value) == reference.fold_binary("Subject", value)


# -- F4 (pre-existing, not introduced; the area the commit touched): threading headers as RFC 2047 -----------


def test_in_reply_to_and_references_stay_plain_msg_ids_with_a_longer_sender_domain() -> None:
    """With a sender domain of more than 34 characters the parent id does not fit a 78-character line even alone on a
    continuation line; ``plain_header`` then hands it to the standard policy, which folds the unstructured header
    into RFC 2047 encoded words (``In-Reply-To: =?utf-8?q?=3C...=40notific?=``). Python decodes them back, but mail clients never decode
    encoded words in msg-id fields (RFC 2047 §5 forbids them there): Outlook/Gmail/Thunderbird do not thread the
    update under the announcement. Same bytes before d492a57 (not introduced), on both the own-flatten and the
    aiosmtplib (policy.default) paths."""
    sender = LONG_DOMAIN_SENDER
    parent = thread_message_id("INC-1", "decl-1", sender)
    own = make_message_id("delivery-1", sender)
    message = _email(sender=sender, message_id=own, thread_id=parent)
    head = flatten(message).split(b"\r\n\r\n")[0].decode("ascii")
    unfolded = head.replace("\r\n ", " ") + "\r\n"
    assert "=?" not in head, head
    assert f"Message-ID: {own}\r\n" in unfolded
    assert f"In-Reply-To: {parent}\r\n" in unfolded
    assert f"References: {parent}\r\n" in unfolded


# -- differences that held up (kept as passing guards) -------------------------------------------------------


@pytest.mark.parametrize("subject", [
    "a\u2028Bcc: victim@example.com", "a\rBcc: x", "a\nBcc: x", "a\x85Bcc: x", "a\x0bBcc: x", "a\x1cBcc: x",
    "x" * 69, "x" * 70, "=?utf-8?q?hello?=", "a\x00b", "é" * 40, "(c) \"q\" \\ , ; : <e>",
])
def test_guard_subject_reads_back_as_header_safe_made_it(subject: str) -> None:
    """No injection, and the Subject parsed back is what the standard library reads from its own email."""
    from workers.compose import header_safe

    content = EmailContent(subject, "t\n", "<p>h</p>\n")
    ours = compose_email(content, sender="h@example.com", recipients=["a@example.com"], message_id="<a@b>",
                         thread_id=None, ticket="T", locale="en")
    reference = EmailMessage(policy=policy.SMTP)
    reference["Subject"] = header_safe(subject)
    for cte in ("8bit", "7bit"):
        data = flatten(ours, cte_type=cte)
        parsed = email.message_from_bytes(data, policy=policy.default)
        assert "Bcc" not in parsed
        assert parsed["Subject"] == email.message_from_bytes(reference.as_bytes(), policy=policy.default)["Subject"]
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))
