"""API keys of the business systems that call /api/v1."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app import sealing
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
    # Standard Webhooks signing secret ("whsec_" + base64 of 24 random bytes). The sender needs it
    # to sign, so it cannot be hashed: it is sealed under SECRET_KEYS (app.sealing), since whoever
    # holds it can forge a completed review's callback. While rotating, the previous secret signs
    # too (two signatures).
    webhook_secret_sealed: Mapped[Optional[str]] = mapped_column(sa.String(255))
    webhook_secret_previous_sealed: Mapped[Optional[str]] = mapped_column(sa.String(255))
    webhook_secret_rotated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The secrets as they are (None when unset or no key opens them); assigning one seals it.
    webhook_secret = sealing.Sealed("webhook_secret_sealed", sealing.WEBHOOK)
    webhook_secret_previous = sealing.Sealed("webhook_secret_previous_sealed", sealing.WEBHOOK)

    @property
    def actor(self) -> str:
        """How this key appears in the audit log."""
        return f"api:{self.name}"
