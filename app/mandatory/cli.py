"""`flask mandatory …`: the expiry sweep by hand (the worker runs it every minute)."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db

mandatory_cli = AppGroup("mandatory", help="Mandatory-mode sessions (business-flow gates).")


@mandatory_cli.command("expire")
def expire_command() -> None:
    """Expire pending sessions past their deadline now (emits mandatory_session.expired)."""
    from app.db_types import utcnow
    from app.mandatory.service import expire_overdue

    count = expire_overdue(utcnow())
    db.session.commit()
    click.echo(f"expired {count} session(s)")


def register(app: Flask) -> None:
    """Attach `flask mandatory`."""
    app.cli.add_command(mandatory_cli)
