"""The closed vocabularies of Herald, as ``str`` enums so they serialise as plain text."""
from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    """How bad it is; P0 is the worst."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"

    @property
    def rank(self) -> int:
        """0 for P0 (most urgent), 2 for P2."""
        return int(self.value[1])


class Phase(str, Enum):
    """The playbook's phases, in order."""

    TRIAGE = "triage"
    FIX = "fix"
    REVIEW = "review"
    STAGING = "staging"
    PRODUCTION = "production"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


class Status(str, Enum):
    """Whether a hotfix is still running: a rollback keeps it ``open`` (the fix goes on)."""

    OPEN = "open"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class EventType(str, Enum):
    """What a producer can say about a hotfix."""

    DECLARED = "declared"
    UPDATED = "updated"
    RESOLVED = "resolved"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    POSTMORTEM = "postmortem"


class MessageName(str, Enum):
    """The messages Herald sends; one template set each."""

    ANNOUNCEMENT = "announcement"
    UPDATE = "update"
    RESOLUTION = "resolution"
    ROLLBACK = "rollback"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    GUARDRAIL = "guardrail"
    POSTMORTEM = "postmortem"
    ASSIGNMENT = "assignment"
    REVIEW_REQUEST = "review_request"
    DEPLOY_REQUEST = "deploy_request"
    APPROVAL_REQUEST = "approval_request"


class Channel(str, Enum):
    """Where a message goes."""

    TEAMS = "teams"
    EMAIL = "email"


class AudienceKind(str, Enum):
    """Who an audience is: the document's communication checklist line, and whether it gets action links
    (responders of kind ``team`` do; ``stakeholders`` and ``users`` never do)."""

    TEAM = "team"
    STAKEHOLDERS = "stakeholders"
    USERS = "users"


class Decision(str, Enum):
    """What became of a message held for approval."""

    APPROVED = "approved"      # sent as it was
    EDITED = "edited"          # sent with the approver's wording
    DECLINED = "declined"      # never sent
    TIMEOUT = "timeout"        # sent unapproved after ``approval_timeout``
    SUPERSEDED = "superseded"  # replaced by a later message before anyone decided
    WITHDRAWN = "withdrawn"    # the hotfix closed before anyone decided: it told of a hotfix in progress


class DeliveryStatus(str, Enum):
    """The outcome of one delivery to one recipient."""

    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"


class Locale(str, Enum):
    """Languages of the templates."""

    FR = "fr"
    EN = "en"


class TeamsFormat(str, Enum):
    """Which kind of Teams webhook a channel is."""

    WORKFLOW = "workflow"
    CONNECTOR = "connector"


class SmtpSecurity(str, Enum):
    """How the SMTP connection is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


#: The messages that prompt one person to act on their role (``[severity.Px] prompts``).
PROMPTS = (MessageName.ASSIGNMENT, MessageName.REVIEW_REQUEST, MessageName.DEPLOY_REQUEST)

TERMINAL_STATUSES = frozenset({Status.RESOLVED, Status.CANCELLED})
