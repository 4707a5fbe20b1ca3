"""What becomes of a delivery after a run: the one retry decision (Alertmanager's retry stage, in spirit).

``decide`` maps one recipient's classified outcome to a verdict; ``next_run`` folds a job's verdicts.

=====================================  =========  ==========================================================
outcome                                verdict    then
=====================================  =========  ==========================================================
sent (``None``)                        DONE       receipt ``sent``
``Hold`` (announcement not out yet,    WAIT       the job comes back after ``Hold.seconds``; not an attempt
its webhook held off)
``TransientError``, attempts left      RETRY      receipt ``retrying``; back after ``backoff`` (exponential,
                                                  capped, faster for P0, never before Retry-After)
``TransientError``, none left          GIVE_UP    receipt ``failed``, delivery dead letter (P0: fallback)
``PermanentError``                     GIVE_UP    the same
=====================================  =========  ==========================================================

Pure: no Redis, no RQ. ``workers.jobs`` counts attempts and waits (in the job's meta) and alone turns
a verdict into an RQ ``Retry``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from hotfix.enums import DeliveryStatus, Severity
from hotfix.service_settings import WorkerSettings
from workers.errors import DeliveryError, PermanentError, TransientError


class Verdict(str, Enum):
    """What to do next with a recipient, or a job."""

    DONE = "done"
    RETRY = "retry"
    WAIT = "wait"
    GIVE_UP = "give_up"


#: The receipt each verdict writes (a wait writes none).
RECEIPT_STATUS = {Verdict.DONE: DeliveryStatus.SENT, Verdict.RETRY: DeliveryStatus.RETRYING,
                  Verdict.GIVE_UP: DeliveryStatus.FAILED}


@dataclass(frozen=True)
class Hold:
    """A reason not to try yet: come back in ``seconds`` (the announcement is not delivered, the webhook is held off)."""

    seconds: float
    why: str


@dataclass(frozen=True)
class RetryDecision:
    """A verdict, the seconds before the next run (RETRY, WAIT), and what the receipt says (RETRY, GIVE_UP)."""

    verdict: Verdict
    delay: int = 0
    reason: str = ""


def backoff(cfg: WorkerSettings, severity: Severity, attempt: int, retry_after: float | None = None) -> int:
    """Seconds before the next attempt: exponential, capped, faster for P0, never before Retry-After."""
    base, cap = (cfg.p0_backoff_base, cfg.p0_backoff_cap) if severity is Severity.P0 else (cfg.backoff_base,
                                                                                          cfg.backoff_cap)
    delay = min(base.total_seconds() * (2 ** max(attempt - 1, 0)), cap.total_seconds())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(1, int(round(delay)))


def decide(outcome: DeliveryError | Hold | None, attempt: int, severity: Severity, cfg: WorkerSettings) -> RetryDecision:
    """The verdict on one outcome of attempt number ``attempt`` (1 for the first)."""
    if outcome is None:
        return RetryDecision(Verdict.DONE)
    if isinstance(outcome, Hold):
        return RetryDecision(Verdict.WAIT, max(1, math.ceil(outcome.seconds)), outcome.why)
    if isinstance(outcome, PermanentError):
        return RetryDecision(Verdict.GIVE_UP, reason=outcome.reason)
    if isinstance(outcome, TransientError) and attempt <= cfg.max_retries:
        return RetryDecision(Verdict.RETRY, backoff(cfg, severity, attempt, outcome.retry_after),
                        f"{outcome.reason} (attempt {attempt})")
    return RetryDecision(Verdict.GIVE_UP, reason=f"gave up after {attempt} attempts: {outcome.reason}")


def next_run(decisions: Iterable[RetryDecision]) -> RetryDecision:
    """A job's verdict from its recipients': RETRY after the longest delay if any retries, else DONE."""
    retries = [d for d in decisions if d.verdict is Verdict.RETRY]
    return RetryDecision(Verdict.RETRY, max(d.delay for d in retries)) if retries else RetryDecision(Verdict.DONE)
