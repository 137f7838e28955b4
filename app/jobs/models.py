"""Models of the jobs area: one table that is both the outbox and the work queue."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import JSONType, UTCDateTime, str_enum, utcnow
from app.extensions import db


class JobStatus(enum.Enum):
    """Lifecycle: queued → running → done, or back to queued (retry), or dead (dead-lettered)."""

    QUEUED = "queued"
    RUNNING = "running"  # claimed by a worker until lease_until; an expired lease is claimable again
    DONE = "done"
    DEAD = "dead"  # gave up: the last attempt failed or a handler raised GiveUp; staff may retry it


class Job(db.Model):
    """A unit of background work, written in the caller's transaction (transactional outbox)."""

    __tablename__ = "jobs"
    # (status, finished_at): the status page's last job done and jobs dead this week, and the purge
    # of old done jobs, each a range of one status (status alone would not do: nearly all are done).
    __table_args__ = (sa.Index("ix_jobs_status_run_at", "status", "run_at"),
                      sa.Index("ix_jobs_status_finished_at", "status", "finished_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64), index=True)  # selects the registered handler
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus, 16), default=JobStatus.QUEUED)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # not before this moment
    attempts: Mapped[int] = mapped_column(default=0)  # runs started (incremented when claimed)
    max_attempts: Mapped[int] = mapped_column(default=10)
    lease_owner: Mapped[Optional[str]] = mapped_column(sa.String(100))  # worker id holding the lease
    lease_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    # Enqueueing twice with the same key yields one job (e.g. one delivery job per webhook event).
    dedupe_key: Mapped[Optional[str]] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
