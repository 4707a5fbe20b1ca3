"""What ``list`` and ``show`` print: plain data for ``--format json``, and the coordination document."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from hotfix.enums import Locale, Phase
from hotfix.settings import Settings
from hotfix.state import BOOKKEEPING, VERIFICATION_ITEMS, HotfixState


def list_row(state: HotfixState, now: datetime) -> dict[str, Any]:
    """One open hotfix as ``hotfix list --format json`` shows it."""
    left = state.time_left(now)
    return {
        "ticket": state.ticket, "severity": state.severity.value if state.severity else None,
        "status": state.status.value, "phase": state.phase.value, "title": state.title,
        "deadline": state.deadline.isoformat() if state.deadline else None,
        "time_left_s": int(left.total_seconds()) if left is not None else None,
        "eta": state.eta.isoformat() if state.eta else None,
        "last_update_at": state.last_update_at.isoformat() if state.last_update_at else None,
        "rollbacks": state.rollbacks, "service_restored": state.service_restored,
        "coordinator": state.team.coordinator, "declared_at": state.declared_at.isoformat() if state.declared_at else None,
    }


def show_data(state: HotfixState, deliveries: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The full picture of one hotfix for ``show --format json``."""
    data = state.model_dump(mode="json", exclude=set(BOOKKEEPING))
    data.update(list_row(state, now))
    data["deliveries"] = [
        {k: d.get(k) for k in ("message", "audience", "channel", "recipient", "status", "reason", "at", "via")}
        for d in deliveries
    ]
    data["missing_verification"] = state.missing_verification()
    data["eta_past_deadline"] = state.eta_past_deadline()
    return data


def _environment(templates: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=FileSystemLoader(str(templates)), undefined=StrictUndefined,
                               autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = lambda v: str(v if v is not None else "—").replace("|", "\\|").replace("\n", " ")
    return env


def document_md(state: HotfixState, deliveries: list[dict[str, Any]], settings: Settings, now: datetime,
                locale: Locale | None = None) -> str:
    """The playbook's coordination document, filled from the state (``show --format md``)."""
    locale = locale or settings.locale
    zone = ZoneInfo(settings.timezone)

    def hhmm(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%H:%M") if value else "—"

    def full(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if value else "—"

    reached: dict[str, list[str]] = defaultdict(list)
    for d in deliveries:
        reached[d.get("message", "")].append(
            f"{d.get('audience')}/{d.get('channel')} {d.get('recipient')}: {d.get('status')}")
    order = list(Phase)

    def passed(phase: Phase) -> bool:
        return order.index(state.phase) > order.index(phase)

    role_status = {
        "coordinator": "active" if state.is_open else "done",
        "developer": "active" if state.is_open and not passed(Phase.FIX) else "done",
        "reviewer": "done" if state.checks.get("review") or passed(Phase.REVIEW) else "waiting",
        "devops": "done" if state.checks.get("production") or passed(Phase.PRODUCTION) else "waiting",
    }
    reached_by_phase = {"staging"} if passed(Phase.STAGING) else set()
    if state.phase in (Phase.PRODUCTION, Phase.RESOLVED, Phase.POSTMORTEM):
        reached_by_phase.add("production")
    left = state.time_left(now)
    env = _environment(settings.templates_path())
    template = env.get_template(f"{locale.value}/document.md.j2")
    return template.render(
        h=state, hhmm=hhmm, full=full, now=now, left_s=int(left.total_seconds()) if left is not None else None,
        verification=[(item, bool(state.checks.get(item)) or item in reached_by_phase) for item in VERIFICATION_ITEMS],
        reached=dict(reached), role_status=role_status, deliveries=deliveries,
        guardrails=sorted({g.split("@")[0] for g in state.guardrails}),
    )
