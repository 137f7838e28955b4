"""The audit log is append-only and hash-chained; tampering is found and named."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from app.audit.models import AuditEntry
from app.audit.service import record, verify_chain
from app.extensions import db
from tests.dbsetup import postgresql_only


def write_entries(n: int) -> None:
    for i in range(n):
        record("test", "thing.change", "thing", i, {"n": i})
    db.session.commit()


def test_chain_links_every_entry_to_the_previous_one(app):
    write_entries(3)
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].entry_hash and entries[2].prev_hash == entries[1].entry_hash
    assert verify_chain() == (3, None)


def test_the_chain_head_holds_the_hash_of_the_last_entry(app):
    from app.audit.models import AuditChainHead

    write_entries(2)
    last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    head = db.session.get(AuditChainHead, 1)
    assert (head.last_seq, head.last_hash) == (last.seq, last.entry_hash)


@postgresql_only("the entry and the head's new hash share one statement there")
def test_an_entry_takes_two_statements_on_postgresql(app, count_statements):
    write_entries(1)  # the head row exists
    count_statements.clear()
    record("test", "thing.change", "thing", 9, {"n": 9})
    db.session.commit()
    assert [s.split()[0] for s in count_statements] == ["UPDATE", "WITH"], count_statements
    assert verify_chain() == (2, None)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
])
def test_database_refuses_to_change_the_audit_log(app, statement):
    write_entries(3)
    with pytest.raises(DatabaseError):
        db.session.execute(sa.text(statement))
        db.session.commit()
    db.session.rollback()
    assert verify_chain() == (3, None)


@pytest.mark.parametrize("statement, seq", [
    ("UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 2", 2),
    ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3),
    ("DELETE FROM audit_log WHERE seq = 2", 2),
    ("DELETE FROM audit_log WHERE seq = 4", 4),
])
def test_verify_names_the_first_tampered_entry(app, drop_guards, statement, seq):
    write_entries(4)
    drop_guards()
    db.session.execute(sa.text(statement))
    db.session.commit()
    _checked, broken = verify_chain()
    assert broken is not None and broken.seq == seq


def test_verify_command_fails_naming_the_row(app, drop_guards):
    write_entries(3)
    drop_guards()
    db.session.execute(sa.text("UPDATE audit_log SET action = 'nothing' WHERE seq = 2"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "seq=2" in result.output
