"""Models of the letters area: batches, letters, double entry of returned paper, the archive register."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import JSONType, UTCDateTime, str_enum, utcnow
from app.extensions import db
from app.reviews.models import Invitation


class BatchStatus(enum.Enum):
    """A print batch's life: queued for the worker, rendering, done (or failed with the reason)."""

    QUEUED = "queued"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"


class LetterBatch(db.Model):
    """One print run: PDFs in chunks for the print shop, a manifest CSV and a summary."""

    __tablename__ = "letter_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    selection: Mapped[dict] = mapped_column(JSONType, default=dict)  # how the letters were chosen
    invitation_ids: Mapped[list] = mapped_column(JSONType, default=list)  # fixed when the batch is made
    envelope: Mapped[str] = mapped_column(sa.String(16), default="dl")
    chunk_size: Mapped[int] = mapped_column(default=200)
    status: Mapped[BatchStatus] = mapped_column(str_enum(BatchStatus, 16), default=BatchStatus.QUEUED, index=True)
    total: Mapped[int] = mapped_column(default=0)  # letters to print (invitations selected)
    rendered: Mapped[int] = mapped_column(default=0)  # progress counter, updated while rendering
    printed: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int] = mapped_column(default=0)
    # Invitations not printed, each {invitation_id, client_account, reason} (e.g. no postal address).
    skipped: Mapped[list] = mapped_column(JSONType, default=list)
    files: Mapped[list] = mapped_column(JSONType, default=list)  # chunk file names, in order
    output_dir: Mapped[Optional[str]] = mapped_column(sa.String(500))
    reprint_of_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("letter_batches.id"))
    error: Mapped[Optional[str]] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class LetterStatus(enum.Enum):
    """A letter's life: queued, printed, keyed once, keyed twice with differences, completed, or a duplicate."""

    QUEUED = "queued"  # handed over by the letter channel, waiting for the next batch
    PRINTED = "printed"
    FIRST_ENTRY = "first_entry"  # keyed once, waiting for the second staff member
    DIFFERENCES = "differences"  # both entries differ: to be resolved on the verification screen
    COMPLETED = "completed"  # the answers are stored as the invitation's response (channel letter)
    DUPLICATE = "duplicate"  # the invitation was already answered (online, usually): refused, kept for staff


class Letter(db.Model):
    """The paper side of one invitation; reprints keep the same letter id."""

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Printed on every page (text and code) so returned pages can be matched; no personal data.
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id"), unique=True)
    batch_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("letter_batches.id"), index=True)
    status: Mapped[LetterStatus] = mapped_column(str_enum(LetterStatus, 16), default=LetterStatus.QUEUED, index=True)
    pages: Mapped[Optional[int]]
    file: Mapped[Optional[str]] = mapped_column(sa.String(200))  # chunk file of the last print
    first_page: Mapped[Optional[int]]  # where the letter starts in that file
    print_count: Mapped[int] = mapped_column(default=0)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    printed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    response_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("responses.id"))
    # Why the paper answers were refused as a duplicate (e.g. "answered online on …, receipt …").
    duplicate_note: Mapped[Optional[str]] = mapped_column(sa.String(300))

    invitation: Mapped[Invitation] = relationship()
    batch: Mapped[Optional[LetterBatch]] = relationship()
    entries: Mapped[list["LetterEntry"]] = relationship(back_populates="letter", order_by="LetterEntry.round")


class LetterEntry(db.Model):
    """One keying of a returned questionnaire; round 1 and round 2 are keyed by different staff (double entry)."""

    __tablename__ = "letter_entries"
    __table_args__ = (sa.UniqueConstraint("letter_id", "round", name="uq_letter_entries_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    round: Mapped[int]  # 1 first entry, 2 verifying entry, 3 resolution of the differences
    typed: Mapped[dict] = mapped_column(JSONType)  # what was typed, field by field
    answers: Mapped[dict] = mapped_column(JSONType)  # the clean answers it gives
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    staff_username: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    letter: Mapped[Letter] = relationship(back_populates="entries")


class LetterScan(db.Model):
    """A scan of the returned paper (PDF or image), kept with the review material (8.2.4: 20 years)."""

    __tablename__ = "letter_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveEntry(db.Model):
    """The archive register (8.2.4, Appendix C): one row per completed review, any channel."""

    __tablename__ = "archive_register"

    id: Mapped[int] = mapped_column(primary_key=True)  # 序号
    response_id: Mapped[int] = mapped_column(sa.ForeignKey("responses.id"), unique=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), index=True)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # 归档日期
    client_account: Mapped[str] = mapped_column(sa.String(32), index=True)  # 客户账号
    client_name: Mapped[str] = mapped_column(sa.String(100))  # 客户姓名
    task_name: Mapped[str] = mapped_column(sa.String(300))  # 回访任务名称
    archived_by: Mapped[str] = mapped_column(sa.String(100))  # 归档人姓名
    remarks: Mapped[str] = mapped_column(sa.String(500), default="")  # 备注
    channel: Mapped[str] = mapped_column(sa.String(16), index=True)
    review_type: Mapped[str] = mapped_column(sa.String(32), index=True)
