"""Clients: only what the reviews need (standard 7.3.5 a: collect the minimum)."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class RiskLevel(enum.Enum):
    """Investor risk tolerance levels C1 (lowest) to C5."""

    C1 = "C1"
    C2 = "C2"
    C3 = "C3"
    C4 = "C4"
    C5 = "C5"


class Client(db.Model):
    """A client of the firm, upserted by account number."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[Optional[str]] = mapped_column(sa.String(20))
    email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    postal_address: Mapped[Optional[str]] = mapped_column(sa.String(300))
    id_last4: Mapped[Optional[str]] = mapped_column(sa.String(4))
    birth_date: Mapped[Optional[date]]
    risk_level: Mapped[Optional[RiskLevel]] = mapped_column(str_enum(RiskLevel, 2))
    servicing_staff_code: Mapped[Optional[str]] = mapped_column(sa.String(32), index=True)
    servicing_staff_name: Mapped[Optional[str]] = mapped_column(sa.String(100))
    branch: Mapped[Optional[str]] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
