"""The checks behind the status page, `flask status` and `/healthz`: read-only queries, no writes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from app.audit.models import AuditEntry
from app.audit.service import BREAK_ACCEPTED
from app.db_types import utcnow
from app.extensions import db
from app.jobs.models import Job, JobStatus

# Checks looked back over this many of the newest `backup.checked` entries for the newest backup
# they proved: staff may check an older backup after a newer one (a restore drill).
CHECKS_LOOKED_AT = 20
# Jobs that gave up are called for during this many days after their last try.
DEAD_JOBS_DAYS = 7
# The newest accepted breaks of the audit chain the page lists.
ACCEPTED_SHOWN = 5


@dataclass(frozen=True)
class AuditMark:
    """One audit entry the status reads: when, about which backup, with what details, by whom."""

    seq: int
    at: datetime
    name: Optional[str]
    details: dict
    actor: str = ""


@dataclass(frozen=True)
class BackupState:
    """What the audit log says of backups: the newest made, the newest proved, the last failure."""

    newest: Optional[AuditMark]  # the last `backup.created`
    verified: Optional[AuditMark]  # the `backup.created` of the newest backup a check proved
    failed: Optional[AuditMark]  # the last `backup.check_failed`, if no check succeeded after it
    max_age: timedelta
    checked: dict[str, datetime]  # the last time each recently checked backup was proved, by name

    @property
    def verified_checked_at(self) -> Optional[datetime]:
        """When the newest proved backup was last checked."""
        return self.checked[self.verified.name] if self.verified else None


@dataclass(frozen=True)
class ChainState:
    """The newest walk of the audit chain: each backup recomputes it, and so does `flask audit verify`."""

    at: Optional[datetime]  # None: never walked
    entries: int = 0
    broken: Optional[str] = None  # where it broke, in words
    accepted: tuple[AuditMark, ...] = ()  # the breaks auditors accepted, newest first (walks go past them)


@dataclass(frozen=True)
class WorkerState:
    """The background worker, read off the jobs table."""

    last_finished_at: Optional[datetime]  # the newest job it got done (a sweep is done every minute)
    oldest_due_at: Optional[datetime]  # the oldest job waiting to run now
    waiting: int
    dead: int  # gave up in the last dead_days days
    max_silence: timedelta

    @property
    def dead_days(self) -> int:
        """The days over which jobs that gave up are counted."""
        return DEAD_JOBS_DAYS


@dataclass(frozen=True)
class Problem:
    """Something an operator must act on: a code, and the figures the message shows."""

    code: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SystemStatus:
    """Everything the page shows, read at one moment."""

    at: datetime
    backup: BackupState
    chain: ChainState
    worker: WorkerState
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when nothing needs doing."""
        return not self.problems


def audit_marks(action: str, limit: int, names: Optional[set[str]] = None) -> list[AuditMark]:
    """The newest `limit` entries of one action (of the named backups only, when names are given)."""
    query = (sa.select(AuditEntry.seq, AuditEntry.occurred_at, AuditEntry.object_id, AuditEntry.details,
                       AuditEntry.actor)
             .where(AuditEntry.action == action).order_by(AuditEntry.seq.desc()).limit(limit))
    if names is not None:
        query = query.where(AuditEntry.object_id.in_(names))
    return [AuditMark(seq, at, name, details or {}, actor)
            for seq, at, name, details, actor in db.session.execute(query)]


def backup_state() -> BackupState:
    """The newest backup, the newest one a check proved, and a check that failed after the last good one."""
    created = audit_marks("backup.created", 1)
    checks = audit_marks("backup.checked", CHECKS_LOOKED_AT)
    failed = audit_marks("backup.check_failed", 1)
    checked: dict[str, datetime] = {}
    for check in reversed(checks):  # oldest first, so each name keeps its newest check
        checked[check.name] = check.at
    # The newest backup made here among those proved; a check of a copy made by another
    # installation (no created entry here) says nothing of this one's backups.
    made = audit_marks("backup.created", 1, set(checked)) if checked else []
    last_good_seq = checks[0].seq if checks else 0
    return BackupState(
        newest=created[0] if created else None, verified=made[0] if made else None,
        failed=failed[0] if failed and failed[0].seq > last_good_seq else None,
        max_age=timedelta(hours=current_app.config["BACKUP_MAX_AGE_HOURS"]), checked=checked)


def chain_state(newest_backup: Optional[AuditMark]) -> ChainState:
    """What the newest walk of the audit chain found (the newest backup's, or a later verification's),
    and the breaks accepted."""
    accepted = tuple(audit_marks(BREAK_ACCEPTED, ACCEPTED_SHOWN))
    verified = audit_marks("audit.verify", 1)
    if verified and (newest_backup is None or verified[0].seq > newest_backup.seq):
        details = verified[0].details
        broken = details.get("broken_seq")
        # Entries written before `where` was kept (the console's check) name only the entry.
        where = (details.get("where") or f"entry seq={broken}") if broken else None
        return ChainState(verified[0].at, int(details.get("checked") or 0), where, accepted)
    if newest_backup is not None:
        details = newest_backup.details
        return ChainState(newest_backup.at, int(details.get("audit_entries") or 0), details.get("audit_break"),
                          accepted)
    return ChainState(None, accepted=accepted)


def worker_state(now: datetime) -> WorkerState:
    """When the worker last finished a job, what waits for it, and what it gave up on."""
    last_finished = db.session.scalar(sa.select(sa.func.max(Job.finished_at)).where(Job.status == JobStatus.DONE))
    oldest_due, waiting = db.session.execute(
        sa.select(sa.func.min(Job.run_at), sa.func.count())
        .where(Job.status == JobStatus.QUEUED, Job.run_at <= now)).one()
    # Dead jobs stay until staff retry them, and some never can be (a batch since deleted): counting
    # only this week's keeps the page from calling for the same old failure forever.
    dead = db.session.scalar(sa.select(sa.func.count()).where(
        Job.status == JobStatus.DEAD, Job.finished_at >= now - timedelta(days=DEAD_JOBS_DAYS)))
    return WorkerState(last_finished, oldest_due, waiting, dead,
                       timedelta(minutes=current_app.config["WORKER_MAX_SILENCE_MINUTES"]))


def backup_problems(state: BackupState, now: datetime) -> list[Problem]:
    """No proved backup, one too old, or a check that failed since the last good one."""
    problems = []
    if state.verified is None:
        problems.append(Problem("backup_never_checked", {"made": state.newest is not None}))
    elif now - state.verified.at > state.max_age:
        problems.append(Problem("backup_too_old", {"name": state.verified.name, "taken_at": state.verified.at,
                                                   "hours": state.max_age.total_seconds() // 3600}))
    if state.failed is not None:
        problems.append(Problem("backup_check_failed", {"name": state.failed.name, "at": state.failed.at,
                                                        "reason": state.failed.details.get("reason", "")}))
    return problems


def chain_problems(state: ChainState) -> list[Problem]:
    """A broken audit chain (7.5.1): called for until a walk finds it whole (a restore from before the break)."""
    return [Problem("audit_chain_broken", {"where": state.broken, "at": state.at})] if state.broken else []


def worker_problems(state: WorkerState, now: datetime) -> list[Problem]:
    """A worker that never ran or went silent, jobs kept waiting, jobs given up on."""
    problems = []
    if state.last_finished_at is None:
        problems.append(Problem("worker_never_ran"))
    elif now - state.last_finished_at > state.max_silence:
        problems.append(Problem("worker_silent", {"since": state.last_finished_at}))
    if state.oldest_due_at is not None and now - state.oldest_due_at > state.max_silence:
        problems.append(Problem("jobs_waiting", {"count": state.waiting, "since": state.oldest_due_at}))
    if state.dead:
        problems.append(Problem("jobs_dead", {"count": state.dead, "days": state.dead_days}))
    return problems


def system_status(now: Optional[datetime] = None) -> SystemStatus:
    """Read every check at one moment."""
    now = now or utcnow()
    backup, worker = backup_state(), worker_state(now)
    chain = chain_state(backup.newest)
    return SystemStatus(now, backup, chain, worker,
                        chain_problems(chain) + backup_problems(backup, now) + worker_problems(worker, now))


def database_answers() -> bool:
    """True when the database runs a trivial query (what a load balancer needs to know)."""
    try:
        db.session.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        current_app.logger.exception("health check: the database does not answer")
        db.session.rollback()
        return False
