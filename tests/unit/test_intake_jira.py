"""The pure decision of the Jira adapter and its reading of Jira field shapes."""
from __future__ import annotations

from datetime import datetime, timezone

from daemon.intake.jira import JiraPayload, _text, translate
from hotfix.service_settings import JiraIntake
from tests.fixtures.clock import frozen_at
from tests.integration.test_intake_support import change, jira_created, jira_updated

NOW = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)
#: Every wall clock stands at NOW in each test: the dates written here hold on any day.
frozen_clock = frozen_at(NOW)


def test_adf_option_and_plain_text_are_read() -> None:
    """Root cause fields given as ADF documents, select options or strings all read as plain text."""
    adf = {"type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "Null "}, {"type": "text", "text": "coupon"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "second"}]}]}
    assert _text(adf) == "Null coupon\nsecond"
    assert _text({"value": "Config change", "id": "10001"}) == "Config change"
    assert _text("  plain ") == "plain"


def test_redelivered_update_is_a_duplicate() -> None:
    """The same jira:issue_updated planned against the state it produced is a duplicate."""
    cfg = JiraIntake()
    declared = translate(cfg, JiraPayload.model_validate(jira_created()), None, NOW)
    update = JiraPayload.model_validate(jira_updated([change("status", "To Do", "In Progress")]))
    first = translate(cfg, update, declared.state, NOW)
    again = translate(cfg, update, first.state, NOW)
    assert [e.type.value for e in first.events] == ["updated"] and again.events == [] and again.duplicate


def test_resolved_issue_is_not_declared() -> None:
    """A labelled issue that arrives already resolved is not announced."""
    result = translate(JiraIntake(), JiraPayload.model_validate(jira_created(resolution="Done")), None, NOW)
    assert result.events == []
