"""Row locks that work on PostgreSQL and SQLite alike."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db


def lock_for_update(model, row_id: int):
    """Lock one row for the rest of the transaction and return it freshly read.

    PostgreSQL takes a row lock with SELECT … FOR UPDATE. SQLite ignores FOR UPDATE, so we write
    the row instead: that takes the database's single write lock (waiting for the busy timeout),
    and its RETURNING reads the row as the previous writer committed it — one statement
    (docs/perf-client.md).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        return db.session.scalars(
            sa.update(model).where(model.id == row_id).values(id=model.id).returning(model),
            execution_options={"populate_existing": True, "synchronize_session": False},
        ).one_or_none()
    return db.session.scalars(
        sa.select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
