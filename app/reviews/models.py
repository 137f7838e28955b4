"""Invitations to answer a questionnaire, the responses, and what follows from them."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clients.models import Client
from app.db_types import JSONType, UTCDateTime, str_enum, utcnow
from app.definitions.models import QuestionnaireVersion, ReviewType
from app.extensions import db


class Channel(enum.Enum):
    """How the questionnaire reached the client (5.2.3 questionnaire channels)."""

    LINK = "link"
    SMS = "sms"
    EMAIL = "email"
    APP = "app"
    LETTER = "letter"


class InvitationStatus(enum.Enum):
    """Lifecycle of an invitation; expiry is read from expires_at (see Invitation.effective_status)."""

    PENDING = "pending"  # created, never opened
    OPENED = "opened"  # the client opened the link at least once
    COMPLETED = "completed"  # a response is stored; the link shows the receipt from now on
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # set by a sweep; until then effective_status derives it


class Invitation(db.Model):
    """One client asked to answer one pinned questionnaire version through one signed link."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Opaque random id: the only thing a signed link carries (no personal data).
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # Short code for SMS links (/s/<code>); as unguessable as the public id is needed to be.
    short_code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), index=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("questionnaire_versions.id"), index=True)
    review_type: Mapped[ReviewType] = mapped_column(str_enum(ReviewType))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    context: Mapped[dict] = mapped_column(JSONType, default=dict)  # placeholder values
    status: Mapped[InvitationStatus] = mapped_column(
        str_enum(InvitationStatus, 16), default=InvitationStatus.PENDING, index=True
    )
    # The link opens only from this moment, e.g. after a private fund's cooling-off period (5.1.6 d).
    opens_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    first_opened_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    identity_failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Answers given so far, kept so a client can come back before submitting.
    draft_answers: Mapped[Optional[dict]] = mapped_column(JSONType)
    draft_saved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    version: Mapped[QuestionnaireVersion] = relationship()
    response: Mapped[Optional["Response"]] = relationship(back_populates="invitation", uselist=False)

    def effective_status(self, now: datetime) -> InvitationStatus:
        """The status as the client meets it now: an open invitation past its deadline is expired."""
        if self.status in (InvitationStatus.PENDING, InvitationStatus.OPENED) and now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return self.status

    def is_locked(self, now: datetime) -> bool:
        """True while too many wrong identity answers keep the invitation closed."""
        return self.locked_until is not None and now < self.locked_until


class IdentityAttempt(db.Model):
    """Every identity check try, right or wrong, is logged."""

    __tablename__ = "identity_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded: Mapped[bool]
    remote_addr: Mapped[Optional[str]] = mapped_column(sa.String(64))


class Response(db.Model):
    """The client's answers, stored against the exact version shown."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: two tabs or a replayed POST can store only one response per invitation.
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id"), unique=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("questionnaire_versions.id"), index=True)
    version_hash: Mapped[str] = mapped_column(sa.String(71))
    answers: Mapped[dict] = mapped_column(JSONType)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    lang: Mapped[str] = mapped_column(sa.String(8))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    receipt_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    flagged: Mapped[bool] = mapped_column(default=False)
    # Set when staff keyed in a paper questionnaire; None when the client answered online.
    entered_by: Mapped[Optional[str]] = mapped_column(sa.String(100))

    invitation: Mapped[Invitation] = relationship(back_populates="response")
    version: Mapped[QuestionnaireVersion] = relationship()


class CompletionStatus(enum.Enum):
    """Registered completion states (8.2.3; wording of Appendix F)."""

    REVIEWED = "reviewed"  # 已完成：已回访
    REFUSED = "refused"  # 已完成：拒绝回访
    UNREACHABLE = "unreachable"  # 已完成：无法接通
    EMPTY_NUMBER = "empty_number"  # 已完成：空号
    WRONG_NUMBER = "wrong_number"  # 已完成：错号
    UNANSWERED = "unanswered"  # 已完成：逾期未答 (questionnaire not answered by the deadline)


class ReviewRegistration(db.Model):
    """The review register (8.2.3): client, review type, method, completion status."""

    __tablename__ = "review_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), index=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id"), unique=True)
    response_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("responses.id"))
    review_type: Mapped[ReviewType] = mapped_column(str_enum(ReviewType))
    method: Mapped[str] = mapped_column(sa.String(32), default="questionnaire")  # 5.2.3
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    completion_status: Mapped[CompletionStatus] = mapped_column(str_enum(CompletionStatus))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[Client] = relationship()


class Severity(enum.Enum):
    """How serious a flagged answer is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ExceptionStatus(enum.Enum):
    """Follow-up of a flagged answer (8.4)."""

    OPEN = "open"
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    CLOSED = "closed"


class ReviewException(db.Model):
    """A flagged answer that may reveal a violation, to be followed up (8.4)."""

    __tablename__ = "review_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(sa.ForeignKey("responses.id"), index=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), index=True)
    question_id: Mapped[str] = mapped_column(sa.String(64))
    answer: Mapped[object] = mapped_column(JSONType)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 8))
    label_zh: Mapped[str] = mapped_column(sa.String(300))
    label_en: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[ExceptionStatus] = mapped_column(
        str_enum(ExceptionStatus, 16), default=ExceptionStatus.OPEN, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    response: Mapped[Response] = relationship()
    client: Mapped[Client] = relationship()

    @property
    def label(self) -> dict[str, str]:
        """The flag's label in both languages, as the API and the callbacks carry it."""
        return {"zh-CN": self.label_zh, "en": self.label_en}
