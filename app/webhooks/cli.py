"""`flask webhooks …`: look at and replay callbacks from the shell."""
from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup

from app.cli_params import COUNT, fail
from app.extensions import db

webhooks_cli = AppGroup("webhooks", help="Signed callbacks: list, show and replay.")


@webhooks_cli.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), default=None)
@click.option("--limit", type=COUNT, default=50)
def list_command(status, limit) -> None:
    """List recent callbacks (newest first)."""
    from app.webhooks.models import EventStatus
    from app.webhooks.service import list_events

    for e in list_events(status=EventStatus(status) if status else None, limit=limit):
        click.echo(f"{e.message_id}  {e.event_type:32} {e.status.value:9} attempts={e.attempt_count} "
                   f"code={e.last_status_code or '-'}  {e.callback_url}")


@webhooks_cli.command("show")
@click.argument("message_id")
def show_command(message_id: str) -> None:
    """Print one callback and its attempts as JSON."""
    from app.webhooks.service import event_json, get_event

    event = get_event(message_id)
    if event is None:
        fail(f"no callback {message_id!r}")
    click.echo(json.dumps(event_json(event), indent=2, ensure_ascii=False))


@webhooks_cli.command("replay")
@click.argument("message_id")
def replay_command(message_id: str) -> None:
    """Deliver the callback MESSAGE_ID again (same webhook-id); re-enables its endpoint."""
    from app.webhooks.service import enable_endpoint, get_event, replay

    event = get_event(message_id)
    if event is None:
        fail(f"no callback {message_id!r}")
    enable_endpoint(event.api_key_id, event.callback_url, "cli")
    replay(event, "cli")
    db.session.commit()
    click.echo(f"queued again: {message_id}")


def register(app: Flask) -> None:
    """Attach `flask webhooks`."""
    app.cli.add_command(webhooks_cli)
