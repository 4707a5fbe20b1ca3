"""``hotfix demo``: a P0 lifecycle played end to end, on the configured Redis or an embedded one."""
from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from daemon import store
from daemon.consumer import Daemon
from daemon.producer import push
from herald.app import ConfigOpt, app
from hotfix.config import ConfigError, load_settings, resolve_config_path
from hotfix.connection import answering, connect
from hotfix.events import parse_event
from hotfix.settings import Settings
from workers import runtime
from workers.worker import make_worker

console = Console()

#: What the demo tells when no configuration exists: everything goes to the outbox.
DEMO_SETTINGS: dict[str, Any] = {
    "teams": {"engineering": {}},
    "audiences": {
        "oncall": {"teams": ["engineering"], "emails": ["oncall@example.com", "dev-team@example.com"]},
        "stakeholders": {"emails": ["cto@example.com", "support@example.com"], "locale": "en"},
        "management": {"emails": ["management@example.com"]},
    },
    "severity": {"P0": {"resolve_within": "1h", "announce": ["oncall", "stakeholders", "management"],
                        "updates": ["oncall", "stakeholders"], "resolution": ["oncall", "stakeholders", "management"],
                        "update_every": "15m", "remind": ["oncall"], "warn_before": "15m",
                        "escalate": ["management"]}},
}


def lifecycle(ticket: str, start: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The P0 story the demo plays: declared → triage, fix, review, staging, production → resolved."""
    def at(minutes: int) -> str:
        return (start + timedelta(minutes=minutes)).isoformat()

    team = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}
    return [
        ("declared", {"type": "declared", "title": "Checkout returns 500", "severity": "P0", "at": at(0),
                      "impact": "No order can be paid", "users_affected": "all EU customers", "team": team,
                      "eta": at(50), "source": "demo"}),
        ("triage", {"type": "updated", "phase": "triage", "at": at(8), "message": "Reproduced: payment API times out",
                    "next_step": "Create hotfix branch"}),
        ("fix", {"type": "updated", "phase": "fix", "at": at(15), "message": f"Branch hotfix/{ticket}-timeout created",
                 "next_step": "Minimal fix of the client timeout"}),
        ("review", {"type": "updated", "phase": "review", "at": at(28), "message": "Fix ready, PR #4242 in review",
                    "fix": {"pr": "#4242"}, "checks": {"review": True}, "next_step": "Deploy to staging"}),
        ("staging", {"type": "updated", "phase": "staging", "at": at(35), "message": "Deployed to staging, smoke OK",
                     "checks": {"staging": True, "smoke_test": True}, "next_step": "Deploy to production"}),
        ("production", {"type": "updated", "phase": "production", "at": at(42),
                        "message": "Deployed to production", "checks": {"production": True},
                        "next_step": "Watch the error rate"}),
        ("resolved", {"type": "resolved", "at": at(48), "root_cause": "Payment client timeout set to 0 by a bad config",
                      "fix": {"commit": "a1b2c3d", "description": "Restore a 10 s timeout"},
                      "checks": {"confirmed": True, "monitoring": True}, "postmortem_at": at(60 * 24 * 2)}),
    ]


def _settings(config: Path | None) -> tuple[Settings, bool]:
    path = resolve_config_path(config)
    if path is None:
        return Settings(**DEMO_SETTINGS), False
    return load_settings(path), True


def _redis(settings: Settings, configured: bool) -> tuple[Any, str]:
    if configured:
        client = connect(settings)
        if answering(client):
            return client, settings.redis.url
        console.print("[yellow]Redis at the configured URL does not answer; using an embedded one[/yellow]")
    import fakeredis

    return fakeredis.FakeRedis(), "embedded (fakeredis)"


def write_index(outbox: Path, ticket: str) -> Path:
    """An HTML page listing every message the demo wrote, with email HTML shown inline."""
    import json
    from email import policy
    from email.parser import BytesParser

    from workers.cards import card_to_html

    folder = outbox / ticket
    items = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".eml":
            msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            body = msg.get_body(("html",))
            shown = body.get_content() if body else ""
            title = f"✉️ {msg['X-Outbox-Recipient'] or msg['To']} — {msg['Subject']}"
        elif path.suffix == ".json":
            card = json.loads(path.read_text(encoding="utf-8"))
            content = card.get("attachments", [{}])[0].get("content", card)
            shown = card_to_html(content)
            title = f"💬 Teams — {path.stem.rsplit('-', 1)[-1]}"
        else:
            continue
        items.append(f'<section><h3>{html.escape(title)}</h3><p><a href="{html.escape(path.name)}">{html.escape(path.name)}'
                     f'</a></p><iframe sandbox srcdoc="{html.escape(shown)}"></iframe></section>')
    page = (f"<!doctype html><meta charset=utf-8><title>Hotfix Herald demo — {html.escape(ticket)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}iframe{width:100%;height:420px;border:1px solid #ccc}"
            f"section{{margin-bottom:2em}}</style><h1>Hotfix Herald demo — {html.escape(ticket)}</h1>"
            f"<p>{len(items)} messages</p>" + "".join(items))
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


@app.command()
def demo(config: ConfigOpt = None, ticket: Optional[str] = None) -> None:
    """Play a P0 hotfix lifecycle and show what was sent where (embedded Redis + outbox when unconfigured)."""
    logging.basicConfig(level=logging.WARNING)
    try:
        settings, configured = _settings(config)
    except ConfigError as exc:
        console.print(f"[red]configuration error[/red] in {exc.source}: " + "; ".join(exc.problems), markup=False)
        raise typer.Exit(2) from None
    redis, where = _redis(settings, configured)
    rt = runtime.configure(settings, redis)
    start = datetime.now(timezone.utc).replace(microsecond=0)
    ticket = ticket or f"DEMO-{start.strftime('%H%M%S')}"
    console.print(f"Hotfix Herald demo — ticket [bold]{ticket}[/bold], Redis: {where}, outbox: {settings.outbox.dir}")
    story_now = [start]
    daemon = Daemon(redis, settings, name="demo", block_ms=1, clock=lambda: story_now[0])
    rt.clock = lambda: story_now[0]  # messages are written as at the story's time
    daemon.ensure_group()
    worker = make_worker(redis, ["hotfix-p0", "hotfix-p1", "hotfix-p2"], name=f"demo-{start.timestamp():.0f}")
    story = lifecycle(ticket, start - timedelta(minutes=50))
    for number, (label, data) in enumerate(story, 1):
        story_now[0] = datetime.fromisoformat(data["at"]) + timedelta(seconds=30)  # timers run on story time
        push(redis, [parse_event({**data, "ticket": ticket, "id": f"{ticket}-{label}"})])
        while daemon.turn():
            pass
        worker.work(burst=True, logging_level="WARNING")
        sent = len(store.receipts(redis, ticket))
        bar = "█" * number + "░" * (len(story) - number)
        console.print(f"  {bar} {number}/{len(story)} {label:<10} → {sent} deliveries so far", highlight=False)
    table = Table("message", "audience", "channel", "recipient", "status", "via")
    rows = store.receipts(redis, ticket)
    for row in rows:
        table.add_row(row["message"], row["audience"], row["channel"], row["recipient"], row["status"],
                      row.get("via", ""))
    console.print(table)
    index = write_index(Path(settings.outbox.dir), ticket) if (Path(settings.outbox.dir) / ticket).exists() else None
    console.print(f"{len(rows)} deliveries. Messages written to {Path(settings.outbox.dir).resolve() / ticket}")
    if index is not None:
        console.print(f"Open [bold]{index.resolve()}[/bold] to see every message.")
    console.print(f"Coordination document: hotfix show {ticket}" + ("" if configured else " (needs a configured Redis)"))
