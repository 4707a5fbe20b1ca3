"""``POST /hooks/alertmanager``: the Alertmanager webhook (payload version 4).

Body (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)::

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing|resolved",
     "receiver": "...", "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": "...", "alerts": [{"status", "labels", "annotations", "startsAt", "endsAt",
     "generatorURL", "fingerprint"}]}
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from redis import Redis

from daemon.intake.alerts import AlertGroup, handle
from daemon.intake.memory import PushResult
from hotfix.enums import Locale
from hotfix.service_settings import AlertmanagerIntake

log = logging.getLogger(__name__)

SOURCE = "alertmanager"
#: Derived tickets and event ids start with this.
PREFIX = "AM"
#: The only payload version Alertmanager has ever sent.
VERSION = "4"


class AlertmanagerPayload(AlertGroup):
    """An Alertmanager webhook body."""


def receive(redis: Redis, cfg: AlertmanagerIntake, body: dict[str, Any], now: datetime,
            locale: Locale = Locale.EN) -> PushResult:
    """Validate (``pydantic.ValidationError`` when malformed) and push what the body changes (texts in ``locale``)."""
    payload = AlertmanagerPayload.model_validate(body)
    if payload.version not in (None, VERSION):
        log.warning("alertmanager payload version %r (expected %s): reading it as version 4", payload.version, VERSION)
    return handle(redis, SOURCE, PREFIX, cfg, payload, now, locale)
