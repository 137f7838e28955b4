"""SQLite writers queue on a file lock (app/sqlite_writes.py): one at a time, freed at commit or rollback."""
from __future__ import annotations

import os
import threading
import time

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.audit.service import record
from app.extensions import db
from app.sqlite_writes import lock_path
from tests.dbsetup import sqlite_only

pytestmark = sqlite_only("the writer queue is SQLite's")
WAIT = 10  # seconds a thread may take before the test calls it hung


def _audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


def _in_thread(app, work) -> threading.Thread:
    def run():
        with app.app_context():
            try:
                work()
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_lock_file_sits_beside_the_database(app):
    record("test", "thing.write", "thing", "1")
    db.session.commit()
    path = lock_path(db.engine)
    assert path == db.engine.url.database + "-writer.lock"
    assert os.path.exists(path)


@pytest.mark.parametrize("url, expected", [("sqlite://", None), ("sqlite:///:memory:", None),
                                           ("sqlite:////srv/hf.db", "/srv/hf.db-writer.lock")])
def test_lock_path_for_each_kind_of_sqlite_url(url, expected):
    assert lock_path(sa.create_engine(url)) == expected


def test_second_writer_waits_until_the_first_commits(app):
    first_wrote, release_first = threading.Event(), threading.Event()
    order = []

    def first():
        record("test", "first.write", "thing", "1")  # flushed: the write lock is taken
        first_wrote.set()
        release_first.wait(WAIT)
        order.append("first commits")
        db.session.commit()

    def second():
        first_wrote.wait(WAIT)
        record("test", "second.write", "thing", "2")
        order.append("second wrote")
        db.session.commit()

    one = _in_thread(app, first)
    two = _in_thread(app, second)
    first_wrote.wait(WAIT)
    time.sleep(0.3)  # the second writer has had every chance to write
    assert order == []
    release_first.set()
    one.join(WAIT)
    two.join(WAIT)
    assert order == ["first commits", "second wrote"]
    assert _audit_count() == 2


def test_readers_do_not_wait_for_a_writer(app):
    record("test", "before.write", "thing", "0")
    db.session.commit()
    writing, done = threading.Event(), threading.Event()
    counts = []

    def writer():
        record("test", "held.write", "thing", "1")
        writing.set()
        done.wait(WAIT)
        db.session.rollback()

    def reader():
        writing.wait(WAIT)
        counts.append(_audit_count())

    held = _in_thread(app, writer)
    read = _in_thread(app, reader)
    read.join(WAIT)
    assert counts == [1], "the reader should see the committed row without waiting"
    done.set()
    held.join(WAIT)


def test_a_rolled_back_writer_frees_the_lock(app):
    def failing():
        record("test", "doomed.write", "thing", "1")
        db.session.rollback()

    _in_thread(app, failing).join(WAIT)
    finished = _in_thread(app, lambda: (record("test", "next.write", "thing", "2"), db.session.commit()))
    finished.join(WAIT)
    assert not finished.is_alive()
    assert _audit_count() == 1


def test_a_writer_whose_session_is_dropped_mid_transaction_frees_the_lock(app):
    # A request that dies without commit or rollback: the session is removed at teardown.
    _in_thread(app, lambda: record("test", "abandoned.write", "thing", "1")).join(WAIT)
    finished = _in_thread(app, lambda: (record("test", "next.write", "thing", "2"), db.session.commit()))
    finished.join(WAIT)
    assert not finished.is_alive()
    assert _audit_count() == 1


def _lock_is_free(path: str) -> bool:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing the descriptor also lets go of a lock it took
    return True


def test_the_file_lock_is_held_from_the_first_write_to_the_commit(app):
    path = lock_path(db.engine)
    db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    assert _lock_is_free(path), "a read takes no lock"
    record("test", "held.write", "thing", "1")
    assert not _lock_is_free(path)
    db.session.commit()
    assert _lock_is_free(path)
