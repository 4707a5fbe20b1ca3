"""Hotfix Herald workers: everything after "a job is enqueued"."""
from __future__ import annotations
