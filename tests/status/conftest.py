"""Fixtures of the status tests: a backup made and checked, the worker's run, real SMTP."""
from datetime import timedelta

import pytest

from app.backup.service import check_backup, create_backup
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from tests.audit.conftest import chain, tamper  # noqa: F401  (ten audit entries; SQL past the guards)
from tests.campaigns.conftest import smtp_server  # noqa: F401  (aiosmtpd on loopback)


@pytest.fixture
def backed_up(app):
    """Make a backup (checked unless told not to); returns it."""

    def make(check: bool = True):
        backup = create_backup("test")
        db.session.commit()
        if check:
            check_backup(backup.path, "test")
            db.session.commit()
        return backup

    return make


@pytest.fixture
def worker_ran(app):
    """Let the worker finish one job now (what its minute sweeps do)."""

    def run(at=None):
        jobs.enqueue("jobs.purge", {}, run_at=at)
        db.session.commit()
        assert jobs.run_due_jobs(now=at) == 1

    return run


@pytest.fixture
def healthy(backed_up, worker_ran):
    """A checked backup and a running worker: nothing needs doing."""
    backed_up()
    worker_ran()


@pytest.fixture
def healthy_later(backed_up, worker_ran):
    """Make everything fine `minutes` from now (a checked backup, once; the worker's run then); returns that moment."""
    made = []

    def make(minutes: int = 1):
        if not made:
            made.append(backed_up())
        at = utcnow() + timedelta(minutes=minutes)
        worker_ran(at)
        return at

    return make
