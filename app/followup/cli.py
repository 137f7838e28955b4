"""`flask` commands of the followup area: retention of review material, overdue exceptions."""
from __future__ import annotations

import sys
from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db

retention_cli = AppGroup("retention", help="Retention of review material (kept at least 20 years, 8.2.4).")
exceptions_cli = AppGroup("exceptions", help="Exceptions followed up to closure (8.4).")


@retention_cli.command("purge")
@click.option("--before", "before", required=True, help="Delete review material from before this date (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
def purge_command(before: str, dry_run: bool) -> None:
    """Delete review material older than --before; refuses anything still under retention (logged)."""
    from app.audit.retention import RetentionRefused, purge

    try:
        day = date.fromisoformat(before)
    except ValueError:
        click.echo("--before: must be a date as YYYY-MM-DD", err=True)
        sys.exit(2)
    try:
        result = purge(day, "cli", dry_run=dry_run)
    except RetentionRefused as exc:
        db.session.commit()  # the refusal itself is logged
        click.echo(str(exc), err=True)
        sys.exit(1)
    db.session.commit()
    verb = "would delete" if dry_run else "deleted"
    details = ", ".join(f"{table} {n}" for table, n in sorted(result.counts.items())) or "nothing"
    click.echo(f"{verb} {result.total} rows of review material from before {day}: {details}")


@exceptions_cli.command("overdue")
def overdue_command() -> None:
    """List exceptions that are open past their due time."""
    import sqlalchemy as sa

    from app.db_types import utcnow
    from app.followup.service import due_at, overdue_clause
    from app.reviews.models import ReviewException

    rows = db.session.scalars(sa.select(ReviewException).where(overdue_clause(utcnow()))
                              .order_by(ReviewException.created_at)).all()
    for e in rows:
        click.echo(f"#{e.id}\t{e.severity.value}\t{e.status.value}\tdue {due_at(e):%Y-%m-%d %H:%M} UTC\t{e.label_en}")
    click.echo(f"{len(rows)} overdue")


def register(app: Flask) -> None:
    """Attach this area's command groups to the app."""
    app.cli.add_command(retention_cli)
    app.cli.add_command(exceptions_cli)
