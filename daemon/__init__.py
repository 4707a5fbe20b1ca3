"""Hotfix Herald daemon: everything up to "a job is enqueued"."""
from __future__ import annotations

__version__ = "0.1.0"
