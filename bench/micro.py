"""What one email send and one render cost, in this process: the figures behind the worker-side changes.

    python bench/micro.py [--n 200]
    PYTHONSAFEPATH=1 PYTHONPATH=OTHER_TREE python bench/micro.py     # the same on another tree

Sends ``n`` emails with ``workers.senders.mail.MailSender`` to an aiosmtpd sink in this process (so the CPU
time includes the sink's), and renders the P0 announcement ``n`` times for email and for Teams with
``workers.render.Renderer``. Prints CPU and wall milliseconds per call; compare two trees in one sitting.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    n = parser.parse_args().n
    from aiosmtpd.controller import Controller

    import workers
    from hotfix.enums import Locale, MessageName, Severity, SmtpSecurity
    from hotfix.settings import SmtpSettings
    from tests.fixtures.smtp_server import RecordingHandler, free_port
    from workers.compose import compose_email
    from workers.content import EmailContent
    from workers.render import Renderer
    from workers.samples import sample_event, sample_hotfix
    from workers.senders.mail import MailSender
    tree = Path(workers.__file__).resolve().parent.parent
    print(f"tree: {tree}")
    handler, port = RecordingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=port, security=SmtpSecurity.NONE, sender="B <b@bench.test>")
        message = compose_email(EmailContent("s", "t", "<p>h</p>"), sender="B <b@bench.test>", recipients=["x@bench.test"],
                                message_id="<a@bench.test>", thread_id=None, ticket="T-1", locale="fr")
        sender = MailSender(smtp)
        for _ in range(5):
            sender.send(message, ["x@bench.test"])
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            sender.send(message, ["x@bench.test"])
        print(f"email send: CPU {(time.process_time() - cpu) * 1000 / n:.2f} ms (with the sink's), "
              f"wall {(time.perf_counter() - wall) * 1000 / n:.2f} ms per email")
    finally:
        controller.stop()
    renderer = Renderer(tree / "templates", "Europe/Paris")
    now = datetime.now(timezone.utc)
    hotfix = sample_hotfix(Severity.P0, now=now, message=MessageName.ANNOUNCEMENT)
    event = sample_event(MessageName.ANNOUNCEMENT, now=now)
    for part, render in (("email", renderer.email), ("teams", renderer.teams)):
        for _ in range(5):
            render(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, event=event, now=now)
        cpu = time.process_time()
        for _ in range(n):
            render(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, event=event, now=now)
        print(f"render {part}: CPU {(time.process_time() - cpu) * 1000 / n:.2f} ms per message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
