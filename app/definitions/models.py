"""Questionnaires and their immutable published versions."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import JSONType, UTCDateTime, str_enum, utcnow
from app.extensions import db


class ReviewType(enum.Enum):
    """Review types of the standard (5.1, Appendix A)."""

    NEW_ACCOUNT = "new_account"
    NEW_PERMISSION = "new_permission"
    ABNORMAL = "abnormal"
    SUITABILITY = "suitability"
    BROKER_PRACTICE = "broker_practice"
    PRIVATE_FUND = "private_fund"
    DEPARTING_STAFF = "departing_staff"
    COMPLAINED_STAFF = "complained_staff"
    COMPLAINT_CLOSURE = "complaint_closure"
    OTHER = "other"


class Questionnaire(db.Model):
    """A questionnaire key; its content lives in versions."""

    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    review_type: Mapped[ReviewType] = mapped_column(str_enum(ReviewType))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list["QuestionnaireVersion"]] = relationship(
        back_populates="questionnaire", order_by="QuestionnaireVersion.number"
    )


class QuestionnaireVersion(db.Model):
    """One published, immutable version of a questionnaire; it can be retired, never edited."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (
        sa.UniqueConstraint("questionnaire_id", "number", name="uq_questionnaire_versions_number"),
        sa.UniqueConstraint("questionnaire_id", "content_hash", name="uq_questionnaire_versions_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(sa.ForeignKey("questionnaires.id"))
    number: Mapped[int]
    content_hash: Mapped[str] = mapped_column(sa.String(71))  # "sha256:" + 64 hex
    definition: Mapped[dict] = mapped_column(JSONType)  # normalized definition
    source: Mapped[str] = mapped_column(sa.Text)  # the text as published, for the record
    title_zh: Mapped[str] = mapped_column(sa.String(200))
    title_en: Mapped[str] = mapped_column(sa.String(200))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(sa.String(100))  # "staff:alice" or "api:crm"
    retired_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    retired_by: Mapped[Optional[str]] = mapped_column(sa.String(100))

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="versions")

    @property
    def is_retired(self) -> bool:
        """A retired version is kept for the record but no longer sent or answered."""
        return self.retired_at is not None

    @property
    def label(self) -> str:
        """Short human label, e.g. 'suitability v3'."""
        return f"{self.questionnaire.key} v{self.number}"
