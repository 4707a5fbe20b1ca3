"""The policy table: who must hear what, from one step and the per-severity policy.

``route(step, settings)`` is pure: it reads the settings and the step, nothing else.
A ``postmortem`` event sends its answers and corrective actions to the post-mortem audiences
(``Settings.postmortem_audiences``: never users). It encodes the playbook's escalation table where an event triggers it: ``needs_access``
escalates to the ``access`` audiences (DevOps/Admin); ``customer_impact`` brings the
``customer_impact`` audiences into announcement, updates and resolution from then on.
It returns one ``Delivery`` per (message, audience, channel); ``planner.plan`` orders
them, folds digests and turns each into jobs, one per recipient batch.

Role prompts (``[severity.Px] prompts``) go to one person: ``assignment`` when a role is
given to someone (by email only when the declaration gives it: the announcement already
mentions the whole team), ``review_request`` to the reviewer when the phase enters review,
``deploy_request`` to devops when it enters staging and again for production; each to the
person's email and, mentioning them, to the hotfix's responder Teams channels. Nobody is
prompted about what they did themselves.
"""
from __future__ import annotations

from daemon.lifecycle import PHASE_ROLES, Outcome, Step
from hotfix.enums import EventType, MessageName, Phase, Severity
from hotfix.routing import Delivery, expand, team_channels, to_person
from hotfix.settings import Settings, SeverityPolicy
from hotfix.state import HotfixState


def route(step: Step, settings: Settings) -> list[Delivery]:
    """The deliveries one applied event calls for (none for duplicates, buffered or late events)."""
    if step.outcome is not Outcome.APPLIED:
        return []
    after, before, event = step.after, step.before, step.event
    severity = after.severity or Severity.P2
    policy = settings.policy(severity)
    cause = event.event_id
    out: list[Delivery] = []

    if event.type is EventType.DECLARED and (not before.declared or step.reopened):
        out += expand(MessageName.ANNOUNCEMENT, _plus_customers(policy.announce, after, policy), settings, cause)
    elif event.type in (EventType.DECLARED, EventType.UPDATED):
        out += _newly_concerned(before, after, settings, cause)
        out += _customers_now(before, after, policy, settings, cause)
        entered = {"entered": after.phase.value} if after.phase is not before.phase else None  # phase guidance
        out += expand(MessageName.UPDATE, _plus_customers(policy.updates, after, policy), settings, cause, entered)
    elif event.type is EventType.RESOLVED:
        out += expand(MessageName.RESOLUTION, _plus_customers(policy.resolution, after, policy), settings, cause)
    elif event.type is EventType.ROLLED_BACK:
        out += expand(MessageName.ROLLBACK, _told(after, policy.announce), settings, cause)
    elif event.type is EventType.CANCELLED:
        out += expand(MessageName.CANCELLATION, _told(after, policy.announce), settings, cause)
    elif event.type is EventType.POSTMORTEM:  # its answers and actions, to the team and stakeholders (not users)
        out += expand(MessageName.POSTMORTEM, settings.postmortem_audiences(severity), settings, cause)
    needs_access = getattr(event, "needs_access", None)
    if needs_access:  # "besoin d'accès spécifique → escalade DevOps/Admin"
        notice = {"reason": "needs_access", "needs_access": needs_access, "propose_rollback": False}
        out += expand(MessageName.ESCALATION, policy.access_audiences(), settings, cause + ":access", notice)
    if step.guardrail:  # a golden rule broken: production or resolution without review / smoke test
        notice = {"missing": list(step.guardrail), "phase": after.phase.value}
        out += expand(MessageName.GUARDRAIL, _told(after, policy.announce), settings, cause + ":guardrail", notice)
    if after.is_open:
        out += prompts(step, settings)
    return out


def prompts(step: Step, settings: Settings) -> list[Delivery]:
    """The role prompts of an applied step: assignments, review and deploy requests."""
    after, before, event = step.after, step.before, step.event
    policy = settings.policy(after.severity or Severity.P2)
    enabled = set(policy.prompts)
    channels = team_channels(_told(after, policy.announce), settings)
    declaring = not before.declared or step.reopened
    out: list[Delivery] = []
    if MessageName.ASSIGNMENT in enabled:
        held = {} if declaring else before.team.roles()
        for role, name in after.team.roles().items():
            if held.get(role) != name and name != event.by:
                out += to_person(MessageName.ASSIGNMENT, name, settings, f"{event.event_id}:assignment:{role}",
                                 channels=[] if declaring else channels, notice={"role": role, "person": name})
    asked = PHASE_ROLES.get(after.phase)
    holder = after.team.roles().get(asked) if asked else None
    if holder and holder != event.by and (declaring or after.phase is not before.phase):
        message = MessageName.REVIEW_REQUEST if after.phase is Phase.REVIEW else MessageName.DEPLOY_REQUEST
        if message in enabled:
            out += to_person(message, holder, settings, f"{event.event_id}:{message.value}", channels=channels,
                             notice={"role": asked, "person": holder, "target": after.phase.value})
    return out


def _plus_customers(audiences: list[str], state: HotfixState, policy: SeverityPolicy) -> list[str]:
    """``audiences`` plus, once the customer impact is major, the ``customer_impact`` audiences."""
    return list(dict.fromkeys([*audiences, *(policy.customer_impact if state.customer_impact else [])]))


def _customers_now(before: HotfixState, after: HotfixState, policy: SeverityPolicy, settings: Settings,
                   cause: str) -> list[Delivery]:
    """A major customer impact reported on an update announces to the customer_impact audiences not told yet."""
    if before.customer_impact or not after.customer_impact:
        return []
    told = set(after.announced_to) | set(policy.announce)
    fresh = [a for a in policy.customer_impact if a not in told]
    return expand(MessageName.ANNOUNCEMENT, fresh, settings, cause + ":customer_impact", {"customer_impact": True})


def _told(state: HotfixState, announce: list[str]) -> list[str]:
    """The announce audiences plus everyone who heard the announcement, in a stable order."""
    return list(dict.fromkeys([*announce, *state.announced_to]))


def _newly_concerned(before: HotfixState, after: HotfixState, settings: Settings, cause: str) -> list[Delivery]:
    """A raised severity announces to the audiences it newly concerns, and only to them."""
    if before.severity is None or after.severity is None or after.severity.rank >= before.severity.rank:
        return []
    already = set(before.announced_to) | set(settings.policy(before.severity).announce)
    fresh = [a for a in settings.policy(after.severity).announce if a not in already]
    return expand(MessageName.ANNOUNCEMENT, fresh, settings, cause + ":raised",
                  {"raised_from": before.severity.value})
