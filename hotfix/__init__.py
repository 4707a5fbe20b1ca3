"""Hotfix Herald's domain, below both processes: events, state, settings, keys, the job contract.

``daemon`` (everything up to "a job is enqueued") and ``workers`` (everything after) both
import this package; it imports neither of them (``lint-imports`` checks it).
"""
from __future__ import annotations

__version__ = "0.1.0"
