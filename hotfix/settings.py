"""Typed settings: one TOML file, overridable by ``HOTFIX_…`` environment variables.

Built once by ``hotfix.config.load_settings`` and passed down; nothing reads the environment
deeper in the code. Every section forbids unknown keys; secrets are ``SecretStr`` and never
appear in any message.
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import time as dt_time
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from hotfix import addresses, dates
from hotfix.durations import Duration
from hotfix.enums import PROMPTS, AudienceKind, Locale, MessageName, Severity
from hotfix.service_settings import (
    HttpSettings,
    IntakeSettings,
    OutboxSettings,
    RedisSettings,
    Section,
    SmtpSettings,
    TeamsChannel,
    WorkerSettings,
)

#: The TOML file the next ``Settings()`` reads (set around it by ``hotfix.config.load_settings``).
TOML_FILE: ContextVar[Path | None] = ContextVar("hotfix_config_path", default=None)
#: The playbook's deadlines, used when a severity has no table at all.
PLAYBOOK_DEADLINES = {Severity.P0: timedelta(hours=1), Severity.P1: timedelta(hours=4), Severity.P2: timedelta(hours=24)}
def _shipped_templates() -> Path:
    """The templates next to the sources (a checkout), else those a wheel installed under ``<prefix>/share``."""
    import sys

    beside = Path(__file__).resolve().parent.parent / "templates"
    installed = Path(sys.prefix) / "share" / "hotfix-herald" / "templates"
    return beside if beside.is_dir() or not installed.is_dir() else installed


#: Where the templates shipped with Herald live.
SHIPPED_TEMPLATES = _shipped_templates()


class Audience(Section):
    """A group of people told together."""

    teams: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    emails_file: Path | None = None
    locale: Locale | None = None
    digest: Duration | None = None
    kind: AudienceKind = Field(AudienceKind.TEAM, description="team, stakeholders or users: which line of the "
                               "document's communication checklist its deliveries tick; only team gets action links "
                               "(never a self_service one)")
    self_service: bool = Field(False, description="people join (double opt-in) and leave (one-click) on their own")
    allowed_domains: list[str] = Field(default_factory=list, description="self-service: only addresses of these domains")
    approval: list[str] = Field(default_factory=list, description="people keys: its messages wait for one of them")

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        problems = [p for p in map(addresses.email_problem, value) if p]
        if problems:
            raise ValueError("; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""))
        return [a.strip() for a in value]

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = [d.strip().lower().lstrip("@") for d in value]
        bad = [d for d in out if not _DOMAIN.match(d)]
        if bad:
            raise ValueError(f"{bad[0][:60]!r}: expected a domain such as corp.example")
        return list(dict.fromkeys(out))


#: A mail domain of ``allowed_domains``.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class Person(Section):
    """Someone who may hold a role (``[people.NAME]``): reached in person, mentioned in Teams cards."""

    email: str | None = None
    teams: str | None = Field(None, max_length=200, description="UPN or Entra object id, for @mentions")
    locale: Locale | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        problem = addresses.email_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value.strip() if value is not None else None


class SeverityPolicy(Section):
    """Who is told of what, and when, for one severity."""

    resolve_within: Duration
    announce: list[str] = Field(default_factory=list)
    updates: list[str] = Field(default_factory=list)
    resolution: list[str] = Field(default_factory=list)
    update_every: Duration | None = None
    remind: list[str] = Field(default_factory=list)
    warn_before: Duration | None = None
    escalate: list[str] = Field(default_factory=list)
    access: list[str] = Field(default_factory=list, description="told when an event says needs_access (DevOps/Admin); "
                              "empty: the escalate audiences")
    customer_impact: list[str] = Field(default_factory=list, description="added to announcement, updates and "
                                       "resolution once an event says customer_impact")
    triage_within: Duration = Field(timedelta(minutes=15), description="the playbook's triage time box "
                                    "(confirm, classify, assign): a reminder once exceeded, an escalation at twice; 0s: off")
    deploy_within: Duration = Field(timedelta(minutes=30), description="from entering staging to production "
                                    "confirmed: a reminder once exceeded, an escalation at twice; 0s: off")
    postmortem_after: Duration | None = Field(None, description="this severity's post-mortem delay "
                                              "(default: [postmortem] after)")
    postmortem_remind_before: Duration = Field(timedelta(hours=1), description="the post-mortem reminder, this "
                                               "long before its date")
    fallback: list[str] = Field(default_factory=list)
    prompts: list[MessageName] = Field(default_factory=lambda: list(PROMPTS),
                                       description="role prompts sent to the person concerned")

    @field_validator("prompts")
    @classmethod
    def _known_prompts(cls, value: list[MessageName]) -> list[MessageName]:
        bad = [m.value for m in value if m not in PROMPTS]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not a role prompt (one of {', '.join(m.value for m in PROMPTS)})")
        return list(dict.fromkeys(value))
    approval_timeout: Duration | None = Field(None, description="a held message goes out unapproved after this long")

    def audiences(self) -> dict[str, list[str]]:
        """Each audience list by its key."""
        return {k: getattr(self, k) for k in ("announce", "updates", "resolution", "remind", "escalate", "access",
                                              "customer_impact", "fallback")}

    def access_audiences(self) -> list[str]:
        """Who hears a request for a specific access: ``access``, else ``escalate``."""
        return self.access or self.escalate


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: The default working days of a post-mortem.
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class PostmortemSettings(Section):
    """When a post-mortem is held by default (a working day, at a working time) and when it is overdue."""

    after: Duration = Field(timedelta(days=2), description="a resolution (or rollback) sets the post-mortem on the "
                            "day this long after it, unless a date is given")
    time: str = Field("14:00", description="at this local time (HH:MM, [timezone])")
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS),
                                    description="on one of these days (the next one when the day falls outside)")
    overdue_after: Duration = Field(timedelta(days=1), description="no postmortem event this long after its date "
                                    "→ a reminder that it is overdue")

    @field_validator("time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        found = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", value)
        if found is None:
            raise ValueError(f"{value[:20]!r}: expected a time of day HH:MM, e.g. \"14:00\"")
        return f"{int(found.group(1)):02d}:{found.group(2)}"

    @field_validator("weekdays")
    @classmethod
    def _some_days(cls, value: list[Weekday]) -> list[Weekday]:
        if not value:
            raise ValueError("at least one day (mon, tue, wed, thu, fri, sat, sun)")
        return list(dict.fromkeys(value))

    def hours(self, zone: str) -> dates.WorkingHours:
        """These working hours in ``zone``."""
        hour, minute = (int(part) for part in self.time.split(":"))
        return dates.WorkingHours(at=dt_time(hour, minute), weekdays=frozenset(dates.WEEKDAYS.index(d) for d in self.weekdays),
                                  zone=zone)


class Settings(BaseSettings):
    """Everything Herald can be told (see config.example.toml)."""

    model_config = SettingsConfigDict(env_prefix="HOTFIX_", env_nested_delimiter="__", extra="forbid")

    locale: Locale = Locale.FR
    timezone: str = "Europe/Paris"
    templates_dir: Path | None = None
    redis: RedisSettings = Field(default_factory=RedisSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    teams: dict[str, TeamsChannel] = Field(default_factory=dict)
    audiences: dict[str, Audience] = Field(default_factory=dict)
    severity: dict[Severity, SeverityPolicy] = Field(default_factory=dict)
    people: dict[str, Person] = Field(default_factory=dict)
    postmortem: PostmortemSettings = Field(default_factory=PostmortemSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = TOML_FILE.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris')") from None
        return value

    @model_validator(mode="after")
    def _cross_check(self) -> Settings:
        problems: list[str] = []
        for name, audience in self.audiences.items():
            if not _AUDIENCE_NAME.match(name):
                problems.append(f"audiences.{name[:40]!r}: a name of 1-100 characters without <, >, quotes, ':' or "
                                "control characters")
            for channel in audience.teams:
                if channel not in self.teams:
                    known = ", ".join(sorted(self.teams)) or "none"
                    problems.append(f"audiences.{name}.teams: unknown Teams channel {channel!r} (configured: {known})")
            for person in audience.approval:
                if person not in self.people:
                    known = ", ".join(sorted(self.people)) or "none"
                    problems.append(f"audiences.{name}.approval: unknown person {person!r} (a key of [people]: {known})")
            if audience.allowed_domains and not audience.self_service:
                problems.append(f"audiences.{name}.allowed_domains: only for a self_service audience")
        for sev, policy in self.severity.items():
            for key, names in policy.audiences().items():
                for audience_name in names:
                    if audience_name not in self.audiences:
                        known = ", ".join(sorted(self.audiences)) or "none"
                        problems.append(
                            f"severity.{sev.value}.{key}: unknown audience {audience_name!r} (configured: {known})"
                        )
            if policy.approval_timeout is not None and policy.approval_timeout <= timedelta(0):
                problems.append(f"severity.{sev.value}.approval_timeout: must be longer than 0s (leave it out to wait)")
            if policy.warn_before is not None and policy.warn_before >= policy.resolve_within:
                problems.append(f"severity.{sev.value}.warn_before: must be shorter than resolve_within")
        for name in self.people:
            if not _PERSON_NAME.match(name):
                problems.append(f"people.{name[:40]!r}: a name of 1-100 characters without <, >, quotes or control "
                                "characters")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def policy(self, severity: Severity) -> SeverityPolicy:
        """The policy of a severity; one that is not configured tells nobody but keeps the playbook deadline."""
        return self.severity.get(severity) or SeverityPolicy(resolve_within=PLAYBOOK_DEADLINES[severity])

    def postmortem_after(self, severity: Severity) -> timedelta:
        """How long after a resolution (or rollback) the post-mortem is held by default, for ``severity``."""
        return self.policy(severity).postmortem_after or self.postmortem.after

    def postmortem_audiences(self, severity: Severity) -> list[str]:
        """Who hears of the post-mortem (reminders, the report): the remind and resolution audiences, but
        never one of kind ``users``: a post-mortem is the team's and its stakeholders' business."""
        policy = self.policy(severity)
        return [a for a in dict.fromkeys([*policy.remind, *policy.resolution])
                if self.audience_kind(a) is not AudienceKind.USERS]

    def resolve_within(self) -> dict[Severity, timedelta]:
        """Each severity's deadline as configured (the playbook's where not): severity labels are derived from it."""
        return {s: self.policy(s).resolve_within for s in Severity}

    def audience_kind(self, audience: str) -> AudienceKind:
        """The kind of an audience; one not configured (a fallback, a person) counts as the team."""
        found = self.audiences.get(audience)
        return found.kind if found is not None else AudienceKind.TEAM

    def mentionable(self) -> dict[str, str]:
        """The people a Teams card can mention: name → Teams id (UPN or Entra object id)."""
        return {name: person.teams for name, person in self.people.items() if person.teams}

    def person_locale(self, name: str | None) -> Locale:
        """The locale of a person of ``[people]``, else the configured one."""
        found = self.people.get(name) if name else None
        return found.locale if found is not None and found.locale is not None else self.locale

    def audience_locale(self, audience: str) -> Locale:
        found = self.audiences.get(audience)
        return found.locale if found is not None and found.locale is not None else self.locale

    def templates_path(self) -> Path:
        return self.templates_dir or SHIPPED_TEMPLATES

    def secret_values(self) -> list[str]:
        """Every configured secret, for tests and log filters that must never show them."""
        out = [s.get_secret_value() for s in (self.smtp.password, self.http.token, self.http.viewer_token,
                                              self.http.signing_key) if s]
        out += [t.get_secret_value() for t in self.http.tokens.values()]
        out += [c.url.get_secret_value() for c in self.teams.values() if c.url is not None]
        out.append(addresses.parse_redis_url(self.redis.url).password or "")
        out += [value for name, value in parse_qsl(urlsplit(self.redis.url).query) if "password" in name.lower()]
        return [s for s in out if s]


#: A ``[people]`` key: it is shown in messages and is the NAME of a Teams ``<at>NAME</at>`` mention.
_PERSON_NAME = re.compile(r"^[^<>\"'\x00-\x1f\x7f]{1,100}$")
#: An ``[audiences]`` key: in subjects, Redis keys and signed links (at most 100 characters there); ``:`` is kept for
#: ``person:NAME``, the audience of one person's own copy.
_AUDIENCE_NAME = re.compile(r"^[^<>\"':\x00-\x1f\x7f-\x9f]{1,100}$")
