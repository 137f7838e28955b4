"""Retention of review material: kept at least 20 years (8.2.4); a purge past that, and only past that.

What is review material: an invitation and every row that refers to it, directly or through
another row (the response, the registration, exceptions and their follow-up, identity attempts,
and whatever other areas attach to an invitation or a response). The purge walks the foreign keys
of the schema, so a table added later is purged with its invitation instead of blocking it.
Clients, staff, questionnaire versions and the audit log itself are not review material of one
review and are never purged here (the audit log is append-only).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from app.audit.service import record
from app.db_types import utcnow
from app.extensions import db

MIN_RETENTION_YEARS = 20  # 8.2.4: 所有回访资料保存期限不得少于 20 年


class RetentionRefused(ValueError):
    """The purge would touch material still under retention; nothing was deleted."""


@dataclass(frozen=True)
class PurgeResult:
    """What a purge deleted (or would delete, in a dry run), per table."""

    before: date
    dry_run: bool
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Rows deleted across tables."""
        return sum(self.counts.values())


def retention_years() -> int:
    """Configured years (RETENTION_YEARS), never fewer than the standard's 20."""
    return max(int(current_app.config.get("RETENTION_YEARS", MIN_RETENTION_YEARS)), MIN_RETENTION_YEARS)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def earliest_allowed_cutoff(today: Optional[date] = None) -> date:
    """The latest `before` date a purge may use: material from before it is past retention."""
    return _years_before(today or utcnow().date(), retention_years())


def _midnight(day: date) -> datetime:
    from app.stats.population import local_midnight

    return local_midnight(day)


def _expired_invitations(cutoff: datetime) -> sa.Select:
    """Invitations whose whole material (creation, completion, follow-up) is older than the cutoff."""
    from app.followup.models import ExceptionEvent
    from app.reviews.models import Invitation, ReviewException, Response

    later_event = sa.exists(
        sa.select(1).select_from(ExceptionEvent)
        .join(ReviewException, ReviewException.id == ExceptionEvent.exception_id)
        .join(Response, Response.id == ReviewException.response_id)
        .where(Response.invitation_id == Invitation.id, ExceptionEvent.occurred_at >= cutoff))
    return sa.select(Invitation.id).where(
        Invitation.created_at < cutoff,
        sa.or_(Invitation.completed_at.is_(None), Invitation.completed_at < cutoff),
        ~later_event,
    )


def _dependents(table: sa.Table) -> list[tuple[sa.Table, sa.Column, sa.Column]]:
    """(child table, child column, parent column) for every foreign key pointing at the table."""
    found = []
    for child in db.metadata.sorted_tables:
        for fk in child.foreign_keys:
            if fk.column.table is table and child is not table:
                found.append((child, fk.parent, fk.column))
    return found


def _delete(table: sa.Table, where: sa.ColumnElement[bool], dry_run: bool, counts: dict, depth: int = 0) -> None:
    if depth > 8:
        raise RuntimeError(f"foreign keys nest too deep below {table.name}")
    for child, child_col, parent_col in _dependents(table):
        _delete(child, child_col.in_(sa.select(parent_col).where(where)), dry_run, counts, depth + 1)
    if dry_run:
        n = db.session.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0
    else:
        n = db.session.execute(sa.delete(table).where(where)).rowcount or 0
    counts[table.name] = counts.get(table.name, 0) + n


def purge(before: date, actor: str, dry_run: bool = False, today: Optional[date] = None) -> PurgeResult:
    """Delete review material from before `before`; refuse (and log the refusal) if that is under retention."""
    limit = earliest_allowed_cutoff(today)
    if before > limit:
        record(actor, "retention.purge_refused", "retention", None,
               {"before": before.isoformat(), "earliest_allowed": limit.isoformat(),
                "years": retention_years()})
        raise RetentionRefused(
            f"refused: material from before {before} is partly under retention; review material is kept "
            f"{retention_years()} years (8.2.4), so the latest cut-off today is {limit}")
    from app.reviews.models import Invitation

    table = Invitation.__table__
    ids = _expired_invitations(_midnight(before)).scalar_subquery()
    counts: dict[str, int] = {}
    _delete(table, table.c.id.in_(ids), dry_run, counts)
    counts = {k: v for k, v in counts.items() if v}
    record(actor, "retention.dry_run" if dry_run else "retention.purge", "retention", None,
           {"before": before.isoformat(), "counts": counts, "years": retention_years()})
    return PurgeResult(before, dry_run, counts)
