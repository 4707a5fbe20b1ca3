"""Large audiences: a stakeholder list of 10,000 addresses is delivered in batches, each recipient once."""
from __future__ import annotations

from pathlib import Path

from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from daemon import store
from hotfix import keys
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from workers import runtime


def test_ten_thousand_recipients_go_through(tmp_path: Path, redis: Redis, make_settings, make_daemon,
                                            smtp_server) -> None:
    """An announcement to a 10,000-address emails_file reaches every address once, in batches of batch_size."""
    smtp = smtp_server()
    addresses = [f"customer{i:05d}@example.com" for i in range(10_000)]
    lst = tmp_path / "customers.txt"
    lst.write_text("# customers\n" + "\n".join(addresses) + "\n")
    settings = make_settings(
        smtp={**smtp.settings().model_dump(), "batch_size": 500},
        audiences={"customers": {"emails_file": str(lst)}},
        severity={"P1": {"announce": ["customers"]}},
    )
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)
    xadd(redis, event("declared", severity="P1"))
    drain(daemon)
    SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)
    got = [r for m in smtp.messages for r in m.rcpt_tos]
    assert len(smtp.messages) == 20
    assert sorted(got) == addresses
    receipts = [d for d in store.receipts(redis, "INC-1") if d["audience"] == "customers"]
    assert len(receipts) == 10_000 and {d["status"] for d in receipts} == {"sent"}
