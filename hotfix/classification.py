"""The playbook's classification table, in French and English: an impact description → P0, P1 or P2.

| severity | impact (playbook)                   | its examples                                              |
|----------|-------------------------------------|-----------------------------------------------------------|
| P0       | service down or data corrupted      | site inaccessible, fuite de données, paiements cassés      |
| P1       | major feature broken (for everyone) | login impossible pour tous, checkout bloqué, API en erreur |
| P2       | secondary feature broken            | export qui ne fonctionne pas, bug d'affichage, lenteur     |

Invariants: a feature word alone never classifies ("paiements", "api", "checkout"), nor a symptom
word alone ("impossible", "bloqué"): a row needs the thing *and* what is wrong with it, so
"Export des paiements lent" is a P2 (slowness), not a P0. The worst matching row wins. Text is
compared without accents or case, the first ``limits.CLASSIFY_CHARS`` of each text only (a table
row reads in a short sentence; a huge text costs no more). None means "not enough to classify":
the producer must say.
"""
from __future__ import annotations

import re
import unicodedata

from hotfix.enums import Severity
from hotfix.limits import CLASSIFY_CHARS

#: What is wrong, for a feature (compared without accents): broken, failing, blocked, impossible…
_BROKEN = (r"(casse|cassee|casses|cassees|broken|bloque|bloquee|bloques|bloquees|blocked|impossibles?|en erreurs?|"
           r"errors?|erreurs?|failing|fails?|failed|down|ko|en panne|en echec|hs|ne (fonctionne|marche)(nt)? (pas|plus)|"
           r"not working|unavailable|indisponibles?|returns? 5\d\d|renvoie (des )?5\d\d|5\d\d)")


def _near(thing: str, symptom: str = _BROKEN, gap: int = 40) -> str:
    """``thing`` and ``symptom`` in either order, at most ``gap`` characters apart."""
    return rf"(\b{thing}\b.{{0,{gap}}}\b{symptom}|\b{symptom}\b.{{0,{gap}}}\b{thing}\b)"


_TABLE: tuple[tuple[Severity, re.Pattern[str]], ...] = (
    (Severity.P0, re.compile("|".join([
        r"\b(site|service|application|app|plateforme|platform|production|prod)\b.{0,30}"
        r"\b(down|inaccessibles?|unreachable|hors service|en panne|offline|indisponibles?|unavailable)\b",
        r"\b(outage|panne (totale|generale)|site down|service down|hors service)\b",
        r"\b(fuite|perte|corruption)s? de(s)? donnees\b", r"\bdonnees\b.{0,30}\b(corrompues?|perdues?|effacees?)\b",
        r"\bdata (leak|loss|breach|corruption)\b", r"\b(corrupted|lost|leaked) data\b", r"\bdata\b.{0,20}\b(corrupted|lost|leaked)\b",
        _near(r"(paiements?|payments?|encaissements?)"),
        r"\b(cannot|can't|can ?not|impossible de) (pay|payer)\b", r"\bno (order|payment)s? can be (paid|processed)\b",
    ]), re.IGNORECASE)),
    (Severity.P1, re.compile("|".join([
        _near(r"(login|logins|connexion|connexions|authentification|authentication|sign[- ]?in)"),
        r"\b(impossible de|cannot|can't|can ?not|unable to) (se connecter|log ?in|sign ?in)\b",
        r"\b(nobody|no one|personne ne) (can|peut) (log ?in|sign ?in|se connecter)\b",
        _near(r"(checkout|paniers?|cart|commandes?|orders?)"),
        r"\b(impossible de|cannot|can't|unable to) (commander|order|check ?out)\b",
        _near(r"(api principale|main api|core api|public api|api publique)"),
        r"\b(feature|fonctionnalite) (majeure|principale|major|main)\b.{0,30}" + _BROKEN,
        r"\bmajor feature\b",
    ]), re.IGNORECASE)),
    (Severity.P2, re.compile("|".join([
        r"\bexports?\b", r"\b(affichage|display|rendering|rendu|ui|cosmetique|cosmetic|typo)\b",
        r"\b(lenteurs?|lents?|lentes?|ralenti(e|s|es)?|slow|slowness|latency|latence|timeouts? occasionnels?)\b",
        r"\b(feature|fonctionnalite)s? (secondaires?|secondary|minor|mineures?)\b", r"\b(secondary|secondaire|minor|mineur)\b",
    ]), re.IGNORECASE)),
)


def normalise(text: str) -> str:
    """Lower case, accents removed, apostrophes and spaces made plain (what the table is written against)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("\u00a0", " "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def classify_impact(*texts: str | None) -> Severity | None:
    """The playbook's severity for an impact description (its title and impact), or None when unsure."""
    plain = normalise(" \n ".join(t[:CLASSIFY_CHARS] for t in texts if t))
    for severity, pattern in _TABLE:
        if pattern.search(plain):
            return severity
    return None
