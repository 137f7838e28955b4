"""Fixtures of the audit tests."""
import pytest
import sqlalchemy as sa

from app.audit.service import record
from app.extensions import db
from tests.console.conftest import post, sign_in  # noqa: F401  (shared console helpers)


@pytest.fixture
def runner(app):
    """Flask's CLI runner for this app."""
    return app.test_cli_runner()


@pytest.fixture
def chain(app):
    """Ten audit entries written the normal way; returns their ids by seq."""
    for n in range(10):
        record(f"staff:user{n % 3}", "test.action", "thing", n, {"n": n, "名字": "测试"}, "10.0.0.%d" % n)
    db.session.commit()
    return dict(db.session.execute(sa.text("SELECT seq, id FROM audit_log ORDER BY seq")).all())


@pytest.fixture
def tamper(app):
    """Run SQL as a tamperer with database rights: the append-only triggers are bypassed first."""

    def run(sql: str, **params):
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
                conn.execute(sa.text(sql), params)
                conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
            else:
                conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_update"))
                conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
                conn.execute(sa.text(sql), params)
        db.session.expire_all()

    return run
