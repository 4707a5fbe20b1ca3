"""What a demo story is made of: steps on a story clock, each pushing events, webhooks or waiting for a timer.

A story is data. It never talks to Redis: ``herald.demo.player`` plays it through the real
daemon and workers. Invariants:

- every step happens at a story minute (minutes after the declaration) that never goes back;
  a step that waits for a timer (``timer``) happens when the daemon's own schedule says it is due;
- texts are written in both locales (``Text``); event fields may be ``Text`` (what people type,
  in the story's locale) and ``Minutes`` (times relative to the declaration), resolved at play time;
- ``{ticket}`` in any text is replaced by the demo's ticket.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hotfix.enums import Locale, Severity
from hotfix.service_settings import AlertmanagerIntake


@dataclass(frozen=True)
class Text:
    """One text in both locales."""

    fr: str
    en: str

    def __call__(self, locale: Locale, **values: str) -> str:
        text = self.fr if Locale(locale) is Locale.FR else self.en
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text


@dataclass(frozen=True)
class Minutes:
    """A time in an event: this many story minutes after the declaration."""

    value: float


@dataclass(frozen=True)
class Burst:
    """Alertmanager POSTing one alert group ``copies`` times (HA replicas, repeat_interval re-sends)."""

    instances: int
    copies: int
    status: str = "firing"

    def bodies(self, ticket: str, cfg: AlertmanagerIntake, at: datetime, locale: Locale) -> list[dict[str, Any]]:
        """The webhook bodies (version 4) Alertmanager would send, all for the group of ``ticket``."""
        severity = next((name for name, sev in cfg.severity_map.items() if sev is Severity.P0), "critical")
        common = {"alertname": "CheckoutErrorRate", "service": "checkout-api", cfg.severity_label: severity}
        annotations = {"summary": STORM_SUMMARY(locale), "description": STORM_IMPACT(locale)}
        alerts = [{
            "status": self.status,
            "labels": {**common, "instance": f"checkout-{n}:8080"},
            "annotations": annotations,
            "startsAt": at.isoformat(), "endsAt": at.isoformat() if self.status == "resolved" else NOT_ENDED,
            "generatorURL": "http://prometheus.example.com/graph?g0.expr=checkout_errors",
            "fingerprint": hashlib.sha256(f"{ticket}-{n}".encode()).hexdigest()[:16],
        } for n in range(1, self.instances + 1)]
        body = {
            "version": "4", "groupKey": f'{{}}:{{alertname="CheckoutErrorRate", {cfg.ticket_label}="{ticket}"}}',
            "truncatedAlerts": 0, "status": self.status, "receiver": "herald",
            "groupLabels": {"alertname": "CheckoutErrorRate", cfg.ticket_label: ticket},
            "commonLabels": {**common, cfg.ticket_label: ticket}, "commonAnnotations": annotations,
            "externalURL": "http://alertmanager.example.com:9093", "alerts": alerts,
        }
        return [body] * self.copies


#: What Alertmanager sends as ``endsAt`` for an alert still firing.
NOT_ENDED = "0001-01-01T00:00:00Z"
STORM_SUMMARY = Text("API de paiement : taux d'erreur au-dessus de 5 %", "Checkout API: error rate above 5%")
STORM_IMPACT = Text("Les paiements échouent sur plusieurs instances", "Payments fail on several instances")


@dataclass(frozen=True)
class Step:
    """One step of a story: at ``minute`` (or when ``timer`` is due) something happens and Herald reacts."""

    key: str
    title: Text
    says: Text
    minute: float = 0.0
    events: tuple[dict[str, Any], ...] = ()
    alerts: tuple[Burst, ...] = ()
    #: Wait for this timer of the daemon (``reminder``, ``unanswered``, ``at_risk``, ``breached``, ``postmortem``).
    timer: str | None = None


@dataclass(frozen=True)
class Story:
    """A scripted hotfix."""

    name: str
    title: Text
    summary: Text
    steps: tuple[Step, ...]


def resolve(value: Any, locale: Locale, start: datetime, ticket: str) -> Any:
    """An event field as a producer would send it: texts in ``locale``, ``Minutes`` as ISO times."""
    if isinstance(value, Text):
        return value(locale, ticket=ticket)
    if isinstance(value, Minutes):
        return (start + timedelta(minutes=value.value)).isoformat()
    if isinstance(value, str):
        return value.replace("{ticket}", ticket)
    if isinstance(value, dict):
        return {k: resolve(v, locale, start, ticket) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, locale, start, ticket) for v in value]
    return value
