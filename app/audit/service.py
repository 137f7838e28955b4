"""Writing and verifying the hash-chained audit log."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
from app.db_types import utcnow
from app.extensions import db
from app.locking import lock_for_update


def entry_digest(prev_hash: str, seq: int, occurred_at: datetime, actor: str, action: str,
                 object_type: str, object_id: Optional[str], details: dict,
                 remote_addr: Optional[str]) -> str:
    """SHA-256 over the previous hash and every field of the entry, canonically encoded."""
    payload = json.dumps(
        {
            "prev": prev_hash,
            "seq": seq,
            "at": occurred_at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "details": details,
            "remote_addr": remote_addr,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _ensure_head() -> None:
    """Create the chain head row if missing; concurrent first writers must not collide."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(
        insert(AuditChainHead).values(id=1, last_seq=0, last_hash=GENESIS_HASH).on_conflict_do_nothing()
    )


def _advance_head() -> tuple[int, str]:
    """Take the next sequence number and the previous hash in one locking statement.

    The UPDATE takes the row lock (PostgreSQL) or the database's write lock (SQLite) and holds it
    to the end of the transaction, so concurrent writers append one after another.
    """
    step = (
        sa.update(AuditChainHead).where(AuditChainHead.id == 1)
        .values(last_seq=AuditChainHead.last_seq + 1)
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    )
    row = db.session.execute(step).one_or_none()
    if row is None:
        _ensure_head()
        row = db.session.execute(step).one()
    return row.last_seq, row.last_hash


def lock_chain() -> None:
    """Hold the audit chain's head to the end of the transaction: every audited writer waits for it.

    For a check-then-record that must not run twice at once (app.status.alerts): what is recorded
    under the lock is seen by the next holder.
    """
    _ensure_head()
    lock_for_update(AuditChainHead, 1)


def record(actor: str, action: str, object_type: str, object_id: object = None,
           details: Optional[dict] = None, remote_addr: Optional[str] = None) -> int:
    """Append one entry to the audit log in the current transaction (flushes, never commits).

    Returns the entry's place in the chain (seq).
    """
    details = json.loads(json.dumps(details or {}, default=str))  # stored exactly as hashed
    seq, prev_hash = _advance_head()
    occurred_at = utcnow()
    oid = None if object_id is None else str(object_id)
    digest = entry_digest(prev_hash, seq, occurred_at, actor, action, object_type, oid,
                          details, remote_addr)
    # Core statements, not the unit of work: nobody reads the entry back in the transaction, and
    # every audited write pays for this (docs/perf-client.md, fifth round).
    entry = sa.insert(AuditEntry.__table__).values(
        seq=seq, occurred_at=occurred_at, actor=actor, action=action, object_type=object_type,
        object_id=oid, details=details, remote_addr=remote_addr, prev_hash=prev_hash, entry_hash=digest)
    head = sa.update(AuditChainHead.__table__).where(AuditChainHead.id == 1)
    if db.session.get_bind().dialect.name == "postgresql":
        # One round trip for both writes: the entry goes in through a data-modifying CTE, which
        # PostgreSQL runs to completion whether or not the UPDATE reads its output.
        written = entry.returning(AuditEntry.__table__.c.entry_hash).cte("written_entry")
        db.session.execute(head.values(last_hash=sa.select(written.c.entry_hash).scalar_subquery()))
    else:
        db.session.execute(entry)
        db.session.execute(head.values(last_hash=digest))
    db.session.flush()  # as before: what the caller added is written with its audit entry
    return seq


@dataclass(frozen=True)
class ChainBreak:
    """The first entry whose stored hashes do not match the recomputed chain."""

    seq: int
    entry_id: int
    reason: str

    @property
    def where(self) -> str:
        """Where the chain broke, in words (a backup's manifest and `audit.verify` entries keep it so)."""
        return f"entry seq={self.seq}: {self.reason}"


# The columns verify_chain reads, in the order it unpacks them.
_CHAIN_COLUMNS = ("id", "seq", "occurred_at", "actor", "action", "object_type", "object_id", "details",
                  "remote_addr", "prev_hash", "entry_hash")


def _entries_in_order(session: Session, batch: int = 5000) -> Iterator[tuple]:
    # Plain tuples, not ORM objects: verifying reads every entry of 20 years once, and the identity
    # map's bookkeeping and attribute lookups were over half of the time (docs/backups.md).
    table = AuditEntry.__table__
    columns = [table.c[name] for name in _CHAIN_COLUMNS]
    last = 0
    while True:
        rows = session.execute(sa.select(*columns).where(table.c.seq > last).order_by(table.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][1]


def verify_chain(session: Optional[Session] = None) -> tuple[int, Optional[ChainBreak]]:
    """Recompute the chain from the start; return entries checked and the first break, if any.

    session: another database's (a backup being checked); the app's own by default.
    """
    if session is None:
        session = db.session
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry_id, seq, occurred_at, actor, action, object_type, object_id, details, remote_addr, \
            prev_hash, entry_hash in _entries_in_order(session):
        if seq != expected_seq:
            return checked, ChainBreak(expected_seq, entry_id, f"entry {expected_seq} is missing")
        if prev_hash != prev:
            return checked, ChainBreak(seq, entry_id, "previous hash does not match")
        digest = entry_digest(prev, seq, occurred_at, actor, action, object_type, object_id, details, remote_addr)
        if digest != entry_hash:
            return checked, ChainBreak(seq, entry_id, "content does not match its hash")
        prev = entry_hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.last_seq != checked or head.last_hash != prev):
        return checked, ChainBreak(checked + 1, 0, "entries after the last one were removed")
    return checked, None


def record_verification(actor: str, checked: int, broken: Optional[ChainBreak], remote_addr: Optional[str] = None) -> None:
    """Audit a walk of the chain and what it found (the status page reads the newest); flushes."""
    record(actor, "audit.verify", "audit_log", None,
           {"checked": checked, "broken_seq": broken.seq if broken else None,
            "where": broken.where if broken else None}, remote_addr)
