"""The loop behind `flask worker`: claim due jobs, run them, sleep until there is more work.

PostgreSQL: the worker LISTENs on a channel that enqueue NOTIFYs on commit, so new work starts
at once; SQLite polls (a cheap indexed query) every JOBS_POLL_INTERVAL seconds (default 0.05).
Stopping (SIGTERM / Ctrl-C) finishes the job in hand, then exits; SIGKILL loses nothing either:
the job's lease expires and another worker runs it again.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from flask import Flask
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.jobs import service

log = logging.getLogger(__name__)


class _PgListener:
    """A dedicated autocommit connection that waits for NOTIFY from enqueue."""

    def __init__(self, url) -> None:
        import psycopg

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.conn.execute(f"LISTEN {service.NOTIFY_CHANNEL}")

    def wait(self, timeout: float) -> None:
        for _notification in self.conn.notifies(timeout=timeout, stop_after=1):
            break

    def close(self) -> None:
        self.conn.close()


def run_worker(app: Flask, worker_id: Optional[str] = None, stop_event: Optional[threading.Event] = None,
               *, batch: Optional[int] = None, poll_interval: Optional[float] = None,
               max_idle_wait: float = 1.0) -> int:
    """Run jobs until stop_event is set; returns how many jobs ran."""
    worker_id = worker_id or service.default_worker_id()
    stop_event = stop_event or threading.Event()
    total = 0
    with app.app_context():
        batch = batch or app.config.get("JOBS_BATCH", 20)
        poll_interval = poll_interval or app.config.get("JOBS_POLL_INTERVAL", 0.05)
        periodic_every = app.config.get("JOBS_PERIODIC_CHECK_SECONDS", 5)
        listener = _PgListener(db.engine.url) if db.engine.dialect.name == "postgresql" else None
        next_periodic = 0.0
        log.info("worker %s started (%s)", worker_id, db.engine.dialect.name)
        try:
            while not stop_event.is_set():
                ran = 0
                try:
                    if time.monotonic() >= next_periodic:
                        service.schedule_periodic()
                        next_periodic = time.monotonic() + periodic_every
                    ran = service.run_due_jobs(limit=batch, worker_id=worker_id)
                    total += ran
                except OperationalError:
                    # Database restarting or locked for too long: back off, keep the worker alive.
                    log.exception("worker %s: database error; retrying in 1 s", worker_id)
                    db.session.rollback()
                    stop_event.wait(1.0)
                finally:
                    db.session.remove()
                if ran == 0 and not stop_event.is_set():
                    if listener is not None:
                        listener.wait(max_idle_wait)
                    else:
                        stop_event.wait(poll_interval)
        finally:
            if listener is not None:
                listener.close()
    log.info("worker %s stopped after %s jobs", worker_id, total)
    return total
