"""Row locks that work on PostgreSQL and SQLite alike."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db

_LOCKED_ROWS = "huifang.locked_rows"  # session.info: (transaction, {(model, id)}) read FOR UPDATE


def remember_locked(instance) -> None:
    """Note that `instance`'s row was read with FOR UPDATE in the session's current transaction.

    A later lock_for_update of the same row in the same transaction then reads nothing again: the
    row lock is already held and the instance is as the lock read it. A commit or rollback starts
    another transaction, which the note does not match.
    """
    session = db.session()
    transaction, rows = session.info.get(_LOCKED_ROWS, (None, set()))
    current = session.get_transaction()
    if transaction is not current:
        rows = set()
    rows.add((type(instance), instance.id))
    session.info[_LOCKED_ROWS] = (current, rows)


def _locked_already(model, row_id: int) -> bool:
    session = db.session()
    transaction, rows = session.info.get(_LOCKED_ROWS, (None, ()))
    return transaction is not None and transaction is session.get_transaction() and (model, row_id) in rows


def lock_for_update(model, row_id: int):
    """Lock one row for the rest of the transaction and return it freshly read.

    PostgreSQL takes a row lock with SELECT … FOR UPDATE, unless this transaction read the row
    with FOR UPDATE already (remember_locked). SQLite ignores FOR UPDATE, so we write the row
    instead: that takes the database's single write lock (waiting for the busy timeout), and its
    RETURNING reads the row as the previous writer committed it — one statement
    (docs/perf-client.md).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        return db.session.scalars(
            sa.update(model).where(model.id == row_id).values(id=model.id).returning(model),
            execution_options={"populate_existing": True, "synchronize_session": False},
        ).one_or_none()
    if _locked_already(model, row_id):
        return db.session.get(model, row_id)
    return db.session.scalars(
        sa.select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
