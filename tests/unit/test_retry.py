"""The one retry decision: done / retry after N s / wait / give up; backoff exponential, capped, faster for P0."""
from __future__ import annotations

import pytest

from hotfix.enums import Severity
from hotfix.settings import Settings
from workers.errors import DeliveryError, PermanentError, TransientError
from workers.retry import Hold, RetryDecision, Verdict, backoff, decide, next_run


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
    assert backoff(Settings().worker, severity, attempt, retry_after) == expected


CFG = Settings(worker={"max_retries": 2}).worker


@pytest.mark.parametrize("outcome,attempt,expected", [
    (None, 1, RetryDecision(Verdict.DONE)),
    (Hold(2.3, "held"), 1, RetryDecision(Verdict.WAIT, 3, "held")),                       # whole seconds, rounded up
    (Hold(0.01, "held"), 5, RetryDecision(Verdict.WAIT, 1, "held")),                      # never 0: RQ needs a delay
    (TransientError("HTTP 503"), 1, RetryDecision(Verdict.RETRY, 2, "HTTP 503 (attempt 1)")),
    (TransientError("HTTP 429", retry_after=30), 2, RetryDecision(Verdict.RETRY, 30, "HTTP 429 (attempt 2)")),
    (TransientError("HTTP 503"), 3, RetryDecision(Verdict.GIVE_UP, 0, "gave up after 3 attempts: HTTP 503")),
    (PermanentError("HTTP 404"), 1, RetryDecision(Verdict.GIVE_UP, 0, "HTTP 404")),
    (DeliveryError("odd"), 1, RetryDecision(Verdict.GIVE_UP, 0, "gave up after 1 attempts: odd")),
])
def test_decide(outcome: DeliveryError | Hold | None, attempt: int, expected: RetryDecision) -> None:
    """Each classified outcome gets its verdict: sent is done, a hold waits, transient retries until max_retries."""
    assert decide(outcome, attempt, Severity.P2, CFG) == expected


@pytest.mark.parametrize("verdicts,expected", [
    ([Verdict.DONE, Verdict.GIVE_UP], RetryDecision(Verdict.DONE)),
    ([Verdict.DONE, Verdict.RETRY, Verdict.RETRY], RetryDecision(Verdict.RETRY, 9)),
    ([], RetryDecision(Verdict.DONE)),
])
def test_next_run(verdicts: list[Verdict], expected: RetryDecision) -> None:
    """A job comes back after its longest retry delay when any recipient retries; otherwise it is done."""
    delays = iter([4, 9, 1])
    decisions = [RetryDecision(v, next(delays) if v is Verdict.RETRY else 0) for v in verdicts]
    assert next_run(decisions) == expected
