"""Models of the mandatory area: a gate session a business system opens for one client."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.api.models import ApiKey
from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db
from app.reviews.models import Invitation


class SessionStatus(enum.Enum):
    """Lifecycle: pending → completed | exception | expired | cancelled (all final)."""

    PENDING = "pending"
    COMPLETED = "completed"  # answered, no flagged answer: the business flow may continue
    EXCEPTION = "exception"  # answered with at least one flagged answer: stays blocked, staff follow up (8.4)
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not SessionStatus.PENDING


class MandatorySession(db.Model):
    """A mandatory questionnaire step in a business flow (5.2.3), backed by one invitation."""

    __tablename__ = "mandatory_sessions"
    __table_args__ = (
        sa.UniqueConstraint("api_key_id", "idempotency_key", name="uq_mandatory_sessions_key_idempotency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # "ms_…", what the API and links show
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), index=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id"), unique=True)
    business_ref: Mapped[Optional[str]] = mapped_column(sa.String(128))  # the caller's own reference
    status: Mapped[SessionStatus] = mapped_column(str_enum(SessionStatus, 16), default=SessionStatus.PENDING, index=True)
    callback_url: Mapped[Optional[str]] = mapped_column(sa.String(2000))
    return_url: Mapped[Optional[str]] = mapped_column(sa.String(2000))
    # Idempotency-Key header and the SHA-256 of the request body it came with (409 on a different body).
    idempotency_key: Mapped[Optional[str]] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    # key:client:questionnaire:business_ref while pending, NULL after: at most one pending session
    # per client, questionnaire and business_ref, enforced by the database even under races.
    pending_key: Mapped[Optional[str]] = mapped_column(sa.String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    response_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("responses.id"))

    api_key: Mapped[ApiKey] = relationship()
    invitation: Mapped[Invitation] = relationship()
