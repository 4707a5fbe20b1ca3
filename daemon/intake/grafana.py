"""``POST /hooks/grafana``: the Grafana alerting webhook contact point.

Grafana's body is Alertmanager's (it embeds one) plus ``orgId``, ``title``,
``state``, ``message`` and, per alert, ``dashboardURL``, ``panelURL``,
``silenceURL``, ``values``, ``valueString``
(https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/).
It is read with the same semantics: one hotfix per ``groupKey``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from redis import Redis

from daemon.intake.alerts import AlertGroup, handle
from daemon.intake.memory import PushResult
from hotfix.enums import Locale
from hotfix.service_settings import GrafanaIntake

SOURCE = "grafana"
#: Derived tickets and event ids start with this.
PREFIX = "GF"


class GrafanaPayload(AlertGroup):
    """A Grafana alerting webhook body."""

    orgId: int | None = None
    title: str | None = None
    state: str | None = None
    message: str | None = None


def receive(redis: Redis, cfg: GrafanaIntake, body: dict[str, Any], now: datetime,
            locale: Locale = Locale.EN) -> PushResult:
    """Validate (``pydantic.ValidationError`` when malformed) and push what the body changes (texts in ``locale``)."""
    payload = GrafanaPayload.model_validate(body)
    return handle(redis, SOURCE, PREFIX, cfg, payload, now, locale)
