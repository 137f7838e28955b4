"""Models of the campaigns area: campaigns, targets, send attempts, opt-outs, client attributes,
the unreached follow-up list and the exchange holidays loaded by admins."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clients.models import Client
from app.db_types import JSONType, UTCDateTime, str_enum, utcnow
from app.definitions.models import QuestionnaireVersion, ReviewType
from app.extensions import db


class CampaignStatus(enum.Enum):
    """Lifecycle: draft → running ⇄ paused → finished (or cancelled)."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class Campaign(db.Model):
    """A review task (回访任务, 8.2.1): who is asked, with which questionnaire, how and by when."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    review_type: Mapped[ReviewType] = mapped_column(str_enum(ReviewType))
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("questionnaire_versions.id"))
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus, 16), default=CampaignStatus.DRAFT, index=True)
    # Ordered fallback of channels, e.g. ["app", "sms", "email", "letter"].
    channel_plan: Mapped[list] = mapped_column(JSONType)
    # Failed sends a channel gets before the next one takes over, e.g. {"sms": 2, "email": 1}.
    attempts_per_channel: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Sends per minute per channel, e.g. {"sms": 600}; absent means no limit.
    rate_limits: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Days after the first send on which a reminder goes out when there is no answer, e.g. [3, 7].
    reminder_days: Mapped[list] = mapped_column(JSONType, default=list)
    quiet_start: Mapped[str] = mapped_column(sa.String(5), default="21:00")  # no SMS/app push from…
    quiet_end: Mapped[str] = mapped_column(sa.String(5), default="08:00")  # …until (client's local time)
    default_timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    window_starts_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # no send before
    window_ends_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # no first send after
    deadline: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # caps every target's deadline
    cooling_off_hours: Mapped[int] = mapped_column(default=24)  # private_fund (5.1.6 d)
    context: Mapped[dict] = mapped_column(JSONType, default=dict)  # placeholder values for all targets
    # Per-campaign message templates; {link}, {deadline}, {firm_name}, {client_name} are filled in.
    sms_text: Mapped[Optional[str]] = mapped_column(sa.String(200))
    email_subject: Mapped[Optional[str]] = mapped_column(sa.String(200))
    email_text: Mapped[Optional[str]] = mapped_column(sa.Text)
    # Sampling parameters and the achieved figures (5.1.4, 5.1.5), see service.draw_sample.
    sampling: Mapped[Optional[dict]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    version: Mapped[QuestionnaireVersion] = relationship()


class TargetState(enum.Enum):
    """Where a target stands; the final states carry the Appendix F wording (see FinalState)."""

    QUEUED = "queued"  # waiting for its first send (or its opening time)
    SENT = "sent"  # at least one message went out; waiting for the answer
    ANSWERED = "answered"
    UNREACHED = "unreached"  # every channel of the plan failed
    UNANSWERED = "unanswered"  # reached, but no answer by the deadline
    EXCLUDED = "excluded"  # do not contact
    CANCELLED = "cancelled"


ACTIVE_STATES = (TargetState.QUEUED, TargetState.SENT)


class FinalState(enum.Enum):
    """Registered final states (已完成 …) with Appendix F's wording, zh and en (see FINAL_WORDING)."""

    REVIEWED = "reviewed"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    EMPTY_NUMBER = "empty_number"
    WRONG_NUMBER = "wrong_number"
    UNANSWERED = "unanswered"
    DO_NOT_CONTACT = "do_not_contact"


# Appendix F: 未完成 (temporary) and 已完成 (final) registration wording.
FINAL_WORDING = {
    FinalState.REVIEWED: ("已完成：已回访", "Completed: reviewed"),
    FinalState.REFUSED: ("已完成：拒绝回访", "Completed: refused"),
    FinalState.UNREACHABLE: ("已完成：无法接通", "Completed: unreachable"),
    FinalState.EMPTY_NUMBER: ("已完成：空号", "Completed: number not in service"),
    FinalState.WRONG_NUMBER: ("已完成：错号", "Completed: wrong number or address"),
    FinalState.UNANSWERED: ("已完成：逾期未答", "Completed: not answered by the deadline"),
    FinalState.DO_NOT_CONTACT: ("已完成：客户要求不再联系", "Completed: client asked not to be contacted"),
}
TEMPORARY_WORDING = {
    "waiting": ("未完成：待答复", "Not completed: awaiting the answer"),
    "refused": ("未完成：拒绝回访", "Not completed: refused"),
    "unreachable": ("未完成：无法接通", "Not completed: unreachable"),
    "empty_number": ("未完成：空号", "Not completed: number not in service"),
    "wrong_number": ("未完成：错号", "Not completed: wrong number or address"),
}


class CampaignTarget(db.Model):
    """One client in one campaign, walking the channel plan until answered or final."""

    __tablename__ = "campaign_targets"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "client_id", name="uq_campaign_targets_client"),
        # The claim walks it per state in (next_action_at, id) order; id makes that order the
        # index's own on PostgreSQL too (SQLite appends the rowid anyway), so no sort is needed.
        sa.Index("ix_campaign_targets_due", "campaign_id", "state", "next_action_at", "id"),
        # progress(): final states counted from the index alone (was a read of every target row).
        sa.Index("ix_campaign_targets_final", "campaign_id", "final_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), index=True)
    invitation_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("invitations.id"), unique=True)
    state: Mapped[TargetState] = mapped_column(str_enum(TargetState, 16), default=TargetState.QUEUED)
    temporary_state: Mapped[Optional[str]] = mapped_column(sa.String(32))  # key of TEMPORARY_WORDING
    final_state: Mapped[Optional[FinalState]] = mapped_column(str_enum(FinalState))
    source: Mapped[str] = mapped_column(sa.String(16))  # filter | csv | api | sample
    stratum: Mapped[Optional[str]] = mapped_column(sa.String(32))  # sampling stratum
    channel_index: Mapped[int] = mapped_column(default=0)  # position in the campaign's plan
    channel_failures: Mapped[int] = mapped_column(default=0)  # failed sends on the current channel
    temporary_retries: Mapped[int] = mapped_column(default=0)  # timeouts/5xx in a row on this channel
    reached_channel: Mapped[Optional[str]] = mapped_column(sa.String(16))  # channel that got through
    event_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # detection / grant / purchase
    start_by: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # abnormal: 2 trading days (7.3.3 b)
    opens_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # private fund cooling-off end
    deadline: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    next_action_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    first_sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    context: Mapped[dict] = mapped_column(JSONType, default=dict)
    mandatory: Mapped[bool] = mapped_column(default=False)  # a business flow waits on this review
    api_key_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("api_keys.id"))
    callback_url: Mapped[Optional[str]] = mapped_column(sa.String(500))
    last_error: Mapped[Optional[str]] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    campaign: Mapped[Campaign] = relationship()
    client: Mapped[Client] = relationship()


class AttemptStatus(enum.Enum):
    """One send's lifecycle; 'sending' is written and committed BEFORE the provider is called."""

    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"  # a receipt confirmed it
    FAILED = "failed"  # a receipt said it did not arrive, or a bounce came back
    INVALID = "invalid"  # flagged, not sent (bad number/address) or the provider said so
    REFUSED = "refused"
    TEMPORARY = "temporary"  # timeout / 5xx; retried with backoff
    SKIPPED = "skipped"  # channel opted out or not available
    UNKNOWN = "unknown"  # left 'sending' by a crash; never re-sent blindly
    HANDED_OFF = "handed_off"  # letter: given to the paper-letters batch


class SendAttempt(db.Model):
    """Every attempt is recorded: channel, time, provider id, outcome."""

    __tablename__ = "campaign_send_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_targets.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(16), default="invitation")  # invitation | reminder
    status: Mapped[AttemptStatus] = mapped_column(str_enum(AttemptStatus, 16), default=AttemptStatus.SENDING)
    # Unique per send; providers that deduplicate on it make a resend after a crash harmless.
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    provider: Mapped[Optional[str]] = mapped_column(sa.String(32))
    provider_id: Mapped[Optional[str]] = mapped_column(sa.String(200), index=True)
    code: Mapped[Optional[str]] = mapped_column(sa.String(100))
    error: Mapped[Optional[str]] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    receipt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_campaign_send_attempts_recent", "campaign_id", "channel", "created_at"),
        # progress() counts attempts per channel and status every 2 s while the console watches a
        # run: from this index alone. Without it every attempt row was read (263 ms at 150,000).
        sa.Index("ix_campaign_send_attempts_progress", "campaign_id", "channel", "status"),
    )


class ContactBlock(db.Model):
    """Do-not-contact (channel NULL) or a channel opt-out for a client."""

    __tablename__ = "campaign_contact_blocks"
    __table_args__ = (sa.UniqueConstraint("client_id", "channel", name="uq_campaign_contact_blocks_channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), index=True)
    channel: Mapped[Optional[str]] = mapped_column(sa.String(16))  # None: do not contact at all
    reason: Mapped[str] = mapped_column(sa.String(300))
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClientAttributes(db.Model):
    """What sampling and delivery need beyond the client record (keyed by client id)."""

    __tablename__ = "campaign_client_attributes"

    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"), primary_key=True)
    as_of: Mapped[date]  # the year-end (or day) these figures describe
    product_client: Mapped[bool] = mapped_column(default=True)  # bought products / took services (5.1.5)
    dormant: Mapped[bool] = mapped_column(default=False)  # 休眠账户 (excluded, 5.1.4)
    suspended: Mapped[bool] = mapped_column(default=False)  # 中止交易账户 (excluded, 5.1.4)
    max_product_risk: Mapped[Optional[str]] = mapped_column(sa.String(2))  # R1..R5 of holdings
    exceeds_tolerance: Mapped[bool] = mapped_column(default=False)  # product risk above tolerance
    timezone: Mapped[Optional[str]] = mapped_column(sa.String(64))  # for quiet hours
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FollowUp(db.Model):
    """The unreached / unanswered list for a phone review (Appendix F)."""

    __tablename__ = "campaign_followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_targets.id"), unique=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("clients.id"))
    final_state: Mapped[FinalState] = mapped_column(str_enum(FinalState))
    reason: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    target: Mapped[CampaignTarget] = relationship()
    client: Mapped[Client] = relationship()


class TradingHoliday(db.Model):
    """Exchange closures loaded by an admin; they replace the shipped file's days for their year."""

    __tablename__ = "trading_holidays"

    day: Mapped[date] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default="official")
    loaded_by: Mapped[str] = mapped_column(sa.String(100))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
