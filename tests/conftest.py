"""Shared fixtures: see tests/fixtures/."""
from __future__ import annotations

pytest_plugins = ["tests.fixtures.redis"]
