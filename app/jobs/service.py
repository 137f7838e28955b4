"""The durable job queue: enqueue in the caller's transaction, claim with leases, run handlers.

The jobs table is a transactional outbox: `enqueue` only adds a row to the caller's open
transaction, so the job exists if and only if the caller's work commits. Workers claim due jobs
with a lease (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, one atomic `UPDATE … RETURNING`
on SQLite, whose writers are serialised anyway); a worker that dies simply lets its lease expire
and another worker claims the job again. Delivery is therefore at least once: handlers must be
idempotent (webhooks send the same webhook-id on every attempt, so receivers can deduplicate).
"""
from __future__ import annotations

import contextvars
import logging
import os
import random
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator, Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from app.db_types import UTCDateTime, utcnow
from app.extensions import db
from app.jobs.models import Job, JobStatus

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_LEASE_SECONDS = 60
NOTIFY_CHANNEL = "huifang_jobs"
MAX_ERROR_LENGTH = 2000


class RetryLater(Exception):
    """Raise from a handler to run the job again after `delay_seconds` (counts as an attempt).

    Database writes the handler made before raising are committed (e.g. a delivery attempt log).
    """

    def __init__(self, delay_seconds: float, reason: str = ""):
        super().__init__(reason or f"retry in {delay_seconds:.0f} s")
        self.delay_seconds = max(0.0, float(delay_seconds))
        self.reason = reason or str(self)


class GiveUp(Exception):
    """Raise from a handler to dead-letter the job now; the handler's writes are committed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler: what runs a kind of job, and how long a worker may hold it."""

    kind: str
    fn: Callable[[dict, Job], None]
    lease_seconds: int
    max_attempts: int
    # Optional batch path (see batch_handler): runs all claimed jobs of this kind together.
    batch_fn: Optional[Callable[[list["ClaimedJob"], "Reporter"], None]] = None


@dataclass(frozen=True)
class ClaimedJob:
    """A claimed job as the batch path sees it: plain values read by the claiming statement itself."""

    id: int
    kind: str
    payload: dict
    attempts: int
    max_attempts: int
    lease_owner: str


# report(outcomes, record) -> ids whose outcome was recorded. outcomes: job id -> None (done),
# RetryLater, GiveUp or any other exception (retried with backoff); record(kept_ids) writes the
# handler's own rows for the jobs this worker still holds (flush only). See finish_batch.
Reporter = Callable[[dict[int, Optional[BaseException]], Optional[Callable[[set[int]], None]]], set[int]]


HANDLERS: dict[str, HandlerSpec] = {}
# kind -> seconds between runs; the worker loop enqueues one job per period (deduplicated).
PERIODIC: dict[str, int] = {}

# The time the current pass runs at. Tests move it forward instead of waiting real hours.
_clock: contextvars.ContextVar[Optional[datetime]] = contextvars.ContextVar("huifang_jobs_clock", default=None)


def now() -> datetime:
    """The job runner's notion of now: utcnow(), or the fake time a test pass runs at."""
    return _clock.get() or utcnow()


@contextmanager
def frozen_time(at: datetime) -> Iterator[None]:
    """Run a block as if it were `at` (tests and simulations; handlers read jobs.service.now())."""
    token = _clock.set(at)
    try:
        yield
    finally:
        _clock.reset(token)


def handler(kind: str, *, lease_seconds: int = DEFAULT_LEASE_SECONDS, max_attempts: int = DEFAULT_MAX_ATTEMPTS):
    """Register `fn(payload: dict, job: Job) -> None` as the handler of `kind` (at import time).

    lease_seconds must exceed the longest run of the handler: after it, another worker may claim
    the job again. max_attempts is the default for jobs of this kind.
    """

    def decorator(fn: Callable[[dict, Job], None]):
        HANDLERS[kind] = HandlerSpec(kind, fn, int(lease_seconds), int(max_attempts))
        return fn

    return decorator


def batch_handler(kind: str):
    """Give an already registered `kind` a batch path: `fn(jobs: list[ClaimedJob], report) -> None`.

    The worker then hands ALL the claimed jobs of that kind to `fn` at once (one query to load
    what they need, concurrent I/O, one transaction per group of outcomes) instead of running the
    per-job handler once per job. `fn` reports outcomes with `report(outcomes, record)` as often as
    it likes (e.g. as results arrive); each call is one transaction: the jobs this worker still
    holds the lease on get their outcome, `record(kept_ids)` adds the handler's writes for exactly
    those, and it commits. A job `fn` never reports is retried with backoff (as if it raised).
    The per-job handler stays the reference behaviour and is what run_job uses.
    """

    def decorator(fn):
        spec = HANDLERS[kind]  # KeyError: register the per-job handler first
        HANDLERS[kind] = HandlerSpec(spec.kind, spec.fn, spec.lease_seconds, spec.max_attempts, fn)
        return fn

    return decorator


def periodic(kind: str, every_seconds: int) -> None:
    """Have the worker loop enqueue a `kind` job once per `every_seconds` (one per period, shared by all workers)."""
    PERIODIC[kind] = int(every_seconds)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def enqueue(kind: str, payload: dict, *, run_at: Optional[datetime] = None, dedupe_key: Optional[str] = None,
            max_attempts: Optional[int] = None) -> Job:
    """Add a job in the CURRENT transaction (flush only): it exists iff the caller's transaction commits.

    With dedupe_key, a second enqueue with the same key returns the existing job (whatever its
    state), also when two transactions race: the database's unique index decides.
    """
    if not isinstance(payload, dict):
        raise TypeError("a job payload is a JSON object (dict)")
    spec = HANDLERS.get(kind)
    values = dict(
        kind=kind, payload=payload, status=JobStatus.QUEUED, run_at=run_at or now(), attempts=0,
        max_attempts=max_attempts or (spec.max_attempts if spec else DEFAULT_MAX_ATTEMPTS),
        dedupe_key=dedupe_key, created_at=utcnow(),
    )
    if dedupe_key is None:
        job = Job(**values)
        db.session.add(job)
        db.session.flush()
    else:
        job = _find_by_dedupe_key(dedupe_key)
        if job is not None:
            return job
        dialect = _dialect()
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Job)
        # ON CONFLICT DO NOTHING: a concurrent enqueue of the same key is not an error.
        db.session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]))
        job = _find_by_dedupe_key(dedupe_key)
    if job.run_at <= now():
        wake_workers()
    return job


def _find_by_dedupe_key(key: str) -> Optional[Job]:
    return db.session.scalars(sa.select(Job).where(Job.dedupe_key == key)).one_or_none()


def wake_workers() -> None:
    """PostgreSQL: NOTIFY listening workers when the transaction commits (no polling delay)."""
    if _dialect() == "postgresql":
        db.session.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def default_worker_id() -> str:
    """host:pid:random — unique per worker process, readable in the jobs table."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(24):06x}"


def _lease_seconds(kind: str) -> int:
    overrides = current_app.config.get("JOBS_LEASE_SECONDS") or {}
    spec = HANDLERS.get(kind)
    return int(overrides.get(kind, spec.lease_seconds if spec else DEFAULT_LEASE_SECONDS))


def claim(limit: int, worker_id: str, at: datetime) -> list[int]:
    """Lease up to `limit` due jobs of registered kinds to this worker, in one committed statement.

    Due: queued with run_at <= now, or running with an expired lease (its worker died or hung).
    Returns the claimed ids; each job is loaded when its turn comes, so a big batch does not keep
    hundreds of objects in the session (every commit would expire them all).
    """
    return [row.id for row in claim_rows(limit, worker_id, at)]


def claim_rows(limit: int, worker_id: str, at: datetime) -> list[ClaimedJob]:
    """claim(), returning what the batch path needs of each job (read by the same UPDATE … RETURNING)."""
    kinds = sorted(HANDLERS)
    if not kinds:
        return []
    lease_until = sa.case(
        *[(Job.kind == k, sa.literal(at + timedelta(seconds=_lease_seconds(k)), UTCDateTime())) for k in kinds],
        else_=sa.literal(at + timedelta(seconds=DEFAULT_LEASE_SECONDS), UTCDateTime()),
    )
    due = sa.or_(
        sa.and_(Job.status == JobStatus.QUEUED, Job.run_at <= at),
        sa.and_(Job.status == JobStatus.RUNNING, Job.lease_until < at),
    )
    # PostgreSQL: SKIP LOCKED lets many workers claim disjoint batches without waiting on each
    # other. SQLite renders no FOR UPDATE: the UPDATE takes the database's single write lock, so
    # the subquery and the update are one atomic step.
    candidates = (
        sa.select(Job.id).where(due, Job.kind.in_(kinds)).order_by(Job.run_at, Job.id).limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(Job).where(Job.id.in_(candidates))
        .values(status=JobStatus.RUNNING, lease_owner=worker_id, lease_until=lease_until, attempts=Job.attempts + 1)
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts, Job.lease_owner)
        .execution_options(synchronize_session=False)
    )
    rows = [ClaimedJob(r.id, r.kind, r.payload or {}, r.attempts, r.max_attempts, r.lease_owner)
            for r in db.session.execute(stmt)]
    db.session.commit()
    return sorted(rows, key=lambda r: r.id)


def _load(job_id: int) -> Optional[Job]:
    return db.session.scalars(
        sa.select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    ).one_or_none()


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff for unexpected errors: 10 s, 20 s, 40 s … capped at one hour, ±20 % jitter."""
    base = min(3600.0, 5.0 * (2 ** max(1, attempts)))
    return base * random.uniform(0.8, 1.2)


def _finish(job_id: int, worker_id: str, **values) -> bool:
    """Record a run's outcome if this worker still holds the lease; commit it with the handler's writes."""
    result = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.lease_owner == worker_id, Job.status == JobStatus.RUNNING)
        .values(lease_owner=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        # The lease expired and another worker took the job: its run counts, not ours.
        db.session.rollback()
        log.warning("job %s: lease lost by %s; outcome discarded", job_id, worker_id)
        return False
    db.session.commit()
    return True


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _outcome_values(exc: Optional[BaseException], attempts: int, max_attempts: int, at: datetime) -> dict:
    """The job columns after a run that ended with `exc` (None: success)."""
    if exc is None:
        return dict(status=JobStatus.DONE, finished_at=at, last_error=None)
    if isinstance(exc, RetryLater):
        if attempts >= max_attempts:
            return dict(status=JobStatus.DEAD, finished_at=at, last_error=_truncate(f"last attempt: {exc.reason}"))
        return dict(status=JobStatus.QUEUED, run_at=at + timedelta(seconds=exc.delay_seconds),
                    last_error=_truncate(exc.reason))
    if isinstance(exc, GiveUp):
        return dict(status=JobStatus.DEAD, finished_at=at, last_error=_truncate(exc.reason))
    error = _truncate(f"{type(exc).__name__}: {exc}")
    if attempts >= max_attempts:
        return dict(status=JobStatus.DEAD, finished_at=at, last_error=error)
    return dict(status=JobStatus.QUEUED, run_at=at + timedelta(seconds=backoff_seconds(attempts)), last_error=error)


def _lease_expired_too_often(attempts: int, max_attempts: int) -> Optional[GiveUp]:
    if attempts > max_attempts:
        # Claimed again after lease expiries beyond the limit (e.g. the handler kills its worker).
        return GiveUp(f"gave up after {max_attempts} attempts (lease expired)")
    return None


def run_job(job: Job, worker_id: str) -> str:
    """Run one claimed job and record the outcome; returns the job's new status value."""
    job_id, attempts, max_attempts = job.id, job.attempts, job.max_attempts
    spec = HANDLERS[job.kind]
    at = now()
    exhausted = _lease_expired_too_often(attempts, max_attempts)
    if exhausted is not None:
        _finish(job_id, worker_id, status=JobStatus.DEAD, finished_at=at, last_error=exhausted.reason)
        return JobStatus.DEAD.value
    try:
        spec.fn(dict(job.payload or {}), job)
    except (RetryLater, GiveUp) as exc:
        values = _outcome_values(exc, attempts, max_attempts, at)
    except Exception as exc:  # noqa: BLE001 - any handler failure is retried, never crashes the worker
        db.session.rollback()
        log.exception("job %s (%s) failed on attempt %s", job_id, spec.kind, attempts)
        values = _outcome_values(exc, attempts, max_attempts, at)
    else:
        values = _outcome_values(None, attempts, max_attempts, at)
    _finish(job_id, worker_id, **values)
    return values["status"].value


def finish_batch(jobs_by_id: dict[int, ClaimedJob], worker_id: str, outcomes: dict[int, Optional[BaseException]],
                 record: Optional[Callable[[set[int]], None]] = None) -> set[int]:
    """Record many runs' outcomes in ONE transaction; returns the ids recorded (lease still held).

    First one statement re-asserts this worker's lease on the jobs and returns those it still holds
    (PostgreSQL locks the rows, SQLite takes its write lock, so nobody can take them over before
    the commit); outcomes of jobs whose lease was lost are discarded, as in run_job. Then the job
    rows are updated in bulk, `record(kept)` adds the handler's writes for the kept jobs only, and
    everything commits together: the outcome and what the handler wrote are never separated.
    """
    if not outcomes:
        return set()
    at = now()
    table = Job.__table__
    try:
        kept = set(db.session.execute(
            sa.update(table)
            .where(table.c.id.in_(sorted(outcomes)), table.c.lease_owner == worker_id,
                   table.c.status == JobStatus.RUNNING)
            .values(lease_until=table.c.lease_until)
            .returning(table.c.id)
        ).scalars())
        lost = set(outcomes) - kept
        if lost:
            log.warning("jobs %s: lease lost by %s; outcomes discarded", sorted(lost), worker_id)
        done = [i for i in kept if outcomes[i] is None]
        if done:
            db.session.execute(
                sa.update(table).where(table.c.id.in_(sorted(done)))
                .values(status=JobStatus.DONE, finished_at=at, last_error=None, lease_owner=None, lease_until=None)
            )
        retry, dead = [], []
        for job_id in sorted(kept - set(done)):
            job = jobs_by_id[job_id]
            values = _outcome_values(outcomes[job_id], job.attempts, job.max_attempts, at)
            if values["status"] is JobStatus.QUEUED:
                retry.append({"b_id": job_id, "b_run_at": values["run_at"], "b_error": values["last_error"]})
            else:
                dead.append({"b_id": job_id, "b_error": values["last_error"]})
        if retry:  # executemany: one prepared statement for all rows
            db.session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                .values(status=JobStatus.QUEUED, run_at=sa.bindparam("b_run_at", type_=UTCDateTime()),
                        last_error=sa.bindparam("b_error"), lease_owner=None, lease_until=None),
                retry,
            )
        if dead:
            db.session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                .values(status=JobStatus.DEAD, finished_at=at, last_error=sa.bindparam("b_error"),
                        lease_owner=None, lease_until=None),
                dead,
            )
        if record is not None and kept:
            record(kept)
            db.session.flush()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return kept


def _run_batch(spec: HandlerSpec, claimed: list[ClaimedJob], worker_id: str) -> None:
    """Run the batch path of one kind over its claimed jobs; unreported jobs are retried with backoff."""
    jobs_by_id = {job.id: job for job in claimed}
    reported: set[int] = set()
    runnable = []
    exhausted = {}
    for job in claimed:
        give_up = _lease_expired_too_often(job.attempts, job.max_attempts)
        if give_up is not None:
            exhausted[job.id] = give_up
        else:
            runnable.append(job)

    def report(outcomes: dict[int, Optional[BaseException]],
               record: Optional[Callable[[set[int]], None]] = None) -> set[int]:
        outcomes = {i: o for i, o in outcomes.items() if i in jobs_by_id and i not in reported}
        kept = finish_batch(jobs_by_id, worker_id, outcomes, record)
        reported.update(outcomes)  # lost leases count as reported: the new owner decides
        return kept

    if exhausted:
        report(exhausted)
    try:
        if runnable:
            spec.batch_fn(runnable, report)
    except Exception as exc:  # noqa: BLE001 - a failing batch is retried, never crashes the worker
        db.session.rollback()
        log.exception("batch of %s %s jobs failed", len(runnable), spec.kind)
        failure: Optional[BaseException] = exc
    else:
        failure = None
    missing = {job.id for job in runnable} - reported
    if missing:
        error = failure or RuntimeError("the batch handler reported no outcome for this job")
        report({i: error for i in missing})


def run_due_jobs(limit: int = 100, worker_id: Optional[str] = None, now: Optional[datetime] = None) -> int:
    """One pass: claim up to `limit` due jobs and run them; returns how many ran.

    `now` runs the pass at a fake time (tests): jobs due by then run, and retries are scheduled
    from it. Kinds with a batch path (batch_handler) run all their claimed jobs together; the
    others run one by one, each committed with its outcome.
    """
    worker_id = worker_id or default_worker_id()
    token = _clock.set(now) if now is not None else None
    try:
        claimed = claim_rows(limit, worker_id, now if now is not None else utcnow())
        by_kind: dict[str, list[ClaimedJob]] = {}
        for row in claimed:
            by_kind.setdefault(row.kind, []).append(row)
        for kind, rows in by_kind.items():
            spec = HANDLERS.get(kind)
            if spec is not None and spec.batch_fn is not None:
                _run_batch(spec, rows, worker_id)
                continue
            for row in rows:
                job = _load(row.id)
                if job is not None and job.lease_owner == worker_id:
                    run_job(job, worker_id)
        return len(claimed)
    finally:
        if token is not None:
            _clock.reset(token)


def schedule_periodic(at: Optional[datetime] = None) -> int:
    """Enqueue this period's job of every periodic kind (deduplicated across workers); commits."""
    at = at or now()
    created = 0
    for kind, every in PERIODIC.items():
        bucket = int(at.timestamp() // every)
        before = _find_by_dedupe_key(f"periodic:{kind}:{bucket}")
        if before is None:
            enqueue(kind, {"period": bucket}, run_at=at, dedupe_key=f"periodic:{kind}:{bucket}", max_attempts=1)
            created += 1
    db.session.commit()
    return created


# --- queries and staff actions ------------------------------------------------------------------

def get_job(job_id: int) -> Optional[Job]:
    """One job by id."""
    return db.session.get(Job, job_id)


def retry_job(job: Job, *, max_attempts: Optional[int] = None) -> Job:
    """Put a dead (or done) job back in the queue to run now with fresh attempts; flushes."""
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.run_at = now()
    job.lease_owner = None
    job.lease_until = None
    job.finished_at = None
    if max_attempts:
        job.max_attempts = max_attempts
    db.session.flush()
    wake_workers()
    return job


def counts_by_status() -> dict[str, int]:
    """How many jobs are in each state, per kind: {"kind": {"queued": n, ...}}."""
    rows = db.session.execute(sa.select(Job.kind, Job.status, sa.func.count()).group_by(Job.kind, Job.status))
    result: dict = {}
    for kind, status, count in rows:
        result.setdefault(kind, {})[status.value] = count
    return result


def purge_finished(older_than: timedelta) -> int:
    """Delete done jobs finished before now - older_than (dead jobs stay until retried or purged by staff)."""
    result = db.session.execute(
        sa.delete(Job).where(Job.status == JobStatus.DONE, Job.finished_at < now() - older_than)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@handler("jobs.purge", lease_seconds=300, max_attempts=1)
def _purge_handler(payload: dict, job: Job) -> None:
    """Keep the jobs table small: done jobs older than JOBS_KEEP_DONE_DAYS are removed."""
    purge_finished(timedelta(days=current_app.config.get("JOBS_KEEP_DONE_DAYS", 7)))


periodic("jobs.purge", 3600)
