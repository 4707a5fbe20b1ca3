"""The post-mortem reminder links to the draft and attaches it as Markdown; the status pages serve the draft.

The real daemon (its timers) and an in-process RQ worker on the real Redis, a real SMTP server, the intake app.
"""
from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon.intake import create_app
from hotfix import keys
from tests.fixtures.herald import drain, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from workers import runtime

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

PUBLIC = "https://herald.example.com"


def test_reminder_links_to_the_draft_and_attaches_it(redis: Redis, make_settings, make_daemon, smtp_server) -> None:
    """A resolved P0 whose post-mortem is in 30 min: the reminder email has the draft's link and postmortem-INC-1.md."""
    smtp = smtp_server()
    settings = make_settings(smtp=smtp.settings().model_dump(), http={"public_url": PUBLIC, "viewer_token": "viewer"})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=40)
    xadd(redis, {"type": "declared", "ticket": "INC-1", "id": "d", "at": start.isoformat(), "severity": "P0",
                 "title": "Checkout returns 500"},
         {"type": "resolved", "ticket": "INC-1", "id": "r", "at": (start + timedelta(minutes=35)).isoformat(),
          "root_cause": "Timeout set to 0", "postmortem_at": (now + timedelta(minutes=30)).isoformat()})
    drain(daemon)
    drain(daemon)  # the reminder is due at once (an hour before the meeting)
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    mails = [message_from_bytes(m.data, policy=policy.default) for m in smtp.messages]
    reminders = [m for m in mails if "POST-MORTEM" in str(m["Subject"]).upper()]
    assert reminders, [str(m["Subject"]) for m in mails]
    reminder = reminders[0]
    text = reminder.get_body(preferencelist=("plain",)).get_content()
    assert f"{PUBLIC}/hotfix/INC-1/postmortem" in text
    (attached,) = list(reminder.iter_attachments())
    assert attached.get_filename() == "postmortem-INC-1.md" and attached.get_content_type() == "text/markdown"
    draft = attached.get_content()
    assert "INC-1" in draft and "Timeout set to 0" in draft and "## Pourquoi pas détecté avant ?" in draft

    with TestClient(create_app(settings, redis), base_url=PUBLIC) as client:
        assert client.get("/hotfix/INC-1/postmortem").status_code == 401
        page = client.get("/hotfix/INC-1/postmortem?locale=en", headers={"Authorization": "Bearer viewer"})
        assert page.status_code == 200 and "## Why wasn't it caught before?" in page.text
        figures = client.get("/hotfix/INC-1/postmortem?format=json", headers={"Authorization": "Bearer viewer"}).json()
        assert figures["ticket"] == "INC-1" and figures["duration_s"] == 35 * 60 and figures["deadline_met"] is True
        assert json.dumps(figures)  # plain JSON
        assert client.get("/hotfix/NOPE/postmortem", headers={"Authorization": "Bearer viewer"}).status_code == 404
