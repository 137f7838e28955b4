"""Fixtures of the audit tests."""
import pytest
import sqlalchemy as sa

from app.audit.service import record
from app.extensions import db
from tests.audit.tampering import tamper_audit_log
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
    return tamper_audit_log
