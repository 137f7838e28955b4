"""Callbacks benchmark: submit → callback received (p50, p99) and events delivered per second per worker.

    .venv/bin/python benchmarks/bench_callbacks.py [--backend sqlite|postgresql|both] [--latency N] [--throughput N]

Each run builds a fresh database (a temporary SQLite file, or a new PostgreSQL database on
BENCH_POSTGRES_URL, default postgresql+psycopg://127.0.0.1:5432/test, dropped afterwards),
starts real `flask worker` processes and a fast loopback receiver (keep-alive, answers 200 at
once). Goals (issue 3): p50 under 200 ms on the embedded default (SQLite), at least 500 events/s
per worker to a fast receiver.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.webhooks.receiver import Receiver  # noqa: E402  (the same verifying receiver the tests use)

GOAL_P50_MS = 200.0
GOAL_EVENTS_PER_S = 500.0
ANSWERS = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}
DEFINITION = ROOT / "tests" / "data" / "all_types.yaml"


class Database:
    """A throwaway database for one backend."""

    def __init__(self, backend: str):
        self.backend = backend
        self.tmp = Path(tempfile.mkdtemp(prefix="huifang-bench-"))
        if backend == "postgresql":
            admin_url = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
            self.name = f"huifang_bench_{secrets.token_hex(4)}"
            self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            self.url = admin_url.rsplit("/", 1)[0] + "/" + self.name
        else:
            self.url = f"sqlite:///{self.tmp / 'bench.db'}"

    def drop(self):
        if self.backend == "postgresql":
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)


BATCH = 50


def start_worker(db_url: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, HUIFANG_BENCH_DB=db_url, FLASK_APP="benchmarks._callbacks_app:app", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "flask", "worker", "--batch", str(BATCH)], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "worker started" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def setup(app, sessions: int, receiver_url: str):
    """Schema, a definition, an API key, clients and pending sessions; returns (key row, invitation ids)."""
    from app.api.service import create_api_key
    from app.clients.models import Client
    from app.definitions.service import publish_text
    from app.extensions import db
    from app.mandatory import service
    from app.mandatory.models import MandatorySession
    from app.schema import create_schema

    create_schema()
    version, _ = publish_text(DEFINITION.read_text(encoding="utf-8"), "bench")
    key, _clear = create_api_key("bench", callback_prefixes=["http://127.0.0.1:"])
    db.session.add_all([Client(account=f"B{n:07d}", name="客户", id_last4="123X") for n in range(sessions)])
    db.session.commit()
    for n in range(sessions):
        service.open_session(key, service.SessionRequest(
            client_account=f"B{n:07d}", questionnaire_key=version.questionnaire.key, version_number=None,
            review_type=None, business_ref=f"ref-{n}", context={"product_name": "x"}, callback_url=receiver_url,
            return_url=None, expires_in=3600), f"h{n}", None, "bench")
    db.session.commit()
    ids = db.session.scalars(sa.select(MandatorySession.invitation_id).order_by(MandatorySession.id)).all()
    return key, ids


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(backend: str, latency_n: int, throughput_n: int) -> dict:
    from app import create_app
    from app.extensions import db
    from app.reviews import service as reviews
    from app.reviews.models import Invitation
    from app.webhooks import service as webhooks
    from app.webhooks.models import DeliveryAttempt, EventStatus, WebhookEvent

    database = Database(backend)
    receiver = Receiver()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "SECRET_KEYS": ["bench-key"],
                      "RATELIMIT_ENABLED": False, "SERVER_NAME": "127.0.0.1:5000"})
    try:
        with app.app_context():
            key, ids = setup(app, latency_n, receiver.url)
            receiver.secrets = [key.webhook_secret]
            key_id = key.id
        # 1. submit → callback received, one at a time, one worker running.
        worker = start_worker(database.url, database.tmp / "latency.log")
        latencies = []
        with app.app_context():
            for n, invitation_id in enumerate(ids):
                invitation = db.session.get(Invitation, invitation_id)
                started = time.perf_counter()
                reviews.submit_response(invitation, ANSWERS, "zh-CN")
                db.session.commit()
                got = receiver.wait_for(n + 1, timeout=30)
                latencies.append((got[-1].at - started) * 1000)
        stop(worker)
        # 2. throughput: a backlog of events, then one worker drains it.
        with app.app_context():
            for n in range(throughput_n):
                webhooks.emit("mandatory_session.completed", {"session_id": f"ms_{n}", "status": "completed"},
                              api_key_id=key_id, callback_url=receiver.url)
                if n % 500 == 499:
                    db.session.commit()
            db.session.commit()
        already = len(receiver.received)
        worker = start_worker(database.url, database.tmp / "throughput.log")
        got = receiver.wait_for(already + throughput_n, timeout=600)
        stop(worker)
        batch = got[already:]
        elapsed = batch[-1].at - batch[0].at
        verified = all(r.verified for r in got)
        with app.app_context():  # what the worker recorded: every event delivered, one attempt each
            delivered = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)
                                          .where(WebhookEvent.status == EventStatus.DELIVERED))
            attempts = db.session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt))
        return {"delivered_in_db": delivered, "attempts_in_db": attempts, "events_total": latency_n + throughput_n,
                "distinct_ids": len({r.webhook_id for r in got}), "received": len(got),
                "backend": backend, "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99),
                "latency_n": len(latencies), "events_per_s": (len(batch) - 1) / elapsed if elapsed > 0 else float("inf"),
                "throughput_n": len(batch), "all_signatures_verified": verified}
    finally:
        receiver.close()
        with app.app_context():
            db.engine.dispose()
        database.drop()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--latency", type=int, default=200, help="sessions submitted one by one (default 200)")
    parser.add_argument("--throughput", type=int, default=3000, help="events drained by one worker (default 3000)")
    parser.add_argument("--batch", type=int, default=BATCH, help="flask worker --batch (default 50)")
    args = parser.parse_args()
    globals()["BATCH"] = args.batch
    print(f"machine: {os.cpu_count()} cores; load average {_load()} (1/5/15 min) at start; worker --batch {BATCH}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        r = run(backend, args.latency, args.throughput)
        print(f"[{backend}] load average {_load()} after the run; recorded: {r['delivered_in_db']}/{r['events_total']} "
              f"events delivered, {r['attempts_in_db']} attempt rows; receiver got {r['received']} requests, "
              f"{r['distinct_ids']} distinct webhook-ids")
        print(f"[{backend}] submit→callback: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
              f"over {r['latency_n']} sessions (goal p50 < {GOAL_P50_MS:.0f} ms on SQLite: "
              f"{r['p50_ms'] / GOAL_P50_MS:.2f}× the limit)")
        print(f"[{backend}] one worker delivered {r['throughput_n']} events at {r['events_per_s']:.0f} events/s "
              f"(goal ≥ {GOAL_EVENTS_PER_S:.0f}/s: {r['events_per_s'] / GOAL_EVENTS_PER_S:.2f}× the goal); "
              f"signatures verified: {r['all_signatures_verified']}")


if __name__ == "__main__":
    main()
