"""Never refused for size: free texts are accepted, stored whole (bounded) and cut per channel with a visible marker."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from hotfix.enums import Channel, Locale, MessageName, Severity
from hotfix.events import InvalidEvent, parse_event
from hotfix.jobs import snapshot
from hotfix.limits import (
    CARD_TEXT_CHARS,
    EMAIL_TEXT_CHARS,
    JOB_TEXT_MAX,
    SHORT_TEXT_MAX,
    STORED_CUT,
    STORED_TEXT_MAX,
    SUBJECT_CHARS,
    TEAMS_CARD_BYTES,
    channel_text_chars,
    clip,
    clip_all,
    truncation_marker,
)
from hotfix.settings import SHIPPED_TEMPLATES
from tests.unit.test_render import card_texts
from workers.cards import envelope_size
from workers.render import Renderer
from workers.samples import sample_hotfix

#: A frozen clock for the renderer.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
#: A pasted stack trace: 60 KB.
TRACE = "Traceback (most recent call last):\n" + "  File \"app/checkout.py\", line 42, in pay\n" * 1_400
MARKERS = {Locale.FR: "… (texte tronqué, version complète : `hotfix show INC-1042`)",
           Locale.EN: "… (text truncated, full version: `hotfix show INC-1042`)"}


def test_budgets_nest() -> None:
    """A text cut for a job is always longer than every channel budget, so a channel always adds its marker."""
    for channel in Channel:
        assert channel_text_chars(channel) + len(truncation_marker("fr", "T" * 64)) < JOB_TEXT_MAX
    assert CARD_TEXT_CHARS < EMAIL_TEXT_CHARS < JOB_TEXT_MAX < STORED_TEXT_MAX


@pytest.mark.parametrize("text,limit,expected", [
    ("short", 10, "short"),
    ("exactly ten", 11, "exactly ten"),
    ("one two three four", 12, "one two…"),
    ("x" * 30, 10, "x" * 9 + "…"),
])
def test_clip(text: str, limit: int, expected: str) -> None:
    """clip keeps what fits, cuts at a word when one is near, and ends with the marker, within the limit."""
    assert clip(text, limit) == expected
    assert len(clip(text, limit)) <= limit


def test_clip_all_touches_strings_only() -> None:
    """Every long string of nested JSON data is cut; keys, numbers and short strings are kept."""
    data = {"k" * 50: ["y" * 50, 7, None, {"z": "short"}]}
    assert clip_all(data, 10) == {"k" * 50: ["y" * 9 + "…", 7, None, {"z": "short"}]}


@pytest.mark.parametrize("field", ["impact", "title", "message", "next_step", "users_affected"])
def test_a_60kb_free_text_is_accepted_whole(field: str) -> None:
    """A 60 KB free text is valid on a declaration and kept whole (no 4,000-character limit any more)."""
    event = parse_event({"type": "declared", "ticket": "INC-1", "title": "t", "severity": "P0", field: TRACE})
    assert getattr(event, field) == TRACE.strip()


def test_a_text_beyond_the_stored_bound_is_cut_not_refused() -> None:
    """Only a direct XADD can bring more than 1 MiB: it is stored cut, with a marker, never dead-lettered."""
    event = parse_event({"type": "updated", "ticket": "INC-1", "message": "m" * (STORED_TEXT_MAX + 10)})
    assert event.message is not None and len(event.message) == STORED_TEXT_MAX
    assert event.message.endswith(STORED_CUT)


def test_identifiers_stay_bounded() -> None:
    """Names and identifiers are not free text: too long is refused, naming the field."""
    with pytest.raises(InvalidEvent, match="team.coordinator"):
        parse_event({"type": "updated", "ticket": "INC-1", "team": {"coordinator": "a" * (SHORT_TEXT_MAX + 1)}})


def test_a_job_carries_texts_cut_to_the_job_bound() -> None:
    """A job's hotfix snapshot is bounded whatever the impact's size."""
    hotfix = sample_hotfix(Severity.P0, now=NOW).model_copy(update={"impact": TRACE * 5})
    assert len(snapshot(hotfix).impact or "") <= JOB_TEXT_MAX


def test_an_approval_request_job_carries_the_held_message_cut_to_the_job_bound() -> None:
    """Attack: a 1 MB update held for approval made each approval_request job carry it whole (1 MB per approver and
    channel, where the update's own job carried 50 KB): the notice is cut to the job bound like the snapshot."""
    from daemon.lifecycle import apply
    from daemon.planner import plan
    from hotfix.settings import Settings

    settings = Settings(people={"Alice": {"email": "alice@corp.example"}},
                        audiences={"oncall": {"emails": ["oncall@corp.example"]},
                                   "customers": {"emails": ["status@customers.example"], "approval": ["Alice"]}},
                        severity={"P0": {"resolve_within": "1h", "announce": ["oncall"], "updates": ["oncall", "customers"]}})
    state = None
    for i, fields in enumerate([{"type": "declared", "title": "Payments down", "severity": "P0"},
                                {"type": "updated", "message": "x" * STORED_TEXT_MAX}]):
        event = parse_event({**fields, "ticket": "BIG-1", "id": f"e{i}", "at": NOW.isoformat()}, now=NOW)
        planned = plan(apply(state, event, NOW), settings, NOW)
        state = planned.state
    (request,) = [j.payload for j in planned.jobs if j.payload.message is MessageName.APPROVAL_REQUEST]
    held = request.notice["approval"]["event"]["message"]  # type: ignore[index]
    assert len(held) <= JOB_TEXT_MAX and len(repr(request.wire())) < 100_000  # was over 1,000,000


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("message", list(MessageName))
def test_every_message_cuts_a_60kb_text_per_channel_with_the_marker(locale: Locale, message: MessageName) -> None:
    """Card under 28 KB, subject one line, each text within its channel budget, ending with the marker."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
    long = {"impact": TRACE, "title": "Checkout " + TRACE, "message": TRACE, "root_cause": TRACE, "reason": TRACE}
    hotfix = sample_hotfix(Severity.P0, now=NOW, message=message).model_copy(update=long)
    event = {"type": "updated", "ticket": hotfix.ticket, "message": TRACE, "next_step": TRACE}
    card = renderer.teams(message, locale, hotfix, event=event, now=NOW)
    assert envelope_size(card.card) < TEAMS_CARD_BYTES
    assert "\n" not in card.title and len(card.title) <= SUBJECT_CHARS
    email = renderer.email(message, locale, hotfix, event=event, now=NOW)
    assert "\n" not in email.subject and len(email.subject) <= SUBJECT_CHARS
    assert len(email.text) < 12 * EMAIL_TEXT_CHARS
    if message in (MessageName.ANNOUNCEMENT, MessageName.UPDATE):  # they show the impact or the message
        assert MARKERS[locale] in email.text
        assert MARKERS[locale] in re.sub(r"\\(.)", r"\1", "\n".join(card_texts(card.card)))
