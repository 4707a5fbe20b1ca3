"""The confirmation email of a subscription (double opt-in), as a job: what ``hotfix serve`` enqueues.

Someone asks, through the subscription form, to join a self-service audience: the address is noted
``pending`` (``hotfix.subscribers.request``) and this job is enqueued; a worker sends the address one
email whose link (``{public_url}/subscribe/confirm/{token}``) opens a page that confirms with a form.
The intake never talks to a mail server itself: mail goes through the workers, like every message.

The payload is plain JSON with a ``version`` (``Confirmation``); the job names its function by dotted
path (``JOB_FUNCTION``), so ``hotfix serve`` never imports the workers. It goes on the lowest queue —
a subscription never delays a hotfix's messages — and RQ retries it a few times when it fails.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from hotfix import keys
from hotfix.enums import Locale

#: The RQ entry point, by dotted name.
JOB_FUNCTION = "workers.confirmations.send_confirmation"
#: The version of ``Confirmation`` this release writes.
VERSION = 1
#: The queue: the lowest, so that no hotfix message waits behind a subscription.
QUEUE = keys.QUEUE_NAMES[-1]
#: RQ's retries of a confirmation that failed (a mail server down for a while).
RETRY = Retry(max=5, interval=[10, 30, 60, 300, 900])
#: How long RQ keeps a finished confirmation job.
RESULT_TTL = 86400


class Confirmation(BaseModel):
    """One confirmation email: to ``address``, for ``audience``, with its link, in ``locale``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = VERSION
    audience: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=3, max_length=254)
    url: str = Field(min_length=10, max_length=4096)
    locale: Locale
    asked_at: datetime


def job_id(confirmation: Confirmation) -> str:
    """A stable id of one request (the same request enqueued twice runs once)."""
    seed = "\x1f".join([confirmation.audience, confirmation.address, confirmation.asked_at.isoformat()])
    return "sub-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:40]


def enqueue(redis: Redis, confirmation: Confirmation) -> str:
    """Queue the email; returns the job id."""
    jid = job_id(confirmation)
    Queue(QUEUE, connection=redis, serializer=JSONSerializer).enqueue_call(
        JOB_FUNCTION, kwargs={"payload": confirmation.model_dump(mode="json")}, job_id=jid, retry=RETRY,
        result_ttl=RESULT_TTL, failure_ttl=7 * RESULT_TTL, description=f"subscription confirmation → {confirmation.audience}")
    return jid
