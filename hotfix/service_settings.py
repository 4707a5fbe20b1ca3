"""The sections of the configuration that say how Herald reaches things and runs.

Redis, the SMTP server, ``hotfix serve`` (its tokens, body limit and signed links), the intakes'
translations (Alertmanager, Grafana, Jira), the outbox, each Teams webhook and the workers' retries.
Who hears what — audiences, people, severities, the post-mortem — and the whole ``Settings`` live in
``hotfix.settings``. Every section forbids unknown keys (``Section``); secrets are ``SecretStr``.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hotfix import addresses
from hotfix.durations import Duration
from hotfix.enums import Severity, SmtpSecurity, TeamsFormat
from hotfix.limits import MAX_BODY_DEFAULT
from hotfix.signing import MIN_KEY_LENGTH

#: Requests a second one Teams webhook takes before it throttles (``[teams.X] rate`` defaults to it).
TEAMS_RATE = 4.0


class Section(BaseModel):
    """A section of the configuration: an unknown key is an error naming it."""

    model_config = ConfigDict(extra="forbid")


class RedisSettings(Section):
    """Where Redis is: ``redis://``, ``rediss://`` or ``redis+sentinel://`` (not Cluster: RQ needs one keyspace)."""

    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout: Duration = timedelta(seconds=30)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        problem = addresses.redis_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip()


class SmtpSettings(Section):
    """The outgoing mail server; without ``host`` emails go to the outbox."""

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "Hotfix Desk <hotfix@localhost>"
    timeout: Duration = timedelta(seconds=10)
    batch_size: int = Field(100, ge=1, le=10000, description="recipients per job (one SMTP connection each)")
    validate_certs: bool = True

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        problem = addresses.sender_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class HttpSettings(Section):
    """``hotfix serve``."""

    listen: str = "127.0.0.1:8080"
    token: SecretStr | None = None
    viewer_token: SecretStr | None = None
    tokens: dict[str, SecretStr] = Field(default_factory=dict, description="per-source tokens: alertmanager, grafana, jira, events")
    max_body: int = Field(MAX_BODY_DEFAULT, ge=1024)
    public_url: str | None = Field(None, description="where people reach `hotfix serve`; action links start with it")
    signing_key: SecretStr | None = Field(None, description="signs action links; with public_url, turns them on")
    link_ttl: Duration = Field(timedelta(hours=48), description="how long an action link stays valid")
    invite_ttl: Duration = Field(timedelta(days=30), description="how long a subscription invitation link stays valid")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        addresses.parse_listen(value)  # ValueError names what is expected
        return value.strip()

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("expected an absolute http(s) URL without query or fragment, e.g. https://herald.example.com")
        return value.strip().rstrip("/")

    @field_validator("signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"at least {MIN_KEY_LENGTH} characters "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return value

    def links_enabled(self) -> bool:
        """Whether messages carry signed action links: both ``public_url`` and ``signing_key`` are set."""
        return bool(self.public_url and self.signing_key is not None)


class AlertmanagerIntake(Section):
    """How Alertmanager webhooks become hotfix events."""

    ticket_label: str = "ticket"
    severity_label: str = "severity"
    severity_map: dict[str, Severity] = Field(
        default_factory=lambda: {"critical": Severity.P0, "error": Severity.P1, "high": Severity.P1, "warning": Severity.P2}
    )
    default_severity: Severity | None = None
    resolve_on_recovery: bool = False


class GrafanaIntake(AlertmanagerIntake):
    """Grafana alerting uses the same semantics as Alertmanager."""


class JiraIntake(Section):
    """How Jira issue webhooks become hotfix events."""

    label: str = "hotfix"
    priority_map: dict[str, Severity] = Field(
        default_factory=lambda: {"Highest": Severity.P0, "High": Severity.P1, "Medium": Severity.P2}
    )
    root_cause_field: str | None = None


class IntakeSettings(Section):
    alertmanager: AlertmanagerIntake = Field(default_factory=AlertmanagerIntake)
    grafana: GrafanaIntake = Field(default_factory=GrafanaIntake)
    jira: JiraIntake = Field(default_factory=JiraIntake)


class OutboxSettings(Section):
    """Where messages go when their channel is not configured."""

    dir: Path = Path("outbox")


class TeamsChannel(Section):
    """One Teams webhook; without ``url`` its messages go to the outbox."""

    url: SecretStr | None = None
    format: TeamsFormat = TeamsFormat.WORKFLOW
    rate: float = Field(TEAMS_RATE, gt=0, description="requests per second allowed to this webhook")
    timeout: Duration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        problem = addresses.webhook_problem(value.get_secret_value()) if value is not None else None
        if problem:
            raise ValueError(problem)  # names the scheme only: the URL is a secret
        return value


class WorkerSettings(Section):
    """Delivery retries and the worker's housekeeping."""

    max_retries: int = Field(8, ge=0)
    backoff_base: Duration = timedelta(seconds=2)
    backoff_cap: Duration = timedelta(minutes=5)
    p0_backoff_base: Duration = timedelta(seconds=1)
    p0_backoff_cap: Duration = timedelta(seconds=30)
    job_timeout: Duration = timedelta(seconds=60)
