"""Reading the configuration: ``--config``, ``$HOTFIX_CONFIG`` or ``./config.toml``, then the environment.

``load_settings`` builds the one ``Settings`` a process passes down, or raises ``ConfigError`` naming
the file, each bad key and what is expected (never a secret's value; a value from the environment
named by its variable); relative paths in the file (``emails_file``, ``templates_dir``, ``[outbox]
dir``) are read from the file's folder. A directory or an unreadable file is refused as such.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hotfix.settings import TOML_FILE, Settings

DEFAULT_CONFIG = Path("config.toml")
CONFIG_ENV = "HOTFIX_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def resolve_config_path(path: Path | str | None) -> Path | None:
    """``--config``, else ``$HOTFIX_CONFIG``, else ``./config.toml`` if it exists."""
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def load_settings(path: Path | str | None = None, *, require_file: bool = False, **overrides: Any) -> Settings:
    """Build the settings from the TOML file (if any) and the environment, or raise ``ConfigError``."""
    resolved = resolve_config_path(path)
    source = str(resolved) if resolved else "the environment (no config file)"
    if resolved is not None and not resolved.exists():
        raise ConfigError(source, ["file not found"])
    if resolved is not None and resolved.is_dir():
        raise ConfigError(source, ["is a directory: expected a TOML file"])
    if resolved is not None:
        try:
            resolved.open("rb").close()
        except OSError as exc:
            raise ConfigError(source, [f"cannot read ({exc.strerror or exc})"]) from None
    if resolved is None and require_file:
        raise ConfigError(source, ["no config file: pass --config, set HOTFIX_CONFIG or create ./config.toml"])
    token = TOML_FILE.set(resolved)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(source, config_problems(exc)) from None
    except ValueError as exc:  # TOML syntax
        raise ConfigError(source, [f"cannot read: {exc}"]) from None
    finally:
        TOML_FILE.reset(token)
    problems = _relative_files(settings, resolved.parent if resolved else Path.cwd())
    if problems:
        raise ConfigError(source, problems)
    return settings


def _relative_files(settings: Settings, base: Path) -> list[str]:
    """Resolve ``emails_file``, ``templates_dir`` and ``[outbox] dir`` against the config file's folder; name missing ones."""
    problems = []
    if not settings.outbox.dir.is_absolute():
        settings.outbox.dir = base / settings.outbox.dir
    for name, audience in settings.audiences.items():
        if audience.emails_file is not None:
            if not audience.emails_file.is_absolute():
                audience.emails_file = base / audience.emails_file
            if not audience.emails_file.is_file():
                problems.append(f"audiences.{name}.emails_file: file not found ({audience.emails_file})")
    if settings.templates_dir is not None:
        if not settings.templates_dir.is_absolute():
            settings.templates_dir = base / settings.templates_dir
        if not settings.templates_dir.is_dir():
            problems.append(f"templates_dir: folder not found ({settings.templates_dir})")
    return problems


def config_problems(exc: ValidationError) -> list[str]:
    """``key.path: what is expected`` for each error, never echoing a secret input.

    A value set by an environment variable says so: ``redis.url (from HOTFIX_REDIS__URL): …``.
    """
    out: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        variable = _environment_variable([str(p) for p in err["loc"]])
        if variable is not None:
            loc += f" (from {variable})"
        if not err["loc"]:
            out.extend(m.strip() for m in msg.split("; "))
        else:
            out.append(f"{loc}: {msg}")
    return out


def _environment_variable(loc: list[str]) -> str | None:
    """The ``HOTFIX_…`` variable that set the value at ``loc`` (or a table above it), if one did."""
    names = {name.upper(): name for name in os.environ}
    for end in range(len(loc), 0, -1):
        found = names.get(("HOTFIX_" + "__".join(loc[:end])).upper())
        if found is not None:
            return found
    return None
