"""The playbook's classification table (hotfix.classification), on the playbook's own examples in both languages."""
from __future__ import annotations

import pytest

from hotfix.classification import classify_impact
from hotfix.enums import Severity
from hotfix.events import Declared, InvalidEvent, parse_event

P0, P1, P2 = Severity.P0, Severity.P1, Severity.P2


@pytest.mark.parametrize(("text", "expected"), [
    # P0 — Critique: service DOWN ou données corrompues
    ("Service DOWN", P0), ("Données corrompues", P0), ("Site inaccessible", P0), ("Fuite de données", P0),
    ("Paiements cassés", P0), ("Perte de données clients", P0),
    ("Service down", P0), ("Data corrupted", P0), ("Site unreachable", P0), ("Data leak", P0),
    ("Payments broken", P0), ("No order can be paid", P0), ("Data loss on the orders table", P0),
    # P1 — Haute: feature majeure cassée
    ("Login impossible pour tous", P1), ("Checkout bloqué", P1), ("API principale en erreur", P1),
    ("Impossible de se connecter", P1), ("Feature majeure cassée", P1),
    ("Login impossible for everyone", P1), ("Checkout blocked", P1), ("Main API failing", P1),
    ("Nobody can log in", P1), ("Major feature broken", P1), ("Checkout returns 500", P1),
    # P2 — Moyenne: feature secondaire cassée
    ("Export qui ne fonctionne pas", P2), ("Bug d'affichage gênant", P2), ("Lenteur importante", P2),
    ("Export not working", P2), ("Annoying display bug", P2), ("Severe slowness", P2),
    ("Feature secondaire cassée", P2), ("Secondary feature broken", P2),
    # what the table does not say: a feature or a symptom word alone
    ("Export des paiements lent", P2), ("Slow payments export", P2), ("Bug d'affichage sur la page de paiement", P2),
    ("Memory leak in the worker", None), ("api", None), ("impossible", None), ("Nouvelle API à documenter", None),
    ("Paiements", None), ("Checkout", None), ("", None),
])
def test_the_playbook_table(text: str, expected: Severity | None) -> None:
    """Each example of the playbook's table gets its row, in French and English; single words classify nothing."""
    assert classify_impact(text) is expected


def test_declared_without_severity_is_classified_from_impact_and_title() -> None:
    """A declaration without severity takes the table's row from its impact and title."""
    event = parse_event({"type": "declared", "ticket": "INC-1", "title": "Checkout", "impact": "Paiements cassés"})
    assert isinstance(event, Declared) and event.severity is P0


def test_unclassifiable_declaration_names_severity() -> None:
    """With neither severity nor enough impact, the error asks for a severity."""
    with pytest.raises(InvalidEvent, match="^severity: missing"):
        parse_event({"type": "declared", "ticket": "INC-1", "title": "API impossible"})
