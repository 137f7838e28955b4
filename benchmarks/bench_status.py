"""Benchmark: what the System status costs (app/status) on a firm's years of audit log and jobs.

The console's home page runs the status checks for every admin and auditor who opens it, and a
monitoring agent runs `flask status` every few minutes, so the checks must not grow with the audit
log. For each backend it times `system_status()` on an empty database (the baseline), then on one
holding N audit entries (with daily backups made and checked among them) and M finished jobs, and
prints the median, p95 and the ratio to the baseline: about 1 means the queries are answered from
indexes, not by reading the log. It times the worker's alert check too (the same checks and the
newest alerts sent, once a minute).

The filler writes rows with SQL (INSERT … SELECT over a generated series): the chain's hashes are
not real, which the status does not read.

Usage: .venv/bin/python benchmarks/bench_status.py [--audit 1000000] [--jobs 20000] [--calls 300]
       [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _client_common import bench_database, percentile  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402

BACKUP_DAYS = 400  # a backup made and checked every day for this many days, spread through the log

SERIES = {
    "postgresql": "SELECT g FROM generate_series(1, :n) AS g",
    "sqlite": "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n) SELECT g FROM s",
}
AGO = {  # the moment g seconds before now, as each backend stores a naive UTC time
    "postgresql": "(now() at time zone 'utc') - make_interval(secs => {g})",
    "sqlite": "datetime('now', '-' || ({g}) || ' seconds')",
}


def fill(backend: str, audit: int, jobs: int) -> None:
    """`audit` audit entries, one backup made and checked per day among them, `jobs` finished jobs."""
    series, ago = SERIES[backend], AGO[backend]
    # Ordinary entries, newest last; every (audit // BACKUP_DAYS)-th pair is a backup made and checked.
    every = max(2, audit // BACKUP_DAYS)
    action = (f"CASE WHEN g % {every} = 0 THEN 'backup.created' WHEN g % {every} = 1 THEN 'backup.checked' "
              f"ELSE 'invitation.create' END")
    name = f"CASE WHEN g % {every} IN (0, 1) THEN 'huifang-' || ((g / {every}) * {every}) ELSE '' || g END"
    db.session.execute(sa.text(
        f"INSERT INTO audit_log (seq, occurred_at, actor, action, object_type, object_id, details, prev_hash, entry_hash) "
        f"SELECT g, {ago.format(g=':n - g')}, 'api:crm', {action}, 'x', {name}, '{{}}', '', '' FROM ({series}) AS t"),
        {"n": audit})
    db.session.execute(sa.text(
        f"INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, dedupe_key, created_at, finished_at) "
        f"SELECT 'webhooks.expiry_sweep', '{{}}', 'done', {ago.format(g='60 * g')}, 1, 1, 'periodic:bench:' || g, "
        f"{ago.format(g='60 * g')}, {ago.format(g='60 * g')} FROM ({series}) AS t"), {"n": jobs})
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))  # the planner's statistics, as autovacuum would soon gather them
    db.session.commit()


def status_check():
    """What the console's home page and `flask status` run."""
    from app.status.service import system_status

    return system_status()


def alert_check():
    """What the worker runs every minute for the alerts when none is due (app/status/alerts.py)."""
    from app.status.alerts import alert_due, alert_history
    from app.status.service import system_status

    status = system_status()
    alert_due(status, alert_history())
    return status


CHECKS = {"system_status()": status_check, "the worker's alert check": alert_check}


def time_check(check, calls: int) -> tuple[list[float], object]:
    """Seconds per call (sorted), each in a fresh session as a request would be; the last status."""
    check()  # warm the statement caches
    spent = []
    for _ in range(calls):
        db.session.remove()
        started = time.perf_counter()
        status = check()
        spent.append(time.perf_counter() - started)
    db.session.remove()
    return sorted(spent), status


def bench(backend: str, audit: int, jobs: int, calls: int) -> None:
    """Time the checks on an empty database, then on a filled one; print both and the ratio."""
    with bench_database(backend) as (url, tmp):
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": ["bench"], "BACKUP_DIR": str(tmp / "b")})
        with app.app_context():
            from app.schema import create_schema

            create_schema()
            empty = {name: time_check(check, calls)[0] for name, check in CHECKS.items()}
            started = time.perf_counter()
            fill(backend, audit, jobs)
            filled_in = time.perf_counter() - started
            full = {}
            for name, check in CHECKS.items():
                full[name], status = time_check(check, calls)
                assert status.backup.verified is not None and status.worker.last_finished_at is not None
            db.engine.dispose()
    print(f"\n== {backend}: {calls} calls each; {audit:,} audit entries, {jobs:,} jobs filled in {filled_in:.1f} s ==")
    for name in CHECKS:
        base = statistics.median(empty[name])
        print(f"  {name}")
        print(f"    empty database  median {base * 1000:7.2f} ms   p95 {percentile(empty[name], 95) * 1000:7.2f} ms")
        print(f"    filled          median {statistics.median(full[name]) * 1000:7.2f} ms   "
              f"p95 {percentile(full[name], 95) * 1000:7.2f} ms")
        print(f"    ratio filled / empty (median): {statistics.median(full[name]) / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        bench(backend, args.audit, args.jobs, args.calls)


if __name__ == "__main__":
    main()
