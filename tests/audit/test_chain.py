"""The tamper-evident audit log (7.5.1): rows changed directly in the database are found by `flask audit verify`."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db


def verify(runner):
    return runner.invoke(args=["audit", "verify"])


def test_intact_chain_verifies(runner, chain):
    result = verify(runner)
    assert result.exit_code == 0 and "intact: 10 entries" in result.output


@pytest.mark.parametrize("sql", [
    "UPDATE audit_log SET actor = 'staff:someone_else' WHERE seq = 4",
    "UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 4",
    "UPDATE audit_log SET remote_addr = '203.0.113.9' WHERE seq = 4",
    "UPDATE audit_log SET object_id = '77' WHERE seq = 4",
])
def test_changed_row_is_named(runner, chain, tamper, sql):
    tamper(sql)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"seq=4 (id={chain[4]})" in result.output and "content does not match" in result.output
    assert "3 entries before it are intact" in result.output


def test_changed_time_is_named(runner, chain, tamper):
    tamper("UPDATE audit_log SET occurred_at = :t WHERE seq = 6", t="2020-01-01 00:00:00")
    assert f"seq=6 (id={chain[6]})" in verify(runner).output


def test_rewritten_row_with_a_recomputed_hash_breaks_the_next_link(runner, chain, tamper):
    # A tamperer who also recomputes the row's own hash is caught by the next entry's prev_hash.
    from app.audit.models import AuditEntry
    from app.audit.service import entry_digest

    e = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq == 4)).one()
    forged = entry_digest(e.prev_hash, e.seq, e.occurred_at, "x", e.action, e.object_type, e.object_id,
                          e.details, e.remote_addr)
    tamper("UPDATE audit_log SET actor = 'x', entry_hash = :h WHERE seq = 4", h=forged)
    result = verify(runner)
    assert result.exit_code == 1 and f"seq=5 (id={chain[5]})" in result.output
    assert "previous hash does not match" in result.output


def test_deleted_row_is_named(runner, chain, tamper):
    tamper("DELETE FROM audit_log WHERE seq = 7")
    result = verify(runner)
    assert result.exit_code == 1 and "seq=7" in result.output and "missing" in result.output


def test_deleted_last_rows_are_found_through_the_chain_head(runner, chain, tamper):
    tamper("DELETE FROM audit_log WHERE seq >= 9")
    result = verify(runner)
    assert result.exit_code == 1 and "seq=9" in result.output and "removed" in result.output


def test_the_database_refuses_changes_without_bypassing_the_guards(app, chain):
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_log SET actor = 'x' WHERE seq = 1"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 1"))
