"""The outbox: messages written as files, safely and atomically."""
from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest

from hotfix.enums import TeamsFormat
from workers.compose import compose_email, make_message_id
from workers.content import EmailContent, TeamsContent
from workers.senders.outbox import OutboxSender
from workers.senders.teams import build_payload

SENDER = "Hotfix Desk <hotfix@herald.test>"


def message(ticket: str = "INC-1042") -> email.message.EmailMessage:
    """A composed email of ``ticket``."""
    return compose_email(EmailContent("Sujet é", "texte é", "<p>é</p>"), sender=SENDER, recipients=["a@herald.test"],
                         message_id=make_message_id("seed", SENDER), thread_id=None, ticket=ticket, locale="fr")


def test_email_written_as_eml_under_ticket(tmp_path: Path) -> None:
    """An email lands as a parseable ``.eml`` under ``<dir>/<ticket>/``, naming its recipient."""
    path = OutboxSender(tmp_path).write_email(message(), "a@herald.test", "announcement")
    assert path.parent == tmp_path / "INC-1042" and path.suffix == ".eml"
    assert "announcement" in path.name and "a@herald.test" in path.name
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Sujet é" and parsed["X-Outbox-Recipient"] == "a@herald.test"


def test_one_email_to_several_recipients_names_each_once(tmp_path: Path) -> None:
    """The same email written for two recipients names only its own recipient in each file, and stays unchanged."""
    outbox, composed = OutboxSender(tmp_path), message()
    before = composed.as_bytes()
    paths = [outbox.write_email(composed, address, "update") for address in ("a@herald.test", "b@herald.test")]
    parsed = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]
    assert [m.get_all("X-Outbox-Recipient") for m in parsed] == [["a@herald.test"], ["b@herald.test"]]
    assert composed.as_bytes() == before


def test_card_written_as_exact_envelope(tmp_path: Path) -> None:
    """A Teams message lands as the exact JSON envelope that would be POSTed."""
    content = TeamsContent("t", "x", {"type": "AdaptiveCard", "version": "1.5", "body": []})
    payload = build_payload(TeamsFormat.WORKFLOW, content)
    path = OutboxSender(tmp_path).write_card(payload, "engineering", "update", ticket="INC-1042")
    assert path.parent == tmp_path / "INC-1042" and path.suffix == ".json" and "engineering" in path.name
    assert json.loads(path.read_text("utf-8")) == payload


def test_names_sort_by_time(tmp_path: Path) -> None:
    """File names sort in the order the files were written."""
    outbox = OutboxSender(tmp_path)
    written = [outbox.write_card({"n": i}, "eng", f"m{i}", ticket="INC-1") for i in range(5)]
    assert sorted(written, key=lambda p: p.name) == written


@pytest.mark.parametrize("hostile", ["../../etc", "..", "/abs/path", "a/../../b", ".hidden", "x\x00y", "C:\\win"])
def test_no_path_traversal(tmp_path: Path, hostile: str) -> None:
    """Ticket, channel, recipient and name text can never place a file outside the outbox directory."""
    root = tmp_path / "outbox"
    outbox = OutboxSender(root)
    paths = [
        outbox.write_card({}, hostile, hostile, ticket=hostile),
        outbox.write_email(message(), hostile, hostile, ticket=hostile),
    ]
    for path in paths:
        assert path.resolve().parent.parent == root.resolve()
        assert not path.parent.name.startswith(".") and not path.name.startswith(".")


def test_atomic_no_temporary_left(tmp_path: Path) -> None:
    """Writes go through a temporary file renamed into place: none is left behind."""
    outbox = OutboxSender(tmp_path)
    outbox.write_email(message(), "a@herald.test", "announcement")
    outbox.write_card({"a": 1}, "eng", "update", ticket="INC-1042")
    assert sorted(p.suffix for p in (tmp_path / "INC-1042").iterdir()) == [".eml", ".json"]


def test_unknown_ticket_goes_to_unsorted(tmp_path: Path) -> None:
    """A card with no ticket lands in ``_unsorted``."""
    path = OutboxSender(tmp_path).write_card({}, "eng", "x")
    assert path.parent.name == "_unsorted"
