"""The append-only, hash-chained audit log (standard 7.5.1 system logs)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import JSONType, UTCDateTime, utcnow
from app.extensions import db

GENESIS_HASH = "0" * 64


class AuditEntry(db.Model):
    """Who did what to which object, when and from where; each entry hashes the previous one."""

    __tablename__ = "audit_log"
    # The newest entries of one action (the audit log page's filter, the status page's backups): found
    # in the index in order, instead of reading the log backwards for an action that may never occur.
    __table_args__ = (sa.Index("ix_audit_log_action_seq", "action", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)  # position in the chain, no gaps
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(100), index=True)  # "staff:alice", "api:crm", "client", "system"
    action: Mapped[str] = mapped_column(sa.String(64))  # e.g. "questionnaire.publish"
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    details: Mapped[dict] = mapped_column(JSONType, default=dict)  # never secrets; personal data masked
    remote_addr: Mapped[Optional[str]] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditChainHead(db.Model):
    """One row holding the chain's last hash; locking it orders concurrent writers."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)
