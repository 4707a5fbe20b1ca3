"""The stakeholder keys of the configuration: self_service, allowed_domains, approval, approval_timeout."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hotfix.settings import Settings


@pytest.mark.parametrize("config,problem", [
    ({"audiences": {"c": {"approval": ["Zed"]}}}, "audiences.c.approval: unknown person 'Zed'"),
    ({"audiences": {"c": {"allowed_domains": ["corp.example"]}}}, "audiences.c.allowed_domains: only for a self_service"),
    ({"audiences": {"c": {"self_service": True, "allowed_domains": ["not a domain"]}}}, "expected a domain"),
    ({"severity": {"P0": {"resolve_within": "1h", "approval_timeout": "0s"}}}, "approval_timeout: must be longer than 0s"),
])
def test_bad_stakeholder_keys_are_named(config: dict[str, Any], problem: str) -> None:
    """Each mistake is refused naming the key and what is expected."""
    with pytest.raises(ValidationError, match=problem):
        Settings(**config)


def test_good_stakeholder_keys() -> None:
    """Domains are normalised; an approver is a key of [people]; the timeout is a duration."""
    settings = Settings(people={"Alice": {"email": "alice@corp.example"}},
                        audiences={"c": {"self_service": True, "allowed_domains": ["@Corp.Example"], "approval": ["Alice"]}},
                        severity={"P0": {"resolve_within": "1h", "approval_timeout": "5m"}})
    assert settings.audiences["c"].allowed_domains == ["corp.example"]
    assert settings.severity["P0"].approval_timeout is not None and settings.severity["P0"].approval_timeout.total_seconds() == 300
