"""One owner per label: templates/<locale>/_labels.j2 names every known check, role, phase and severity."""
from __future__ import annotations

from typing import Any

import pytest

from hotfix.enums import Locale, Phase, Severity
from hotfix.events import ROLES
from hotfix.settings import SHIPPED_TEMPLATES
from hotfix.state import KNOWN_CHECKS
from hotfix.templating import environment


def labels(locale: Locale) -> Any:
    """The module of ``<locale>/_labels.j2`` (its top-level sets)."""
    return environment(SHIPPED_TEMPLATES).get_template(f"{locale.value}/_labels.j2").module


@pytest.mark.parametrize("locale", list(Locale))
def test_every_known_name_has_a_label(locale: Locale) -> None:
    """Each known check, role, phase and severity has a label (and a process line) in each locale."""
    found = labels(locale)
    assert list(found.CHECKS) == list(KNOWN_CHECKS)
    assert list(found.ROLES) == list(ROLES)
    assert set(found.PHASES) == {p.value for p in Phase}
    assert set(found.SEVERITY_NAMES) == set(found.PROCESS) == {s.value for s in Severity}
    assert set(found.GUIDANCE) <= {p.value for p in Phase}


def test_messages_and_document_read_the_same_labels() -> None:
    """The messages' macros and the document's labels are the _labels.j2 dictionaries, not copies."""
    env = environment(SHIPPED_TEMPLATES, extensions=["jinja2.ext.do"])
    for locale in Locale:
        owner = labels(locale)
        document = env.get_template(f"{locale.value}/_doc_labels.md.j2").module
        assert document.CHECKS == owner.CHECKS and document.ROLES == owner.ROLES
        source = (SHIPPED_TEMPLATES / locale.value / "_macros.j2").read_text(encoding="utf-8")
        assert f'import "{locale.value}/_labels.j2"' in source and "set CHECKS = {" not in source
