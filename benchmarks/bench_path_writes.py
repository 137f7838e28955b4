"""Benchmark: the client path's two small writes as Core statements against the unit of work.

    .venv/bin/python benchmarks/bench_path_writes.py [--paths 600] [--backends sqlite,postgresql]

The first opening of the form marks the invitation opened, and every identity answer logs an
attempt (app/reviews/service.py: mark_opened, check_identity). Until the nineteenth session both went
through the ORM's unit of work (a changed instance, or a new one, and a flush); now each is one
prebuilt Core statement. The earlier versions are kept below as the baseline.

The machines this project runs on drift by a third within minutes, so two runs one after another
cannot tell 10 % apart. This script interleaves instead: in one process, odd paths run the
baseline and even paths the current code, through Flask's test client (as --inprocess of
bench_client_path.py does), and it prints the median thread CPU of each request kind, for each,
with their ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _client_common import bench_database  # noqa: E402
from bench_client_path import SECRET, prepare, walk_in_process  # noqa: E402


def unit_of_work_versions():
    """mark_opened and check_identity as they were before (the baseline): ORM instances and a flush."""
    from app.db_types import utcnow
    from app.extensions import db
    from app.reviews import service
    from app.reviews.models import IdentityAttempt, InvitationStatus

    def mark_opened(invitation):
        if invitation.status is not InvitationStatus.PENDING:
            return False
        invitation.status = InvitationStatus.OPENED
        invitation.first_opened_at = utcnow()
        db.session.flush()
        return True

    def check_identity(invitation, given, remote_addr):
        ok = service._identity_matches(invitation, invitation.version.definition["identity_check"], given)
        db.session.add(IdentityAttempt(invitation_id=invitation.id, succeeded=ok, remote_addr=remote_addr))
        if ok:
            invitation.identity_failures = 0
        else:
            invitation.identity_failures += 1  # the bench answers right: the lock branch is not reached
        db.session.flush()
        return ok

    return mark_opened, check_identity


def run(backend: str, count: int) -> None:
    """Interleaved paths, baseline and current; print the medians and their ratio."""
    from app import create_app
    from app.extensions import db
    from app.reviews import service

    current = service.mark_opened, service.check_identity
    versions = {"unit of work": unit_of_work_versions(), "Core": current}
    with bench_database(backend) as (url, _tmp):
        paths = prepare(url, count + 20)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": [SECRET], "RATELIMIT_ENABLED": False})
        cpu = {name: defaultdict(list) for name in versions}
        try:
            for n, path in enumerate(paths):
                name = "unit of work" if n % 2 else "Core"
                service.mark_opened, service.check_identity = versions[name]
                client = app.test_client()

                def call(kind, method, url, expected, data=None):
                    before = time.thread_time()
                    resp = client.open(url, method=method, data=data)
                    if n >= 20:  # after the warm-up
                        cpu[name][kind].append(time.thread_time() - before)
                    assert resp.status_code == expected, (kind, resp.status_code)
                    return resp.get_data(as_text=True)

                walk_in_process(call, path)
        finally:
            service.mark_opened, service.check_identity = current
            with app.app_context():
                db.engine.dispose()
    print(f"\n== {backend}: {count} paths, interleaved, median thread CPU in ms ==")
    print(f"    {'request':<24}{'unit of work':>14}{'Core':>8}{'ratio':>8}")
    for kind in sorted(cpu["Core"]):
        old, new = (statistics.median(cpu[name][kind]) * 1000 for name in ("unit of work", "Core"))
        print(f"    {kind:<24}{old:>14.2f}{new:>8.2f}{new / old:>8.2f}")
    old, new = (statistics.median([sum(steps) for steps in zip(*cpu[name].values())]) * 1000
                for name in ("unit of work", "Core"))
    print(f"    {'whole path':<24}{old:>14.2f}{new:>8.2f}{new / old:>8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=600, help="paths in all, half each way (after a warm-up)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run(backend, args.paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
