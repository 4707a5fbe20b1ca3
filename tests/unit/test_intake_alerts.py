"""The pure decision of the alert-group adapters (Alertmanager, Grafana): no Redis involved."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from daemon.intake.alerts import AlertGroup, translate
from hotfix.events import Declared
from hotfix.keys import TICKET_PATTERN
from hotfix.service_settings import AlertmanagerIntake
from tests.fixtures.clock import frozen_at

NOW = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)
#: Every wall clock stands at NOW in each test: the dates written here hold on any day.
frozen_clock = frozen_at(NOW)
CFG = AlertmanagerIntake()


def group(*alerts: tuple[str, str, str], key: str = '{}:{alertname="X"}', **common: str) -> AlertGroup:
    """A group of (fingerprint, status, severity) alerts."""
    body: dict[str, Any] = {
        "version": "4", "groupKey": key, "status": "firing", "receiver": "herald",
        "groupLabels": {"alertname": "X"}, "commonLabels": common, "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": [{"status": st, "labels": {"alertname": "X", "severity": sev, "instance": fp},
                    "annotations": {}, "generatorURL": "http://prom/graph", "fingerprint": fp}
                   for fp, st, sev in alerts],
    }
    return AlertGroup.model_validate(body)


def test_first_firing_plans_a_declared_with_a_stable_id() -> None:
    """The same first firing planned twice yields the same event id and a derived ticket matching the pattern."""
    import re

    a = translate("alertmanager", "AM", CFG, group(("f1", "firing", "critical")), None, NOW)
    b = translate("alertmanager", "AM", CFG, group(("f1", "firing", "critical")), None, NOW)
    assert [e.type.value for e in a.events] == ["declared"]
    assert a.events[0].event_id == b.events[0].event_id and a.events[0].event_id.startswith("am-")
    assert a.ticket and re.match(TICKET_PATTERN, a.ticket) and a.ticket.startswith("AM-")
    assert a.events[0].title == "X"  # no summary annotation: the alertname


def test_order_of_alerts_does_not_change_the_id() -> None:
    """Firing fingerprints are sorted: the same alerts in another order give the same id."""
    one = translate("alertmanager", "AM", CFG, group(("f1", "firing", "critical"), ("f2", "firing", "warning")), None, NOW)
    two = translate("alertmanager", "AM", CFG, group(("f2", "firing", "warning"), ("f1", "firing", "critical")), None, NOW)
    assert one.events[0].event_id == two.events[0].event_id


def test_most_severe_mapped_label_wins() -> None:
    """With a warning and a critical alert firing, the hotfix is P0."""
    result = translate("alertmanager", "AM", CFG, group(("f1", "firing", "warning"), ("f2", "firing", "critical")),
                  None, NOW)
    assert result.events[0].severity is not None and result.events[0].severity.value == "P0"


def test_resend_of_the_remembered_state_is_a_duplicate() -> None:
    """Planning the same payload against the state it produced yields no event and flags a duplicate."""
    g = group(("f1", "firing", "critical"))
    first = translate("alertmanager", "AM", CFG, g, None, NOW)
    again = translate("alertmanager", "AM", CFG, g, first.state, NOW)
    assert again.events == [] and again.duplicate


def test_resolved_without_history_is_ignored() -> None:
    """A resolved group never seen firing plans nothing."""
    result = translate("alertmanager", "AM", CFG, group(("f1", "resolved", "critical")), None, NOW)
    assert result.events == [] and result.notes


def test_invalid_ticket_label_falls_back_to_derived_ticket() -> None:
    """A ticket label that is not a valid ticket is replaced by the derived id, with a note."""
    result = translate("alertmanager", "AM", CFG, group(("f1", "firing", "critical"), ticket="has spaces"), None, NOW)
    assert result.ticket and result.ticket.startswith("AM-") and any("ticket" in n for n in result.notes)


def test_every_transition_gets_a_distinct_id() -> None:
    """declared, recovery and firing-again of one group carry three different ids."""
    firing, resolved = group(("f1", "firing", "critical")), group(("f1", "resolved", "critical"))
    s1 = translate("alertmanager", "AM", CFG, firing, None, NOW)
    s2 = translate("alertmanager", "AM", CFG, resolved, s1.state, NOW)
    s3 = translate("alertmanager", "AM", CFG, firing, s2.state, NOW)
    ids = [s.events[0].event_id for s in (s1, s2, s3)]
    assert len(set(ids)) == 3
    assert [s.events[0].type.value for s in (s1, s2, s3)] == ["declared", "updated", "updated"]


def test_started_at_is_the_earliest_readable_starts_at() -> None:
    """"Depuis quand ?": the earliest startsAt of the firing alerts; a zero, naive or far date is left out."""
    g = group(("f1", "firing", "critical"), ("f2", "firing", "critical"), ("f3", "firing", "critical"))
    g.alerts[0].startsAt = (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    g.alerts[1].startsAt = (NOW - timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    g.alerts[2].startsAt = "0001-01-01T00:00:00Z"
    [event] = translate("alertmanager", "AM", CFG, g, None, NOW).events
    assert isinstance(event, Declared)
    assert event.started_at == NOW - timedelta(minutes=12) + timedelta(microseconds=123456)
    for bad in ("0001-01-01T00:00:00Z", "2026-11-25T09:00:00", "yesterday", None):
        g.alerts[0].startsAt = g.alerts[1].startsAt = g.alerts[2].startsAt = bad
        [event] = translate("alertmanager", "AM", CFG, g, None, NOW).events
        assert isinstance(event, Declared) and event.started_at is None
