"""Test databases: each run creates its own and drops it; it never touches one it did not create."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

# CI runs the suite twice: TEST_DATABASE=sqlite (default) and TEST_DATABASE=postgresql.
BACKEND = os.environ.get("TEST_DATABASE", "sqlite")
# The server's maintenance connection, used only to CREATE and DROP the run's own database.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def postgresql_only(why: str) -> pytest.MarkDecorator:
    """Skip on the SQLite run, saying why the behaviour is PostgreSQL's alone."""
    return pytest.mark.skipif(BACKEND != "postgresql", reason=f"PostgreSQL only: {why}")


def sqlite_only(why: str) -> pytest.MarkDecorator:
    """Skip on the PostgreSQL run, saying why the behaviour is SQLite's alone."""
    return pytest.mark.skipif(BACKEND != "sqlite", reason=f"SQLite only: {why}")


class TestDatabase:
    """One database for the whole run, schema built once; reset between tests."""

    def __init__(self) -> None:
        self.backend = BACKEND
        self.tmpdir = Path(tempfile.mkdtemp(prefix="huifang-test-"))
        if self.backend == "postgresql":
            self.name = f"huifang_test_{os.getpid()}_{secrets.token_hex(4)}"
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            admin.dispose()
            self.url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        else:
            self.template = self.tmpdir / "template.db"
            self.url = f"sqlite:///{self.template}"
        self._counter = 0

    def url_for_test(self) -> str:
        """SQLite: a fresh copy of the template file per test (fast, isolated). PostgreSQL: the run's DB."""
        if self.backend == "postgresql":
            return self.url
        self._counter += 1
        path = self.tmpdir / f"t{self._counter}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def reset(self, engine: sa.Engine) -> None:
        """Empty every table after a test (PostgreSQL; SQLite tests get a new file instead)."""
        if self.backend != "postgresql":
            return
        from app.extensions import db

        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))

    def drop(self) -> None:
        """Remove what the run created."""
        if self.backend == "postgresql":
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
