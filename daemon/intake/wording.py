"""What the intakes write in the events they push — texts people read in the messages and the document —
in the configured locale (``Settings.locale``): one table per locale, one key per sentence.

Only the words are Herald's: names of alerts, Jira statuses and comments are quoted as the tools sent them.
"""
from __future__ import annotations

from hotfix.enums import Locale

_WORDS: dict[Locale, dict[str, str]] = {
    Locale.FR: {
        "listing": "{count} alerte(s) en cours : {names}{more}",
        "more": " et {count} autre(s)",
        "recovery": "le monitoring signale le retour à la normale",
        "firing_again": "le monitoring signale de nouveau des alertes : {listing}",
        "changed": "alertes en cours modifiées : {parts}",
        "count": "{count} alerte(s) en cours",
        "new": "nouvelles : {names}",
        "cleared": "terminées : {names}",
        "status": "Statut : {old} → {new}",
        "priority": "Priorité : {old} → {new}",
        "assignee": "Assigné à : {name}",
        "comment": "Commentaire de {author} : {text}",
        "someone": "quelqu'un",
        "resolved_in_jira": "Résolu dans Jira",
        "resolved_in_jira_as": "Résolu dans Jira : {resolution}",
    },
    Locale.EN: {
        "listing": "{count} alert(s) firing: {names}{more}",
        "more": " and {count} more",
        "recovery": "monitoring reports recovery",
        "firing_again": "monitoring reports the alerts firing again: {listing}",
        "changed": "firing alerts changed: {parts}",
        "count": "{count} alert(s) firing",
        "new": "new: {names}",
        "cleared": "cleared: {names}",
        "status": "Status: {old} → {new}",
        "priority": "Priority: {old} → {new}",
        "assignee": "Assignee: {name}",
        "comment": "Comment by {author}: {text}",
        "someone": "someone",
        "resolved_in_jira": "Resolved in Jira",
        "resolved_in_jira_as": "Resolved in Jira: {resolution}",
    },
}


def say(locale: Locale, key: str, **values: object) -> str:
    """The sentence ``key`` in ``locale`` with ``values`` filled in."""
    return _WORDS[locale][key].format(**values)
