"""Benchmark: a campaign of N clients (default 100,000) created and dispatched to the local SMTP and SMS sinks.

Goal (issue 4): all dispatched within 5 minutes on the 2-core machine, memory flat (peak RSS < 300 MB),
on SQLite and PostgreSQL. Half of the clients have no mobile number, so SMS is flagged for them and
the plan falls back to email: both sinks are exercised. The SMTP sink (aiosmtpd) runs in its own
process; the SMS sink is the embedded file sink.

    .venv/bin/python benchmarks/bench_campaign.py                      # SQLite, 100,000 clients
    .venv/bin/python benchmarks/bench_campaign.py --database postgresql   # a fresh database on 127.0.0.1:5432, dropped after
    .venv/bin/python benchmarks/bench_campaign.py --database postgresql+psycopg://127.0.0.1:5432/bench
    .venv/bin/python benchmarks/bench_campaign.py --clients 10000
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 300
GOAL_RSS_MB = 300
SMTP_SINK = """
import sys, time, signal
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1])); c.start()
signal.signal(signal.SIGTERM, lambda *a: (print(Count.n, flush=True), c.stop(), sys.exit(0)))
while True: time.sleep(1)
"""


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def _create_pg_database() -> tuple[str, str]:
    import secrets

    import sqlalchemy as sa

    name = f"huifang_bench_campaign_{secrets.token_hex(4)}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str, app) -> None:
    import sqlalchemy as sa

    from app.extensions import db

    with app.app_context():
        db.engine.dispose()
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _time_statements(engine) -> dict:
    """Wall-clock time per statement (first 90 characters) during the dispatch."""
    from sqlalchemy import event

    totals: dict[str, list] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.monotonic()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        entry = totals.setdefault(" ".join(statement.split())[:90], [0.0, 0])
        entry[0] += time.monotonic() - conn.info.pop("bench_t0", time.monotonic())
        entry[1] += 1

    return totals


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_phases(dispatch) -> dict:
    """Wrap the three phases of a dispatch pass to add up their wall-clock time."""
    phases = {"claim": 0.0, "send": 0.0, "apply": 0.0}
    for name, phase in (("_claim", "claim"), ("_send_all", "send"), ("_apply", "apply")):
        original = getattr(dispatch, name)

        def timed(*args, _original=original, _phase=phase, **kwargs):
            start = time.monotonic()
            try:
                return _original(*args, **kwargs)
            finally:
                phases[_phase] += time.monotonic() - start
        setattr(dispatch, name, timed)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a new SQLite file)")
    parser.add_argument("--batch-size", type=int, default=1000, help="CAMPAIGN_BATCH_SIZE (targets per pass)")
    parser.add_argument("--threads", type=int, default=4, help="CAMPAIGN_SEND_THREADS (SMTP connections per pass)")
    parser.add_argument("--sql-profile", action="store_true", help="print the statements that took the most time")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="huifang-bench-"))
    url = args.database or f"sqlite:///{tmp / 'bench.db'}"
    own_pg = None
    if url == "postgresql":
        own_pg, url = _create_pg_database()
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SMTP_SINK, str(port)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)

    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": ["bench"], "PUBLIC_BASE_URL": "https://r.example",
                      "SMS_PROVIDER": "file", "SMS_FILE_PATH": str(tmp / "sms.jsonl"), "EMAIL_HOST": "127.0.0.1",
                      "EMAIL_PORT": port, "CAMPAIGN_BATCH_SIZE": args.batch_size,
                      "CAMPAIGN_SEND_THREADS": args.threads})
    samples: list[float] = []
    stop = threading.Event()

    def sample_rss():
        while not stop.is_set():
            samples.append(rss_mb())
            time.sleep(0.5)

    with app.app_context():
        from app.schema import create_schema

        if url.startswith("postgresql"):
            db.drop_all()
        create_schema()
        from app.campaigns import dispatch, service
        from app.clients.models import Client
        from app.definitions.service import publish_builtin

        publish_builtin("bench")
        db.session.commit()
        t0 = time.monotonic()
        rows = []
        for i in range(args.clients):
            rows.append({"account": f"B{i:08d}", "name": "客户", "phone": f"139{i:08d}" if i % 2 else None,
                         "email": f"c{i}@example.com", "risk_level": "C3"})
            if len(rows) == 10_000:
                db.session.execute(sa.insert(Client), rows)
                rows = []
        if rows:
            db.session.execute(sa.insert(Client), rows)
        db.session.commit()
        t_clients = time.monotonic() - t0
        campaign = service.create_campaign(service.CampaignSpec(
            name="bench", questionnaire_key="suitability", channel_plan=["sms", "email"], quiet_start="00:00",
            quiet_end="00:00", context={"product_name": "稳健理财1号", "product_risk": "R3"}), "bench")
        db.session.commit()
        t1 = time.monotonic()
        added = service.add_targets_by_filter(campaign, {}, "bench")
        service.start_campaign(campaign, "bench")
        db.session.commit()
        t_targets = time.monotonic() - t1
        threading.Thread(target=sample_rss, daemon=True).start()
        phases = _time_phases(dispatch)
        statements = _time_statements(db.engine) if args.sql_profile else None
        cpu0 = _cpu_seconds()
        t2 = time.monotonic()
        done = [0]
        last = [t2, 0]

        def on_pass(stats):
            done[0] += stats.sent
            if done[0] and done[0] % 10_000 < stats.sent:
                now = time.monotonic()
                rate = (done[0] - last[1]) / max(now - last[0], 1e-9)
                last[:] = [now, done[0]]
                print(f"  {done[0]:>7} sent  {now - t2:6.1f} s  {rate:5.0f}/s in this stretch  "
                      f"RSS {rss_mb():6.1f} MB  load {os.getloadavg()[0]:.2f}  "
                      f"phases so far: {' '.join(f'{k} {v:.1f} s' for k, v in phases.items())}", flush=True)

        total = dispatch.run_until_idle(campaign.id, on_pass=on_pass)
        print("  progress", service.progress(service.get_campaign(campaign.id))["states"], total, flush=True)
        t_dispatch = time.monotonic() - t2
        cpu = _cpu_seconds() - cpu0
        stop.set()
        db.session.expire_all()
        progress = service.progress(service.get_campaign(campaign.id))
    if own_pg:
        _drop_pg_database(own_pg, app)
    sink.terminate()
    emails = int((sink.communicate(timeout=30)[0] or "0").strip() or 0)
    sms = sum(1 for _ in open(tmp / "sms.jsonl", encoding="utf-8"))
    shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file and the SMS sink's file
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed = t_targets + t_dispatch
    print(f"database           {url.split('://')[0]}  (batch {args.batch_size}, {args.threads} send threads; "
          f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"clients            {args.clients} (inserted in {t_clients:.1f} s, not counted)")
    print(f"targets            {added} added and started in {t_targets:.1f} s")
    print(f"dispatch           {t_dispatch:.1f} s: {total.sent} sent ({sms} SMS to the file sink, {emails} emails "
          f"received by the SMTP sink), {total.failed} failed")
    print(f"messages/s         {total.sent / t_dispatch:.0f}")
    print(f"phases             {' '.join(f'{k} {v:.1f} s' for k, v in phases.items())} (wall clock)")
    if statements:
        for text, (seconds, count) in sorted(statements.items(), key=lambda kv: -kv[1][0])[:12]:
            print(f"  sql {seconds:7.2f} s {count:6d}x  {text}")
    print(f"CPU                {cpu:.1f} s in this process during dispatch = {cpu * 1000 / max(total.sent, 1):.2f} ms "
          f"per message (load-independent; the SMTP sink's process is not counted)")
    print(f"states             {progress['states']}")
    print(f"RSS                start {samples[0] if samples else 0:.0f} MB, end {samples[-1] if samples else 0:.0f} MB, "
          f"peak {peak:.0f} MB (goal < {GOAL_RSS_MB} MB, ratio {peak / GOAL_RSS_MB:.2f})")
    scaled = elapsed * 100_000 / max(args.clients, 1)
    print(f"time vs goal       {elapsed:.1f} s for {args.clients} (≈ {scaled:.0f} s per 100,000); "
          f"goal {GOAL_SECONDS} s, ratio {scaled / GOAL_SECONDS:.2f}")


if __name__ == "__main__":
    main()
