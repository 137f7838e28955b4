"""Benchmark: backups of a year of reviews (7.5.2), and what the clients feel while one is taken.

For each backend it fills a fresh database with N completed reviews (client, invitation, response,
registration) and an audit chain of N entries, then times:
- `create_backup` (the copy, its manifest and the audit chain recomputed), against the bare tool it
  is built on: SQLite's backup API or `pg_dump -Fc` alone: the ratio is the price of the manifest
  (the rows counted and the audit chain recomputed);
- `check_backup` (a restore where it harms nothing, compared with the manifest) and `restore_backup`
  into a fresh database;
- a writer committing small transactions (a client and an audit entry) without pause, idle and
  while `flask backup create` runs in a process of its own, as cron runs it: its p50 / p99 / max
  commit time say whether clients wait for a backup.

Usage: .venv/bin/python benchmarks/bench_backup.py [--reviews 100000] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _client_common import bench_database, percentile  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402

BATCH = 5000
ROOT = Path(__file__).resolve().parent.parent


def fill(reviews: int) -> None:
    """N completed reviews and an audit chain of N entries, inserted in batches."""
    from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
    from app.audit.service import entry_digest
    from app.clients.models import Client, RiskLevel
    from app.db_types import utcnow
    from app.definitions.service import publish_builtin
    from app.reviews.models import (Channel, CompletionStatus, Invitation, InvitationStatus, Response,
                                    ReviewRegistration, ReviewType)

    version = next(v for v, _ in publish_builtin("bench") if v.questionnaire.key == "suitability")
    db.session.commit()
    now = utcnow()
    for start in range(1, reviews + 1, BATCH):
        ids = range(start, min(start + BATCH, reviews + 1))
        db.session.execute(sa.insert(Client), [
            {"id": i, "account": f"B{i:09d}", "name": f"客户{i}", "phone": f"138{i:08d}", "risk_level": RiskLevel.C3,
             "branch": "上海分公司", "id_last4": "123X"} for i in ids])
        db.session.execute(sa.insert(Invitation), [
            {"id": i, "public_id": f"p{i:031d}", "short_code": f"s{i:015d}", "client_id": i, "version_id": version.id,
             "review_type": ReviewType.SUITABILITY, "channel": Channel.SMS, "context": {"product_name": "稳健理财1号"},
             "status": InvitationStatus.COMPLETED, "expires_at": now + timedelta(days=30), "created_by": "bench",
             "completed_at": now} for i in ids])
        db.session.execute(sa.insert(Response), [
            {"id": i, "invitation_id": i, "version_id": version.id, "version_hash": version.content_hash,
             "answers": {"is_account_holder": "yes", "knows_risk_level": "yes", "satisfaction": 1 + i % 5},
             "channel": Channel.SMS, "lang": "zh-CN", "receipt_no": f"HF{i:012d}"} for i in ids])
        db.session.execute(sa.insert(ReviewRegistration), [
            {"client_id": i, "invitation_id": i, "review_type": ReviewType.SUITABILITY, "channel": Channel.SMS,
             "completion_status": CompletionStatus.REVIEWED} for i in ids])
        db.session.commit()
    head = db.session.get(AuditChainHead, 1)
    seq, prev = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    for start in range(0, reviews, BATCH):
        entries = []
        for i in range(start, min(start + BATCH, reviews)):
            seq += 1
            values = {"seq": seq, "occurred_at": now, "actor": "client", "action": "response.submitted",
                      "object_type": "invitation", "object_id": str(i + 1), "details": {"channel": "sms"},
                      "remote_addr": None}
            digest = entry_digest(prev, seq, now, "client", "response.submitted", "invitation", str(i + 1),
                                  {"channel": "sms"}, None)
            entries.append({**values, "prev_hash": prev, "entry_hash": digest})
            prev = digest
        db.session.execute(sa.insert(AuditEntry.__table__), entries)
    if head is None:
        db.session.add(AuditChainHead(id=1, last_seq=seq, last_hash=prev))
    else:
        head.last_seq, head.last_hash = seq, prev
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("clients", "invitations", "responses"):  # the ids above were given, not drawn
                connection.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                           f"(SELECT max(id) FROM {table}))"))
            connection.execute(sa.text("VACUUM ANALYZE"))


def bare_copy(engine: sa.Engine, target: Path) -> None:
    """What the backup is built on, alone: SQLite's backup API, or pg_dump, with nothing around it."""
    if engine.dialect.name == "sqlite":
        with closing(sqlite3.connect(engine.url.database)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
        return
    from app.backup.service import _conninfo

    subprocess.run(["pg_dump", "--format=custom", f"--file={target}", f"--dbname={_conninfo(engine.url)}"],
                   check=True)


class Writer(threading.Thread):
    """Commits a client and an audit entry at a time, as fast as it can; records each commit's time."""

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app, self.stop, self.timings, self.window = app, threading.Event(), [], None

    def run(self) -> None:
        from app.audit.service import record
        from app.clients.models import Client

        with self.app.app_context():
            n = 0
            while not self.stop.is_set():
                n += 1
                started = time.perf_counter()
                db.session.add(Client(account=f"W{os.getpid()}{n:08d}", name="王五"))
                record("bench", "client.created", "client", n)
                db.session.commit()
                ended = time.perf_counter()
                if self.window and self.window[0] <= started and ended <= self.window[1]:
                    self.timings.append((ended - started) * 1000)
            db.session.remove()

    def measure(self, seconds: float | None = None, during=None) -> list[float]:
        """Commit times (ms) over `seconds` idle, or while `during()` runs."""
        self.timings = []
        started = time.perf_counter()
        self.window = (started, float("inf"))
        if during is None:
            time.sleep(seconds)
        else:
            during()
        self.window = (started, time.perf_counter())
        time.sleep(0.05)
        return sorted(self.timings)


def figures(label: str, timings: list[float]) -> str:
    if not timings:
        return f"{label}: no commit finished inside the window"
    return (f"{label}: {len(timings)} commits, p50 {percentile(timings, 50):.1f} ms, "
            f"p99 {percentile(timings, 99):.1f} ms, max {timings[-1]:.1f} ms")


def run_backend(backend: str, reviews: int) -> None:
    from app.backup.service import check_backup, create_backup, restore_backup
    from app.schema import create_schema

    with bench_database(backend) as (url, tmp), bench_database(backend) as (restore_url, _tmp2):
        config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": ["bench"], "SERVER_NAME": "localhost",
                  "BACKUP_DIR": str(tmp / "backups")}
        app = create_app(config)
        with app.app_context():
            create_schema()
            started = time.perf_counter()
            fill(reviews)
            print(f"[{backend}] filled {reviews:,} reviews and {reviews:,} audit entries in "
                  f"{time.perf_counter() - started:.1f} s")
            bare = tmp / "bare.copy"
            started = time.perf_counter()
            bare_copy(db.engine, bare)
            bare_seconds = time.perf_counter() - started
            started = time.perf_counter()
            backup = create_backup("bench")
            db.session.commit()
            create_seconds = time.perf_counter() - started
            print(f"[{backend}] create_backup: {create_seconds:.2f} s, {backup.manifest['bytes'] / 1e6:.1f} MB "
                  f"(database {_database_bytes(db.engine) / 1e6:.1f} MB); bare {'backup API' if backend == 'sqlite' else 'pg_dump -Fc'}: "
                  f"{bare_seconds:.2f} s, {bare.stat().st_size / 1e6:.1f} MB; ratio {create_seconds / bare_seconds:.2f}")
            started = time.perf_counter()
            check_backup(backup.path, "bench")
            db.session.commit()
            print(f"[{backend}] check_backup (restore where it harms nothing, compare): "
                  f"{time.perf_counter() - started:.2f} s")
            writer = Writer(app)
            writer.start()
            time.sleep(0.5)
            print(f"[{backend}] writer, idle: " + figures("", writer.measure(seconds=3.0)).lstrip(": "))
            # As cron runs it: `flask backup create` in a process of its own.
            command = [sys.executable, "-m", "flask", "--app", "wsgi", "backup", "create"]
            env = {**os.environ, "DATABASE_URL": url, "BACKUP_DIR": str(tmp / "backups"), "SECRET_KEYS": "bench"}
            during = writer.measure(during=lambda: subprocess.run(command, env=env, check=True, cwd=ROOT,
                                                                  stdout=subprocess.DEVNULL))
            print(f"[{backend}] writer, during `flask backup create`: " + figures("", during).lstrip(": "))
            writer.stop.set()
            writer.join()
            db.session.remove()
            db.engine.dispose()
        target = create_app({**config, "SQLALCHEMY_DATABASE_URI": restore_url})
        with target.app_context():
            create_schema()
            started = time.perf_counter()
            restore_backup(backup.path, "bench", replace=True)
            print(f"[{backend}] restore_backup into a fresh database: {time.perf_counter() - started:.2f} s")
            db.session.remove()
            db.engine.dispose()


def _database_bytes(engine: sa.Engine) -> int:
    if engine.dialect.name == "sqlite":
        return Path(engine.url.database).stat().st_size
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT pg_database_size(current_database())"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M %Z')}")
    for backend in args.backends.split(","):
        run_backend(backend, args.reviews)


if __name__ == "__main__":
    tempfile.tempdir = os.environ.get("TMPDIR")
    main()
