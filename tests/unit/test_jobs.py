"""The one retry policy: exponential backoff, capped, faster for P0, never before Retry-After."""
from __future__ import annotations

import pytest

from hotfix.enums import Severity
from hotfix.settings import Settings
from workers.jobs import backoff


@pytest.mark.parametrize("severity,attempt,retry_after,expected", [
    (Severity.P2, 1, None, 2), (Severity.P2, 2, None, 4), (Severity.P2, 3, None, 8),
    (Severity.P2, 20, None, 300),                      # capped at backoff_cap (5 min)
    (Severity.P0, 1, None, 1), (Severity.P0, 3, None, 4),
    (Severity.P0, 10, None, 30),                       # P0 cap: 30 s
    (Severity.P0, 1, 7.0, 7),                          # Retry-After wins when longer
    (Severity.P2, 3, 1.0, 8),                          # …and never shortens the backoff
    (Severity.P1, 1, 0.2, 2),
])
def test_backoff(severity: Severity, attempt: int, retry_after: float | None, expected: int) -> None:
    """The delay before attempt N+1 follows the configured base and cap for the severity."""
    assert backoff(Settings(), severity, attempt, retry_after) == expected
