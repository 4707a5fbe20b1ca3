"""Herald's Jinja environments: one factory for the messages, the coordination document and the status pages.

An environment with an operator's folder in it is sandboxed (an operator's template cannot reach Python);
one on Herald's own templates alone (under ``SHIPPED_TEMPLATES``: code of this package, as trusted as its
Python) is not, which saves the sandbox's check of every attribute (a quarter to a third of a render).
Values are never templates, so what an event says is escaped or written, never run, either way. Each has ``StrictUndefined``
(a missing value is an error, never an empty string), looks for a template in each given folder in
turn (an operator's copy before the shipped one), escapes HTML in ``*.html.j2`` files only, and writes
no control character (``hotfix.text.finalize``).
What differs between uses (whitespace, extensions, caching) is said by the caller.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from hotfix.settings import SHIPPED_TEMPLATES
from hotfix.text import finalize


def html_by_name(name: str | None) -> bool:
    """Autoescape ``*.html.j2`` templates, and only them."""
    return bool(name and name.endswith(".html.j2"))


def shipped_only(folders: list[str]) -> bool:
    """Whether every folder is one of Herald's own templates (``SHIPPED_TEMPLATES`` or a folder inside it)."""
    shipped = SHIPPED_TEMPLATES.resolve()
    return all(Path(folder).resolve().is_relative_to(shipped) for folder in folders)


def environment(*folders: Path, **options: Any) -> Environment:
    """A strict environment on ``folders`` (the first holding a template wins), sandboxed unless they are all Herald's."""
    unique = list(dict.fromkeys(str(f) for f in folders))
    options.setdefault("finalize", finalize)  # no control character is ever written (hotfix.text)
    kind = Environment if shipped_only(unique) else SandboxedEnvironment
    return kind(loader=ChoiceLoader([FileSystemLoader(f) for f in unique]), undefined=StrictUndefined,
                autoescape=html_by_name, **options)
