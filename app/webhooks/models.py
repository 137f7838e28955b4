"""Models of the webhooks area: events in the outbox, each delivery attempt, disabled endpoints."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.api.models import ApiKey
from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class EventStatus(enum.Enum):
    """Delivery state of one event."""

    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # a 2xx answer was received
    DEAD = "dead"  # the schedule ran out, or the endpoint answered 410: replay by staff or the API


class WebhookEvent(db.Model):
    """One signed callback, written in the same transaction as what it reports (outbox)."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The webhook-id header: the same on every attempt, so receivers deduplicate by it.
    message_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), index=True)
    event_type: Mapped[str] = mapped_column(sa.String(64), index=True)
    callback_url: Mapped[str] = mapped_column(sa.String(2000))
    # The exact bytes sent on every attempt (the signature covers them).
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[EventStatus] = mapped_column(str_enum(EventStatus, 16), default=EventStatus.PENDING, index=True)
    attempt_count: Mapped[int] = mapped_column(default=0)  # HTTP attempts made in all (recorded below)
    # Attempts in the current round: the position in the retry schedule; a replay starts a new round.
    round_attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_status_code: Mapped[Optional[int]]
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    dead_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    replays: Mapped[int] = mapped_column(default=0)

    api_key: Mapped[ApiKey] = relationship()
    attempts: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="event", order_by="DeliveryAttempt.id", cascade="all, delete-orphan"
    )


class AttemptOutcome(enum.Enum):
    """What one HTTP attempt came to."""

    SUCCESS = "success"  # 2xx
    HTTP_ERROR = "http_error"  # any other status
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"


class DeliveryAttempt(db.Model):
    """One HTTP attempt to deliver an event: shown to staff (status, latency, response code)."""

    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_events.id"), index=True)
    number: Mapped[int]  # 1 for the first attempt of the event, counting across replays
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[AttemptOutcome] = mapped_column(str_enum(AttemptOutcome, 20))
    status_code: Mapped[Optional[int]]
    latency_ms: Mapped[int]
    error: Mapped[Optional[str]] = mapped_column(sa.String(500))
    response_excerpt: Mapped[Optional[str]] = mapped_column(sa.String(500))  # first bytes of the answer
    worker_id: Mapped[Optional[str]] = mapped_column(sa.String(100))

    event: Mapped[WebhookEvent] = relationship(back_populates="attempts")


class DisabledEndpoint(db.Model):
    """A callback URL that answered 410 Gone: no more attempts until it is enabled again."""

    __tablename__ = "webhook_disabled_endpoints"
    __table_args__ = (sa.UniqueConstraint("api_key_id", "url", name="uq_webhook_disabled_endpoints_key_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    disabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(sa.String(300))


class InvitationCallback(db.Model):
    """Where to report an ordinary invitation's outcome (POST /invitations with callback_url)."""

    __tablename__ = "webhook_invitation_callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id"), unique=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), index=True)
    callback_url: Mapped[str] = mapped_column(sa.String(2000))
    # Set once the expiry event is written, so the sweep reports each expiry once.
    expired_reported_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
