"""Benchmark: the audit chain's walk (7.5.1) over a firm's log, whole and past an accepted break.

Every backup, `flask audit verify` and the audit page's check recompute the chain from its first
entry. For each backend it writes N entries the way the app does (`audit.record`, a commit every
5,000), times `walk_chain()` on the whole chain (the baseline), then changes one entry in the middle
as a tamperer past the guards would, accepts that break as an auditor does (`accept_break`) and
times the walk again: the ratio says what going past an accepted break costs (about 1: nothing).

Usage: .venv/bin/python benchmarks/bench_audit_walk.py [--entries 100000] [--calls 3]
       [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _client_common import bench_database  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402


def fill(entries: int) -> float:
    """`entries` audit entries written as the app writes them; returns the seconds it took."""
    from app.audit.service import record

    started = time.perf_counter()
    for n in range(entries):
        record("staff:reviewer", "invitation.create", "invitation", n, {"n": n, "名字": "测试"}, "10.0.0.1")
        if n % 5000 == 4999:
            db.session.commit()
    db.session.commit()
    return time.perf_counter() - started


def break_and_accept(seq: int) -> None:
    """Change entry `seq` past the append-only guards, then accept the break the walk finds."""
    from app.audit.service import accept_break, walk_chain
    from tests.audit.tampering import tamper_audit_log  # the tests' tamperer, not a second one

    tamper_audit_log("UPDATE audit_log SET actor = 'x' WHERE seq = :s", s=seq)
    found = walk_chain().broken
    assert found is not None and found.seq == seq, found
    accept_break("bench", found.seq, found.fingerprint, "BENCH-1", "a benchmark's change")
    db.session.commit()


def time_walks(calls: int) -> tuple[list[float], object]:
    """Seconds per walk (sorted), each in a fresh session; the last walk."""
    from app.audit.service import walk_chain

    spent, walk = [], None
    for _ in range(calls):
        db.session.remove()
        started = time.perf_counter()
        walk = walk_chain()
        spent.append(time.perf_counter() - started)
    db.session.remove()
    return sorted(spent), walk


def bench(backend: str, entries: int, calls: int) -> None:
    """Fill, walk the whole chain, break and accept one entry, walk again; print both and the ratio."""
    with bench_database(backend) as (url, tmp):
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": ["bench"], "BACKUP_DIR": str(tmp / "b")})
        with app.app_context():
            from app.schema import create_schema

            create_schema()
            filled_in = fill(entries)
            whole, walk = time_walks(calls)
            assert walk.broken is None and walk.checked == entries
            break_and_accept(entries // 2)
            past, walk = time_walks(calls)
            assert walk.broken is None and walk.accepted == (entries // 2,)
            db.engine.dispose()
    base = statistics.median(whole)
    print(f"\n== {backend}: {entries:,} entries written in {filled_in:.1f} s; {calls} walks each ==")
    print(f"    whole chain                    {', '.join(f'{s:.2f}' for s in whole)} s  (median {base:.2f})")
    print(f"    past one accepted break        {', '.join(f'{s:.2f}' for s in past)} s  "
          f"(median {statistics.median(past):.2f})")
    print(f"    ratio past / whole (median): {statistics.median(past) / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        bench(backend, args.entries, args.calls)


if __name__ == "__main__":
    main()
