"""API keys of the business systems that call /api/v1."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import JSONType, UTCDateTime, utcnow
from app.extensions import db


class ApiKey(db.Model):
    """One calling system; the key itself is shown once and stored only as a hash."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # First characters of the key, stored in clear to find the row without scanning hashes.
    key_prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    # SHA-256 of the whole key. The key is 256 random bits, so a slow password hash adds nothing
    # against guessing and would cost every API request tens of milliseconds.
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # URL prefixes callbacks may go to, and origins that may frame the gate page (mandatory mode).
    callback_prefixes: Mapped[list] = mapped_column(JSONType, default=list)
    frame_origins: Mapped[list] = mapped_column(JSONType, default=list)
    # Standard Webhooks signing secret ("whsec_" + base64 of 24 random bytes). Kept in clear: the
    # sender needs it to sign. While rotating, the previous secret signs too (two signatures).
    webhook_secret: Mapped[Optional[str]] = mapped_column(sa.String(100))
    webhook_secret_previous: Mapped[Optional[str]] = mapped_column(sa.String(100))
    webhook_secret_rotated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    @property
    def actor(self) -> str:
        """How this key appears in the audit log."""
        return f"api:{self.name}"
