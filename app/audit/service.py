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
from app.phrases import phrase

# An auditor's acceptance of a break found and investigated: walks go past exactly that break.
BREAK_ACCEPTED = "audit.break_accepted"


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
    # What exactly was found: an acceptance (BREAK_ACCEPTED) names it, so that any further change at
    # the same place is a new break, not the accepted one.
    fingerprint: str = ""

    @property
    def where(self) -> str:
        """Where the chain broke, in words (a backup's manifest and `audit.verify` entries keep it so)."""
        return f"entry seq={self.seq}: {self.reason}"


@dataclass(frozen=True)
class ChainWalk:
    """A walk of the whole chain: entries checked, the first break not accepted, the accepted ones passed."""

    checked: int
    broken: Optional[ChainBreak]
    accepted: tuple[int, ...] = ()  # the seq of each accepted break the walk went past


# The columns walk_chain reads, in the order it unpacks them.
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


def accepted_breaks(session: Session) -> set[tuple[int, str]]:
    """The breaks auditors accepted after investigating them, as (seq, fingerprint): one entry may
    hold two (a changed previous hash, then its content no longer matching its hash)."""
    rows = session.execute(sa.select(AuditEntry.details).where(AuditEntry.action == BREAK_ACCEPTED)).scalars()
    return {(int(details["seq"]), str(details["fingerprint"])) for details in rows}


def _gap(expected_seq: int, found_seq: int, prev: str, prev_hash: str) -> str:
    # Entries expected_seq … found_seq - 1 are gone, between the entry whose hash is prev and the one
    # found, which names the hash of the last one gone. Entries cut from the end look the same once
    # another is written (the acceptance itself is), so both are one fingerprint.
    return f"gap:{expected_seq}-{found_seq}:{prev}->{prev_hash}"


def walk_chain(session: Optional[Session] = None) -> ChainWalk:
    """Recompute the chain from the start, going past the breaks auditors accepted (accept_break),
    stopping at the first other one.

    session: another database's (a backup being checked); the app's own by default.
    """
    if session is None:
        session = db.session
    accepted = accepted_breaks(session)
    passed: list[int] = []

    def acceptable(found: ChainBreak) -> bool:
        if (found.seq, found.fingerprint) in accepted:
            passed.append(found.seq)
            return True
        return False

    prev, expected_seq, checked = GENESIS_HASH, 1, 0
    for entry_id, seq, occurred_at, actor, action, object_type, object_id, details, remote_addr, \
            prev_hash, entry_hash in _entries_in_order(session):
        if seq != expected_seq:
            found = ChainBreak(expected_seq, entry_id, f"entry {expected_seq} is missing",
                               _gap(expected_seq, seq, prev, prev_hash))
            if not acceptable(found):
                return ChainWalk(checked, found, tuple(passed))
            prev, expected_seq = prev_hash, seq
        if prev_hash != prev:
            found = ChainBreak(seq, entry_id, "previous hash does not match", f"prev:{prev}->{prev_hash}")
            if not acceptable(found):
                return ChainWalk(checked, found, tuple(passed))
            prev = prev_hash
        digest = entry_digest(prev, seq, occurred_at, actor, action, object_type, object_id, details, remote_addr)
        if digest != entry_hash:
            found = ChainBreak(seq, entry_id, "content does not match its hash", f"content:{digest}:{entry_hash}")
            if not acceptable(found):
                return ChainWalk(checked, found, tuple(passed))
        prev = entry_hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev):
        found = ChainBreak(expected_seq, 0, "entries after the last one were removed",
                           _gap(expected_seq, head.last_seq + 1, prev, head.last_hash))
        if not acceptable(found):
            return ChainWalk(checked, found, tuple(passed))
    return ChainWalk(checked, None, tuple(passed))


def verify_chain(session: Optional[Session] = None) -> tuple[int, Optional[ChainBreak]]:
    """Recompute the chain from the start; return entries checked and the first break not accepted, if any."""
    walk = walk_chain(session)
    return walk.checked, walk.broken


def record_verification(actor: str, walk: ChainWalk, remote_addr: Optional[str] = None) -> None:
    """Audit a walk of the chain and what it found (the status page reads the newest); flushes."""
    broken = walk.broken
    record(actor, "audit.verify", "audit_log", None,
           {"checked": walk.checked, "broken_seq": broken.seq if broken else None,
            "where": broken.where if broken else None, "accepted": list(walk.accepted)}, remote_addr)


INCIDENT_MAX = 100
NOTE_MAX = 2000


def accept_break(actor: str, seq: int, fingerprint: str, incident: str, note: str,
                 remote_addr: Optional[str] = None) -> ChainBreak:
    """Record an auditor's acceptance of the chain's first break, as shown to them; flushes.

    Only after the incident was investigated (docs/backups.md, emergency procedure): the log is not
    repaired, and from then on walks go past exactly this break and stop at any other, including a
    further change at the same place. Raises InvalidRequest when the break is not (or no longer) the
    one shown, or the incident or note is missing.
    """
    from app.reviews.service import InvalidRequest

    incident, note = (incident or "").strip(), (note or "").strip()
    if not incident or len(incident) > INCIDENT_MAX:
        raise InvalidRequest("incident", phrase("give the incident's reference (1 to %(most)d characters)",
                                                 most=INCIDENT_MAX))
    if not note or len(note) > NOTE_MAX:
        raise InvalidRequest("note", phrase("say what the investigation found (1 to %(most)d characters)", most=NOTE_MAX))
    broken = walk_chain().broken
    if broken is None:
        raise InvalidRequest("seq", phrase("the chain is not broken now: there is nothing to accept"))
    if broken.seq != seq or broken.fingerprint != fingerprint:
        raise InvalidRequest("seq", phrase("the chain's first break is now at %(where)s, not the one shown: "
                                           "verify the chain again and look at it first", where=broken.where))
    record(actor, BREAK_ACCEPTED, "audit_log", seq, {"seq": seq, "fingerprint": broken.fingerprint,
                                                     "reason": broken.reason, "incident": incident, "note": note},
           remote_addr)
    return broken
