"""Herald's Jinja environments: one factory for the messages, the coordination document and the status pages.

Every environment is sandboxed (an operator's template cannot reach Python), has ``StrictUndefined``
(a missing value is an error, never an empty string), looks for a template in each given folder in
turn (an operator's copy before the shipped one), escapes HTML in ``*.html.j2`` files only, and writes
no control character (``hotfix.text.finalize``).
What differs between uses (whitespace, extensions, caching) is said by the caller.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from hotfix.text import finalize


def html_by_name(name: str | None) -> bool:
    """Autoescape ``*.html.j2`` templates, and only them."""
    return bool(name and name.endswith(".html.j2"))


def environment(*folders: Path, **options: Any) -> SandboxedEnvironment:
    """A sandboxed, strict environment on ``folders`` (the first holding a template wins)."""
    unique = list(dict.fromkeys(str(f) for f in folders))
    options.setdefault("finalize", finalize)  # no control character is ever written (hotfix.text)
    return SandboxedEnvironment(loader=ChoiceLoader([FileSystemLoader(f) for f in unique]), undefined=StrictUndefined,
                                autoescape=html_by_name, **options)
