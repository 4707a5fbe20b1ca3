"""Alert groups (Alertmanager webhook v4, Grafana alerting) as hotfix events.

One alert group (``groupKey``) is one hotfix. What was last pushed for a group
is remembered (see ``memory``), and each payload is compared with it:

========================  =============================  ======================================
remembered                payload                        pushed
========================  =============================  ======================================
nothing / closed          firing, severity mapped        ``declared`` (a new generation)
nothing / closed          firing, severity not mapped    nothing (202, note)
nothing / closed          resolved                       nothing (202, note)
open, same firing set     same status                    nothing: a re-send (repeat_interval)
open, firing              firing set changed             ``updated`` (added / cleared alerts)
open, recovered           firing again                   ``updated``
open, firing              resolved                       ``updated`` "monitoring reports recovery",
                                                         or ``resolved`` with resolve_on_recovery
========================  =============================  ======================================

Event ids are a hash of (group key, generation, sequence, status, sorted firing
fingerprints): stable, so concurrent copies of one payload carry the same id
and the daemon dedupes whatever slips through.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from redis import Redis

from daemon.intake.memory import PushResult, Translation, push_once
from daemon.intake.wording import say
from hotfix.dates import producer_time
from hotfix.enums import EventType, Locale, Severity
from hotfix.events import Event, parse_event
from hotfix.keys import valid_ticket
from hotfix.service_settings import AlertmanagerIntake

#: Alert names listed in one message, at most.
MAX_LISTED = 10
#: Firing alerts whose names are remembered (to say which ones cleared).
MAX_REMEMBERED_NAMES = 50


class Alert(BaseModel):
    """One alert of a group, as both Alertmanager and Grafana send it."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None

    def key(self) -> str:
        """The fingerprint, or a hash of the labels when the sender gave none."""
        if self.fingerprint:
            return self.fingerprint
        return _hash("\n".join(f"{k}={v}" for k, v in sorted(self.labels.items())))[:16]

    def name(self) -> str:
        """``alertname`` plus the instance/job that tells it apart, for messages."""
        base = self.labels.get("alertname", "alert")
        where = self.labels.get("instance") or self.labels.get("job") or self.labels.get("service")
        return f"{base} ({where})" if where else base


class AlertGroup(BaseModel):
    """The common part of the Alertmanager v4 and Grafana webhook bodies."""

    model_config = ConfigDict(extra="ignore")

    version: str | None = None
    groupKey: str = Field(min_length=1, max_length=10_000)
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(min_length=1)

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def group_id(source: str, group: AlertGroup) -> str:
    """The memory key part of a group (a hash: the raw group key never reaches a Redis key)."""
    return _hash(f"{source}\n{group.groupKey}")[:32]


def handle(redis: Redis, source: str, prefix: str, cfg: AlertmanagerIntake, group: AlertGroup,
           now: datetime, locale: Locale = Locale.EN) -> PushResult:
    """Push what the payload changes for its group (nothing for a re-send); its texts in ``locale``."""
    return push_once(redis, source, group_id(source, group),
                     lambda prev: translate(source, prefix, cfg, group, prev, now, locale))


@dataclass(frozen=True)
class _Reading:
    """What one webhook says: the firing alerts, the group's status, their fingerprints, notes for the answer."""

    firing: list[Alert]
    status: Literal["firing", "resolved"]
    fps: list[str]
    notes: list[str]
    locale: Locale = Locale.EN  # of the texts the events carry


def translate(source: str, prefix: str, cfg: AlertmanagerIntake, group: AlertGroup, prev: dict[str, Any] | None,
              now: datetime, locale: Locale = Locale.EN) -> Translation:
    """The pure decision: what ``group`` means given ``prev`` (the remembered state, or None); texts in ``locale``."""
    firing = group.firing()
    reading = _Reading(firing, "firing" if firing else "resolved", sorted({a.key() for a in firing}),
                       [f"{group.truncatedAlerts} alert(s) truncated by the sender"] if group.truncatedAlerts else [],
                       locale)
    if prev is None or prev.get("closed"):
        return _declaration(source, prefix, cfg, group, prev, now, reading)
    return _follow_up(source, prefix, cfg, group, prev, now, reading)


def _declaration(source: str, prefix: str, cfg: AlertmanagerIntake, group: AlertGroup, prev: dict[str, Any] | None,
                 now: datetime, reading: _Reading) -> Translation:
    """A group not open here: a firing one with a known severity declares a hotfix; anything else says why not."""
    firing, status, fps, notes = reading.firing, reading.status, reading.fps, reading.notes
    gen = int(prev["gen"]) + 1 if prev else 1
    if status == "resolved":
        return Translation(notes=notes + ["group resolved and not open here: nothing to announce"],
                           ticket=prev.get("ticket") if prev else None, duplicate=prev is not None)
    severity = _severity(cfg, group, firing) or cfg.default_severity
    if severity is None:
        found = sorted({a.labels.get(cfg.severity_label, "") for a in firing} - {""})
        return Translation(notes=notes + [
            f"not a hotfix: label {cfg.severity_label}={'/'.join(found) or '(none)'} is not in the severity map "
            "and no default_severity is set"])
    ticket = _ticket(cfg, group, prefix, gen, notes)
    event_id = _event_id(prefix, group.groupKey, gen, 0, status, fps)
    raw: dict[str, Any] = {
        "type": EventType.DECLARED.value, "ticket": ticket, "id": event_id, "at": now.isoformat(),
        "source": source, "severity": severity.value, "title": _title(group, firing),
        "message": _listing(firing, reading.locale),
    }
    started = _started(firing, now)
    if started is not None:
        raw["started_at"] = started.isoformat()  # the playbook's "depuis quand ?"
    impact = group.commonAnnotations.get("description") or firing[0].annotations.get("description")
    if impact:
        raw["impact"] = impact
    link = _link(group, firing)
    if link:
        raw["link"] = link
    return _planned(raw, ticket, notes, gen, 0, status, fps, severity, _names(firing), closed=False)


def _follow_up(source: str, prefix: str, cfg: AlertmanagerIntake, group: AlertGroup, prev: dict[str, Any],
               now: datetime, reading: _Reading) -> Translation:
    """A group open here: a re-send adds nothing; a recovery, a change of the firing set or of severity is news."""
    firing, status, fps, notes = reading.firing, reading.status, reading.fps, reading.notes
    gen, seq, ticket = int(prev["gen"]), int(prev["seq"]) + 1, str(prev["ticket"])
    if prev.get("status") == status and prev.get("fps") == fps:
        return Translation(notes=notes + ["unchanged since the last announcement: a re-send"], ticket=ticket, duplicate=True)
    names: dict[str, str] = dict(prev.get("names", {}))
    event_id = _event_id(prefix, group.groupKey, gen, seq, status, fps)
    base: dict[str, Any] = {"ticket": ticket, "id": event_id, "at": now.isoformat(), "source": source}
    severity = Severity(prev["severity"])
    if status == "resolved":
        recovery = say(reading.locale, "recovery")
        if cfg.resolve_on_recovery:
            raw = base | {"type": EventType.RESOLVED.value, "message": recovery}
            return _planned(raw, ticket, notes, gen, seq, status, fps, severity, names, closed=True)
        raw = base | {"type": EventType.UPDATED.value, "message": recovery}
        return _planned(raw, ticket, notes, gen, seq, status, fps, severity, names, closed=False)
    current = {a.key(): a.name() for a in firing}
    raw = base | {"type": EventType.UPDATED.value, "message": _change(prev, firing, fps, current, names, reading.locale)}
    mapped = _severity(cfg, group, firing)
    if mapped is not None and mapped != severity:
        raw["severity"] = mapped.value  # re-classification: the daemon tells the audiences newly concerned
        severity = mapped
    names.update(current)
    return _planned(raw, ticket, notes, gen, seq, status, fps, severity, names, closed=False)


def _change(prev: dict[str, Any], firing: list[Alert], fps: list[str], current: dict[str, str],
            names: dict[str, str], locale: Locale) -> str:
    """What changed in the firing set since the last word: firing again, or which alerts came and went."""
    if prev.get("status") == "resolved":
        return say(locale, "firing_again", listing=_listing(firing, locale))
    added = [current[fp] for fp in fps if fp not in prev.get("fps", [])]
    cleared = [names.get(fp, fp) for fp in prev.get("fps", []) if fp not in current]
    parts = [say(locale, "count", count=len(fps))]
    if added:
        parts.append(say(locale, "new", names=", ".join(added[:MAX_LISTED])))
    if cleared:
        parts.append(say(locale, "cleared", names=", ".join(cleared[:MAX_LISTED])))
    return say(locale, "changed", parts="; ".join(parts))


def _planned(raw: dict[str, Any], ticket: str, notes: list[str], gen: int, seq: int, status: str, fps: list[str],
             severity: Severity, names: dict[str, str], *, closed: bool) -> Translation:
    event: Event = parse_event(raw, now=datetime.fromisoformat(raw["at"]))  # ``at`` is the adapter's clock
    kept = dict(list(names.items())[-MAX_REMEMBERED_NAMES:])
    state = {"sig": raw["id"], "ticket": ticket, "gen": gen, "seq": seq, "status": status, "fps": fps,
             "severity": severity.value, "names": kept, "closed": closed}
    return Translation(events=[event], state=state, notes=notes, ticket=ticket)


def _event_id(prefix: str, group_key: str, gen: int, seq: int, status: str, fps: list[str]) -> str:
    digest = _hash("\n".join([group_key, str(gen), str(seq), status, *fps]))
    return f"{prefix.lower()}-{digest[:24]}"


def _severity(cfg: AlertmanagerIntake, group: AlertGroup, firing: list[Alert]) -> Severity | None:
    """The most severe mapped severity among the firing alerts (label looked up case-insensitively)."""
    table = {k.lower(): v for k, v in cfg.severity_map.items()}
    values = [a.labels.get(cfg.severity_label) for a in firing] + [group.commonLabels.get(cfg.severity_label)]
    found = [table[v.lower()] for v in values if v and v.lower() in table]
    return min(found, key=lambda s: s.rank) if found else None


def _ticket(cfg: AlertmanagerIntake, group: AlertGroup, prefix: str, gen: int, notes: list[str]) -> str:
    label = group.groupLabels.get(cfg.ticket_label) or group.commonLabels.get(cfg.ticket_label)
    if label:
        if valid_ticket(label):
            return label
        notes.append(f"label {cfg.ticket_label} is not a valid ticket: using an id derived from the group key")
    derived = f"{prefix}-{_hash(group.groupKey)[:10].upper()}"
    return derived if gen == 1 else f"{derived}-{gen}"


def _started(firing: list[Alert], now: datetime) -> datetime | None:
    """When the first firing alert started (``startsAt``), if any says so readably."""
    times = [t for t in (producer_time(a.startsAt, now) for a in firing) if t is not None]
    return min(times) if times else None


def _title(group: AlertGroup, firing: list[Alert]) -> str:
    title = (group.commonAnnotations.get("summary") or firing[0].annotations.get("summary")
             or group.commonLabels.get("alertname") or group.groupLabels.get("alertname")
             or firing[0].labels.get("alertname") or f"Alert group of {group.receiver or 'monitoring'}")
    return title.strip() or "Alert group"


def _link(group: AlertGroup, firing: list[Alert]) -> str | None:
    for url in (firing[0].generatorURL, group.externalURL):
        if url and len(url) <= 500:
            return url
    return None


def _listing(alerts: list[Alert], locale: Locale) -> str:
    """"N alert(s) firing: a, b… and M more" in ``locale``."""
    shown = ", ".join(a.name() for a in alerts[:MAX_LISTED])
    more = say(locale, "more", count=len(alerts) - MAX_LISTED) if len(alerts) > MAX_LISTED else ""
    return say(locale, "listing", count=len(alerts), names=shown, more=more)


def _names(alerts: list[Alert]) -> dict[str, str]:
    return {a.key(): a.name() for a in alerts}
