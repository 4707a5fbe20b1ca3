"""``check-config``: a summary of a valid configuration, and the policy of one severity in words."""
from __future__ import annotations

from typing import Any

from hotfix.connection import safe_url
from hotfix.durations import format_duration
from hotfix.enums import AudienceKind, MessageName, Severity
from hotfix.settings import Settings

#: The communication checklist line each audience kind ticks in the coordination document.
_KIND_LINES = {AudienceKind.TEAM: "team informed", AudienceKind.STAKEHOLDERS: "stakeholders notified",
               AudienceKind.USERS: "users notified"}


def _channels(settings: Settings, audience: str) -> str:
    found = settings.audiences.get(audience)
    if found is None:
        return audience
    parts = []
    for channel in found.teams:
        configured = settings.teams[channel].url is not None
        parts.append(f"Teams {channel}" + ("" if configured else " (outbox)"))
    sources = [text for text in (", ".join(found.emails), str(found.emails_file or ""),
                                 "whoever joined" if found.self_service else "") if text]
    if sources:
        parts.append(f"email {' + '.join(sources)} ({'SMTP' if settings.smtp.host else 'outbox'})")
    locale = (found.locale or settings.locale).value
    links = "action links" if found.kind is AudienceKind.TEAM and not found.self_service else "no action links"
    if found.self_service:
        parts.append("self-service" + (f" ({', '.join(found.allowed_domains)} only)" if found.allowed_domains else ""))
    if found.approval:
        parts.append(f"held until approved by {' or '.join(found.approval)}")
    return (f"{audience} [{locale}]: " + ("; ".join(parts) or "no channel")
            + f" — kind {found.kind.value} (ticks \"{_KIND_LINES[found.kind]}\" in the document; {links})")


def explain_policy(settings: Settings, severity: Severity) -> dict[str, Any]:
    """Who is told of what, on which channel, and when reminders and escalations fire."""
    policy = settings.policy(severity)
    lines = [f"{severity.value}: resolve within {format_duration(policy.resolve_within)}"
             + ("" if severity in settings.severity else " (not configured: nobody is told)")]
    for label, names in (("announcement", policy.announce), ("updates", policy.updates),
                         ("resolution, rollback and cancellation", policy.resolution),
                         ("reminders", policy.remind), ("escalations", policy.escalate),
                         ("access requests (needs_access → escalation)" + ("" if policy.access else ", the escalate audiences"),
                          policy.access_audiences()),
                         ("major customer impact (customer_impact → announcement, updates, resolution)",
                          policy.customer_impact)):
        lines.append(f"  {label}:")
        lines += [f"    - {_channels(settings, n)}" for n in names] or ["    - nobody"]
    if policy.update_every:
        every = format_duration(policy.update_every)
        lines.append(f"  no update for {every} → reminder to {', '.join(policy.remind) or 'nobody'}; "
                     f"for {format_duration(2 * policy.update_every)} → escalation to {', '.join(policy.escalate) or 'nobody'}"
                     " (\"nobody available\": the only escalation that names management)")
    for box, within, what in (("triage", policy.triage_within, "still in triage {} after the declaration"),
                              ("deploy", policy.deploy_within, "production not confirmed {} after entering staging")):
        if within:
            lines.append(f"  {box} time box {format_duration(within)}: {what.format(format_duration(within))} → "
                         f"reminder to {', '.join(policy.remind) or 'nobody'}; at {format_duration(2 * within)} → "
                         f"escalation to {', '.join(policy.escalate) or 'nobody'}")
        else:
            lines.append(f"  {box} time box: off")
    rollback = " proposing a rollback" if severity is Severity.P0 else ""
    if policy.warn_before:
        lines.append(f"  {format_duration(policy.warn_before)} before the deadline → at-risk escalation{rollback}")
    lines.append(f"  at the deadline → breach escalation{rollback} (none once a rollback restored the service)")
    if any(settings.audiences[a].approval for names in policy.audiences().values() for a in names if a in settings.audiences):
        lines.append("  held messages go out unapproved after " + format_duration(policy.approval_timeout)
                     if policy.approval_timeout else "  held messages wait for an approver (no approval_timeout)")
    pm = settings.postmortem
    lines.append(f"  post-mortem (after a resolution or a rollback, unless a date is given): the day "
                 f"{format_duration(settings.postmortem_after(severity))} later at {pm.time} {settings.timezone}, "
                 f"on {', '.join(pm.weekdays)} (else the next of them); reminder "
                 f"{format_duration(policy.postmortem_remind_before)} before, and the postmortem event's report, to "
                 f"{', '.join(settings.postmortem_audiences(severity)) or 'nobody'} and the coordinator; "
                 f"no postmortem event {format_duration(pm.overdue_after)} after its date → overdue reminder to "
                 f"{', '.join(policy.remind) or 'nobody'} and the coordinator")
    lines.append(f"  role prompts: {', '.join(m.value for m in policy.prompts) or 'none'}"
                 + (" (the review request once more after " + format_duration(policy.update_every) + " of silence)"
                    if MessageName.REVIEW_REQUEST in policy.prompts and policy.update_every else ""))
    return {"severity": severity.value, "text": "\n".join(lines), "policy": policy.model_dump(mode="json")}


def summary(settings: Settings) -> dict[str, Any]:
    """What a valid configuration contains (never a secret value)."""
    teams = ", ".join(f"{n} ({c.format.value}{'' if c.url else ', outbox'})" for n, c in settings.teams.items())
    text = [
        "configuration OK",
        f"  Redis: {safe_url(settings.redis.url)}",
        f"  locale {settings.locale.value}, time zone {settings.timezone}",
        f"  Teams channels: {teams or 'none'}",
        f"  SMTP: {settings.smtp.host + ':' + str(settings.smtp.port) if settings.smtp.host else 'not configured (outbox)'}",
        f"  audiences: {', '.join(settings.audiences) or 'none'}",
        f"  severities: {', '.join(s.value for s in settings.severity) or 'none'}",
        f"  people: {', '.join(settings.people) or 'none'}"
        + (f" ({len(settings.mentionable())} with a Teams id for @mentions)" if settings.people else ""),
        "  action links: " + (f"on ({settings.http.public_url}/act/…, valid {format_duration(settings.http.link_ttl)})"
                              if settings.http.links_enabled() else
                              "off (set [http] public_url and signing_key to turn them on)"),
    ]
    unlinked = [n for n, a in settings.audiences.items() if a.self_service and not settings.http.links_enabled()]
    if unlinked:
        text.append(f"  note: {', '.join(unlinked)} self-service but links are off: no List-Unsubscribe header and no "
                    "subscription page until [http] public_url and signing_key are set")
    missing = [s.value for s in Severity if s not in settings.severity]
    if missing:
        text.append(f"  note: no policy for {', '.join(missing)}: those hotfixes are tracked but nobody is told")
    return {"ok": True, "text": "\n".join(text), "redis": safe_url(settings.redis.url), "audiences": sorted(settings.audiences),
            "teams": sorted(settings.teams), "severities": [s.value for s in settings.severity]}
