"""Staff accounts and their roles (standard 7.4)."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class Role(enum.Enum):
    """The standard's roles (7.4): who may do what in the console."""

    ADMIN = "admin"
    REVIEW_MANAGER = "review_manager"  # 7.4.1: assigns and monitors review tasks
    QUALITY_INSPECTOR = "quality_inspector"  # 7.4.2: reads everything, records QC findings
    REVIEW_EXECUTOR = "review_executor"  # 7.4.4: carries out reviews, registers results
    AUDITOR = "auditor"  # reads the audit log


class StaffUser(UserMixin, db.Model):
    """A member of staff who logs in to the console."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    # Matches Client.servicing_staff_code: a reviewer never reviews clients he or she serves (6.3).
    staff_code: Mapped[Optional[str]] = mapped_column(sa.String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def has_role(self, *roles: Role) -> bool:
        """True when the user holds one of the roles; admins hold them all."""
        return self.role is Role.ADMIN or self.role in roles
