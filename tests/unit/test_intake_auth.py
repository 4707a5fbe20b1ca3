"""Bearer tokens per source and the error texts of the intake."""
from __future__ import annotations

import pytest

from daemon.intake.auth import check_token, expected_token
from daemon.intake.errors import Rejected, split_reason
from hotfix.service_settings import HttpSettings


def test_source_token_overrides_general_token() -> None:
    """[http] tokens.<source> wins over [http] token for that source only."""
    http = HttpSettings(token="general", tokens={"jira": "jira-only"})
    assert expected_token(http, "jira") == "jira-only"
    assert expected_token(http, "grafana") == "general"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", "Basic general", "bearer generalx", "Bearer é"])
def test_anything_but_the_exact_bearer_token_is_401(header: str | None) -> None:
    """Missing, malformed, wrong or non-ASCII credentials raise a 401 that never contains the token."""
    with pytest.raises(Rejected) as caught:
        check_token(HttpSettings(token="general"), "events", header)
    assert caught.value.status == 401 and "general" not in caught.value.detail


def test_scheme_is_case_insensitive() -> None:
    """`bearer <token>` is accepted like `Bearer <token>`."""
    check_token(HttpSettings(token="general"), "events", "bearer general")


def test_no_token_configured_says_so() -> None:
    """Without any token the refusal names the missing [http] token setting."""
    with pytest.raises(Rejected, match=r"\[http\] token is not set"):
        check_token(HttpSettings(), "alertmanager", "Bearer whatever")


def test_split_reason_names_each_field() -> None:
    """An InvalidEvent reason becomes one {field, message} per clause, prefixed for list items."""
    assert split_reason("title: Field required; severity: bad", "[2].") == [
        {"field": "[2].title", "message": "Field required"}, {"field": "[2].severity", "message": "bad"}]
