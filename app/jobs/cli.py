"""`flask worker` and `flask jobs …`: thin wrappers over app.jobs.service and app.jobs.worker."""
from __future__ import annotations

import json
import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.cli_params import COUNT, ROW_ID, fail, finite
from app.extensions import db

jobs_cli = AppGroup("jobs", help="The background job queue (outbox).")


@click.command("worker")
@click.option("--id", "worker_id", default=None, help="Worker id shown in the jobs table (default host:pid:random).")
@click.option("--batch", type=COUNT, default=None, help="Jobs claimed per pass (default 20).")
@click.option("--poll-interval", type=click.FloatRange(0, 60, min_open=True), default=None, callback=finite, help="Seconds between polls when idle on SQLite (default 0.05).")
@with_appcontext
def worker_command(worker_id, batch, poll_interval) -> None:
    """Run background jobs (webhook deliveries, campaigns, letters, expiry sweeps) until stopped."""
    from app.jobs.worker import run_worker

    stop = threading.Event()

    def _stop(signum, _frame):
        click.echo(f"worker: signal {signum}, finishing the job in hand", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    app = current_app._get_current_object()
    click.echo(f"worker started on {db.engine.dialect.name}", err=True)
    total = run_worker(app, worker_id, stop, batch=batch, poll_interval=poll_interval)
    click.echo(f"worker stopped after {total} jobs", err=True)


@jobs_cli.command("run-once")
@click.option("--limit", type=COUNT, default=100)
def run_once_command(limit: int) -> None:
    """Run the jobs that are due now, once, and exit."""
    from app.jobs.service import run_due_jobs

    click.echo(f"ran {run_due_jobs(limit=limit)} jobs")


@jobs_cli.command("stats")
def stats_command() -> None:
    """Print how many jobs are in each state, per kind, as JSON."""
    from app.jobs.service import counts_by_status

    click.echo(json.dumps(counts_by_status(), indent=2, sort_keys=True))


@jobs_cli.command("retry")
@click.argument("job_id", type=ROW_ID)
def retry_command(job_id: int) -> None:
    """Put the dead-lettered job JOB_ID back in the queue."""
    from app.audit.service import record
    from app.jobs.service import get_job, retry_job

    job = get_job(job_id)
    if job is None:
        fail(f"no job {job_id}")
    retry_job(job)
    record("cli", "job.retry", "job", job.id, {"kind": job.kind})
    db.session.commit()
    click.echo(f"queued again: job {job_id} ({job.kind})")


def register(app: Flask) -> None:
    """Attach `flask worker` and `flask jobs`."""
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_cli)
