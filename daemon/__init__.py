"""Hotfix Herald daemon: everything up to "a job is enqueued" (the stream consumer, the HTTP intake)."""
from __future__ import annotations
