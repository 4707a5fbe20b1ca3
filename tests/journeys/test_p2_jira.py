"""Journey: a P2 opened from a Jira issue, followed through its transitions and comments to its resolution."""
from __future__ import annotations

import pytest

from tests.fixtures.intake import change, jira_comment, jira_created, jira_updated
from tests.journeys.conftest import ONCALL

pytestmark = pytest.mark.e2e

T = "OPS-77"


def test_p2_from_jira_through_transitions_and_comments(herald) -> None:
    """A labelled Medium issue is a P2 for on-call only; its assignee, status and comments become updates."""
    stack = herald()
    created = jira_created(key=T, priority="Medium", summary="CSV export is empty")
    assert stack.post("/hooks/jira", created)["ticket"] == T
    stack.settle()
    v = stack.views(T)
    assert (v.data["severity"], v.data["source"], v.data["phase"]) == ("P2", "jira", "triage")
    assert v.audiences("announcement") == {"oncall"} and len(stack.cards()) == 1
    assert v.line("fr", "| Développeur | Bob | 🔵 assigné")
    assert v.line("fr", "- [ ] Stakeholders prévenus")  # a P2 tells no stakeholder
    assert "CSV export is empty" in stack.subjects(ONCALL[0])[0]

    stack.post("/hooks/jira", jira_updated([change("status", "To Do", "In Progress"),
                                            change("assignee", "Bob", "Hugo")], key=T, priority="Medium"))
    stack.settle()
    v = stack.views(T)
    assert v.data["team"]["developer"] == "Hugo" and "Statut : To Do → In Progress" in v.data["message"]
    assert len(v.deliveries("update")) == 3  # on-call: Teams + two addresses

    stack.post("/hooks/jira", jira_comment("Found it: the CSV writer drops the header row", key=T))
    stack.settle()
    v = stack.views(T)
    assert "the CSV writer drops the header row" in v.hotfix_page
    assert "Commentaire de Bob" in stack.emails(ONCALL[1])[-1].get_body(("plain",)).get_content()

    stack.post("/hooks/jira", jira_updated([change("resolution", None, "Done", to="10000")], key=T,
                                           priority="Medium", resolution="Done", changelog_id="10102"))
    stack.settle()
    v = stack.views(T)
    assert v.status == "resolved" and v.audiences("resolution") == {"oncall"}
    assert [t for t in v.timeline()] == ["declared", "updated", "updated", "resolved"]
    assert v.line("fr", "- [ ] Post-mortem planifié — date par défaut de la politique : ")
