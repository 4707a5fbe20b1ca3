"""The state of one hotfix, as stored in Redis (plain JSON) and handed to workers."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hotfix.enums import TERMINAL_STATUSES, Phase, Severity, Status
from hotfix.events import Fix, Team

#: The verification checklist of the playbook's coordination template, in order.
VERIFICATION_ITEMS = ("staging", "smoke_test", "production", "confirmed", "monitoring")
#: Checks the golden rules require before production.
REQUIRED_BEFORE_PRODUCTION = ("review", "smoke_test")


class TimelineEntry(BaseModel):
    """One line of the timeline: an applied event or a notice Herald originated."""

    model_config = ConfigDict(extra="ignore")

    at: datetime
    type: str
    id: str
    summary: str = ""
    phase: Phase | None = None
    late: bool = False


class HotfixState(BaseModel):
    """Everything Herald knows about one hotfix."""

    model_config = ConfigDict(extra="ignore")

    ticket: str
    declared: bool = False
    status: Status = Status.OPEN
    severity: Severity | None = None
    title: str = ""
    impact: str | None = None
    users_affected: str | None = None
    source: str | None = None
    link: str | None = None
    team: Team = Field(default_factory=Team)
    phase: Phase = Phase.TRIAGE
    eta: datetime | None = None
    declared_at: datetime | None = None
    declared_id: str | None = None
    deadline: datetime | None = None
    last_update_at: datetime | None = None
    closed_at: datetime | None = None
    message: str | None = None
    next_step: str | None = None
    checks: dict[str, bool] = Field(default_factory=dict)
    fix: Fix = Field(default_factory=Fix)
    root_cause: str | None = None
    postmortem_at: datetime | None = None
    reason: str | None = None
    next_approach: str | None = None
    guardrails: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    applied_ids: list[str] = Field(default_factory=list)
    pending: list[dict[str, Any]] = Field(default_factory=list)
    announced_to: list[str] = Field(default_factory=list)
    announcement_jobs: list[str] = Field(default_factory=list)
    field_at: dict[str, datetime] = Field(default_factory=dict)
    fired: list[str] = Field(default_factory=list)
    digest: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    digest_since: dict[str, datetime] = Field(default_factory=dict)
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.declared and self.status not in TERMINAL_STATUSES

    def time_left(self, now: datetime) -> timedelta | None:
        """Until the deadline (negative once breached)."""
        return None if self.deadline is None else self.deadline - now

    def eta_past_deadline(self) -> bool:
        return self.eta is not None and self.deadline is not None and self.eta > self.deadline

    def missing_verification(self) -> list[str]:
        """Verification items not checked yet."""
        return [item for item in VERIFICATION_ITEMS if not self.checks.get(item)]

    def dump(self) -> dict[str, Any]:
        """Plain JSON data."""
        return self.model_dump(mode="json")
