"""Benchmark: how long the staff sign-in takes to refuse, by reason, with the production argon2 cost.

    .venv/bin/python benchmarks/bench_sign_in.py [--tries 15]

The sign-in page answers every refusal alike (app/auth/service.sign_in), and each is checked
against an argon2id hash, the account's or a dummy one, so that its timing does not tell an
unknown username from a known one either. This prints the median and the spread of the server's
time per POST /login (in process, SQLite in a temporary folder, argon2-cffi's default cost of 3
passes over 64 MiB) for a right password (of an account without an authenticator app, and of one
with an app, whose answer asks for the code), a wrong one, an unknown username, a locked account
and a deactivated one, and each refusal's median as a ratio of the wrong password's. Last, what
opening the authenticator key sealed under SECRET_KEYS adds to the code step (during a rotation,
when the newest key is tried first and fails), against the wrong password's median.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import timeit
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.auth.models import Role, StaffUser  # noqa: E402
from app.auth.service import create_staff  # noqa: E402
from app.auth.two_factor import new_secret, seal, unseal  # noqa: E402
from app.db_types import utcnow  # noqa: E402
from app.extensions import db  # noqa: E402
from app.schema import create_schema  # noqa: E402

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


def timed_posts(app, username: str, password: str, tries: int) -> list[float]:
    """Milliseconds per POST /login, each from a new browser."""
    times = []
    for _ in range(tries):
        with app.test_client() as browser:
            token = CSRF.search(browser.get("/login").get_data(as_text=True)).group(1)
            start = time.perf_counter()
            browser.post("/login", data={"username": username, "password": password, "csrf_token": token})
            times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    """Create the accounts, time each kind of answer, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db", "SECRET_KEYS": ["bench"],
                          "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": True})
        with app.app_context():
            create_schema()
            for name in ("known", "locked", "gone", "twostep"):
                create_staff(name, name, Role.REVIEW_MANAGER, password=PASSWORD)
            db.session.commit()
            app.config["STAFF_LOCKOUT_TRIES"] = 10 ** 9  # the wrong-password series must not lock "known"
            cases = {"right password": ("known", PASSWORD), "right, code next": ("twostep", PASSWORD),
                     "wrong password": ("known", "wrong " + PASSWORD),
                     "unknown username": ("nobody", PASSWORD), "locked account": ("locked", PASSWORD),
                     "deactivated account": ("gone", PASSWORD)}
            db.session.execute(sa.update(StaffUser).where(StaffUser.username == "locked")
                               .values(locked_until=utcnow() + timedelta(days=1)))
            db.session.execute(sa.update(StaffUser).where(StaffUser.username == "gone").values(active=False))
            db.session.execute(sa.update(StaffUser).where(StaffUser.username == "twostep")
                               .values(totp_secret_sealed=seal(new_secret()), totp_enabled_at=utcnow()))
            db.session.commit()
        medians = {}
        print(f"{'answer':<22}{'median ms':>10}{'min':>8}{'max':>8}")
        for label, (username, password) in cases.items():
            times = timed_posts(app, username, password, args.tries)
            medians[label] = statistics.median(times)
            print(f"{label:<22}{medians[label]:>10.1f}{min(times):>8.1f}{max(times):>8.1f}")
        for label in ("unknown username", "locked account", "deactivated account"):
            print(f"ratio {label} / wrong password: {medians[label] / medians['wrong password']:.2f}")
        with app.app_context():
            sealed = seal(new_secret())
            # A rotation under way, the slowest case: the newest key is tried first and fails.
            app.config["SECRET_KEYS"] = [*app.config["SECRET_KEYS"], "the-newest-key"]
            opening = min(timeit.repeat(lambda: unseal(sealed), number=1000, repeat=5))  # seconds per 1,000
        print(f"opening a sealed key: {opening:.3f} ms; ratio to the wrong password: "
              f"{opening / medians['wrong password']:.5f}")


if __name__ == "__main__":
    main()
