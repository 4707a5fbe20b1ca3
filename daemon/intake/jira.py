"""``POST /hooks/jira``: Jira issue webhooks as hotfix events. The ticket is the issue key.

- ``jira:issue_created`` / ``jira:issue_updated`` of an unresolved issue carrying the
  configured label (``[intake.jira] label``) whose priority is mapped
  (``priority_map``) → ``declared`` (once per issue: later payloads are updates).
- On an open hotfix: changelog items (status, priority, assignee) and comments
  (``comment_created``, or ``jira:issue_updated`` carrying a ``comment``) → ``updated``;
  a resolution (changelog ``resolution`` or ``fields.resolution``) → ``resolved``,
  with ``root_cause`` read from the field ``root_cause_field``.
- Anything else → 202 with a note, nothing pushed.

Bodies: https://developer.atlassian.com/server/jira/platform/webhooks/
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from redis import Redis

from daemon.intake.memory import PushResult, Translation, push_once
from daemon.intake.wording import say
from hotfix.dates import producer_time
from hotfix.enums import EventType, Locale, Severity
from hotfix.events import parse_event
from hotfix.keys import TICKET_MAX, TICKET_PATTERN
from hotfix.limits import SHORT_TEXT_MAX
from hotfix.service_settings import JiraIntake

SOURCE = "jira"
CREATED = "jira:issue_created"
UPDATED = "jira:issue_updated"
COMMENT_CREATED = "comment_created"
#: Ids (events, comments) remembered per issue to drop re-deliveries.
MAX_RECENT = 100


class ChangeItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    field: str = ""
    fromString: str | None = None
    toString: str | None = None
    to: str | None = None


class Changelog(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    items: list[ChangeItem] = Field(default_factory=list)


class Comment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    body: Any = None
    author: dict[str, Any] | None = None


class Issue(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str | None = None
    key: str = Field(pattern=TICKET_PATTERN, max_length=TICKET_MAX)
    self_url: str | None = Field(None, alias="self")
    fields: dict[str, Any] = Field(default_factory=dict)


class JiraPayload(BaseModel):
    """A Jira webhook body (only the parts Herald reads)."""

    model_config = ConfigDict(extra="ignore")

    webhookEvent: str = Field(min_length=1)
    timestamp: int | None = None
    issue: Issue | None = None
    changelog: Changelog | None = None
    comment: Comment | None = None


def receive(redis: Redis, cfg: JiraIntake, body: dict[str, Any], now: datetime,
            locale: Locale = Locale.EN) -> PushResult:
    """Validate (``pydantic.ValidationError`` when malformed) and push what the body changes (texts in ``locale``)."""
    payload = JiraPayload.model_validate(body)
    if payload.issue is None:
        return PushResult([], None, [f"{payload.webhookEvent}: no issue in the payload, nothing to do"], [])
    group = _hash(payload.issue.key)[:32]
    return push_once(redis, SOURCE, group, lambda prev: translate(cfg, payload, prev, now, locale))


def translate(cfg: JiraIntake, payload: JiraPayload, prev: dict[str, Any] | None, now: datetime,
              locale: Locale = Locale.EN) -> Translation:
    """The pure decision: what ``payload`` means given ``prev`` (the remembered state of its issue, or None)."""
    if prev is None or prev.get("closed"):
        return _declare(cfg, payload, prev, now)
    return _follow(cfg, payload, prev, now, locale)


def _declare(cfg: JiraIntake, payload: JiraPayload, prev: dict[str, Any] | None, now: datetime) -> Translation:
    """An issue not open here: a labelled, unresolved issue with a mapped priority is declared."""
    assert payload.issue is not None
    issue, fields = payload.issue, payload.issue.fields
    ticket = issue.key
    priority = _name(fields.get("priority"))
    severity = _priority(cfg, priority)
    if payload.webhookEvent not in (CREATED, UPDATED):
        return Translation(notes=[f"{payload.webhookEvent} on {ticket}: not an open hotfix here, nothing to do"])
    if cfg.label.lower() not in [str(x).lower() for x in fields.get("labels") or []]:
        return Translation(notes=[f"{ticket} has no label {cfg.label!r}: not a hotfix"])
    if fields.get("resolution"):
        return Translation(notes=[f"{ticket} is already resolved: nothing to announce"], ticket=ticket)
    if severity is None:
        return Translation(notes=[f"{ticket}: priority {priority or '(none)'!r} is not in [intake.jira] priority_map"])
    gen = int(prev["gen"]) + 1 if prev else 1
    event_id = "jira-" + _hash(f"{ticket}\n{gen}\ndeclared")[:24]
    raw: dict[str, Any] = {
        "type": EventType.DECLARED.value, "ticket": ticket, "id": event_id, "at": now.isoformat(),
        "source": SOURCE, "severity": severity.value,
        "title": _text(fields.get("summary")) or ticket,
    }
    started = producer_time(fields.get("created"), now)
    if started is not None:
        raw["started_at"] = started.isoformat()  # the playbook's "depuis quand ?"
    impact = _text(fields.get("description"))
    if impact:
        raw["impact"] = impact
    link = _browse_url(issue)
    if link:
        raw["link"] = link
    assignee = _name(fields.get("assignee"))
    if assignee:
        raw["team"] = {"developer": assignee[:SHORT_TEXT_MAX]}
    recent = [event_id] + (["c:" + payload.comment.id] if payload.comment and payload.comment.id else [])
    state = {"sig": event_id, "ticket": ticket, "gen": gen, "closed": False, "severity": severity.value,
             "recent": recent}
    return Translation(events=[parse_event(raw, now=now)], state=state, ticket=ticket)


def _follow(cfg: JiraIntake, payload: JiraPayload, prev: dict[str, Any], now: datetime, locale: Locale) -> Translation:
    """An open hotfix: its transitions and comments become an update, its resolution a ``resolved``."""
    assert payload.issue is not None
    fields, ticket = payload.issue.fields, payload.issue.key
    recent: list[str] = list(prev.get("recent", []))
    parts = [ticket, str(prev["gen"]), payload.webhookEvent, str(payload.timestamp or ""),
             payload.changelog.id if payload.changelog and payload.changelog.id else "",
             payload.comment.id if payload.comment and payload.comment.id else ""]
    event_id = "jira-" + _hash("\n".join(parts))[:24]
    if event_id in recent:
        return Translation(notes=[f"{ticket}: this webhook was already received"], ticket=ticket, duplicate=True)
    change = _transition(cfg, payload.changelog, Severity(prev["severity"]), locale)
    lines = change.lines + _comment(payload.comment, recent, locale)
    resolved = change.resolved or bool(fields.get("resolution"))
    base: dict[str, Any] = {"ticket": ticket, "id": event_id, "at": now.isoformat(), "source": SOURCE}
    if resolved:
        raw = base | {"type": EventType.RESOLVED.value}
        resolution = _name(fields.get("resolution"))
        raw["message"] = "\n".join(lines) or (say(locale, "resolved_in_jira_as", resolution=resolution) if resolution
                                              else say(locale, "resolved_in_jira"))
        root_cause = _text(fields.get(cfg.root_cause_field)) if cfg.root_cause_field else ""
        if root_cause:
            raw["root_cause"] = root_cause
    elif lines or change.extra:
        raw = base | {"type": EventType.UPDATED.value, "message": "\n".join(lines)} | change.extra
    else:
        return Translation(notes=[f"{payload.webhookEvent} on {ticket}: nothing to announce"], ticket=ticket)
    state = dict(prev) | {"sig": event_id, "closed": resolved, "severity": change.severity.value,
                          "recent": (recent + [event_id])[-MAX_RECENT:]}
    return Translation(events=[parse_event(raw, now=now)], state=state, ticket=ticket)


@dataclass
class _Transition:
    """What a changelog says: lines for the update, fields it changes, the severity after it, a resolution."""

    lines: list[str]
    extra: dict[str, Any]
    severity: Severity
    resolved: bool


def _transition(cfg: JiraIntake, changelog: Changelog | None, severity: Severity, locale: Locale) -> _Transition:
    """The status, priority, assignee and resolution items of a changelog."""
    out = _Transition([], {}, severity, False)
    for item in changelog.items if changelog else []:
        name = item.field.lower()
        if name == "status":
            out.lines.append(say(locale, "status", old=item.fromString or "?", new=item.toString or "?"))
        elif name == "resolution":
            out.resolved = out.resolved or bool(item.to or item.toString)
        elif name == "priority":
            out.lines.append(say(locale, "priority", old=item.fromString or "?", new=item.toString or "?"))
            mapped = _priority(cfg, item.toString)
            if mapped is not None and mapped != out.severity:
                out.severity = mapped
                out.extra["severity"] = mapped.value
        elif name == "assignee" and item.toString:
            out.lines.append(say(locale, "assignee", name=item.toString))
            out.extra["team"] = {"developer": item.toString[:SHORT_TEXT_MAX]}
    return out


def _comment(comment: Comment | None, recent: list[str], locale: Locale) -> list[str]:
    """The line quoting a comment not seen yet (its id joins ``recent``)."""
    if comment is None or (comment.id is not None and "c:" + comment.id in recent):
        return []
    if comment.id:
        recent.append("c:" + comment.id)
    text = _text(comment.body)
    # quoted whole: each channel trims it with its marker (hotfix.limits)
    return [say(locale, "comment", author=_name(comment.author) or say(locale, "someone"), text=text)] if text else []


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _priority(cfg: JiraIntake, name: str | None) -> Severity | None:
    table = {k.lower(): v for k, v in cfg.priority_map.items()}
    return table.get(name.lower()) if name else None


def _name(value: Any) -> str:
    """The display name of a Jira object (priority, user, resolution), or the value itself when plain text."""
    if isinstance(value, dict):
        for key in ("displayName", "name", "value"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return ""
    return value if isinstance(value, str) else ""


def _text(value: Any) -> str:
    """Plain text of a field: a string, an option (``{"value": ...}``), a list, or an ADF document."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        if value.get("type") == "text":
            return str(value.get("text", ""))
        if "content" in value:  # Atlassian Document Format: paragraphs hold text nodes
            sep = "" if value.get("type") == "paragraph" else "\n"
            return sep.join(t for t in (_text(v) for v in value["content"]) if t).strip()
        return _name(value)
    return ""


def _browse_url(issue: Issue) -> str | None:
    """``https://x.atlassian.net/browse/KEY`` from the issue's REST ``self`` URL."""
    if issue.self_url and "/rest/api/" in issue.self_url:
        url = issue.self_url.split("/rest/api/", 1)[0] + "/browse/" + issue.key
        return url if len(url) <= 500 else None
    return None
