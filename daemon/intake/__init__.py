"""The authenticated HTTP intake (``hotfix serve``): generic events and webhook adapters onto the stream.

- ``app`` — the FastAPI application (``create_app``) and its runner (``serve``);
- ``auth`` — bearer tokens per source, body size limit;
- ``memory`` — what was last pushed per alert group / issue, so re-sends push nothing;
- ``alerts`` — alert groups as hotfixes (shared by ``alertmanager`` and ``grafana``);
- ``jira`` — Jira issue webhooks.
"""
from __future__ import annotations

from daemon.intake.app import create_app, serve

__all__ = ["create_app", "serve"]
