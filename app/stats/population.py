"""Which invitations a statistic counts, and the two seams other areas plug into.

Seams (the campaigns area registers its functions at import time of its routes module):

- ``register_campaign_source(fn)``: ``fn(campaign_id: int) -> sa.Select`` returning ONE column of
  invitation ids that belong to the campaign. Statistics filter with ``Invitation.id IN (that)``,
  so the whole computation stays one SQL statement. ``fn`` may raise LookupError for an unknown
  campaign. ``register_campaign_names(fn)`` optionally gives ``fn(campaign_id) -> str | None``.
- ``register_reached(fn)``: ``fn() -> sa.ColumnElement[bool]`` evaluated per invitation row
  (it may use correlated EXISTS over delivery attempts). Until campaigns provide delivery attempts,
  "reached" means the client opened the invitation or completed it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from app.clients.models import Client
from app.definitions.models import Questionnaire, QuestionnaireVersion, ReviewType
from app.params import row_id
from app.phrases import Phrase, phrase
from app.reviews.models import Channel, Invitation, InvitationStatus

CampaignSource = Callable[[int], sa.Select]
_campaign_source: Optional[CampaignSource] = None
_campaign_name: Optional[Callable[[int], Optional[str]]] = None


def default_reached() -> sa.ColumnElement[bool]:
    """Reached = the client opened the link or answered (until delivery attempts exist)."""
    return sa.or_(Invitation.first_opened_at.is_not(None),
                  Invitation.status.in_([InvitationStatus.OPENED, InvitationStatus.COMPLETED]))


_reached: Callable[[], sa.ColumnElement[bool]] = default_reached


def register_campaign_source(fn: Optional[CampaignSource], names: Optional[Callable[[int], Optional[str]]] = None) -> None:
    """Let statistics filter by campaign (the campaigns area calls this); None unregisters."""
    global _campaign_source, _campaign_name
    _campaign_source, _campaign_name = fn, names


def register_reached(fn: Optional[Callable[[], sa.ColumnElement[bool]]]) -> None:
    """Replace the definition of "reached" (e.g. a delivery attempt succeeded); None restores the default."""
    global _reached
    _reached = fn or default_reached


def reached_clause() -> sa.ColumnElement[bool]:
    """The current definition of "reached", as SQL over Invitation."""
    return _reached()


def campaigns_available() -> bool:
    """True once a campaign source is registered."""
    return _campaign_source is not None


def campaign_name(campaign_id: int) -> Optional[str]:
    """The campaign's name for titles, when known."""
    return _campaign_name(campaign_id) if _campaign_name else None


class FilterError(ValueError):
    """A filter that cannot be applied; names the field (422, nothing computed).

    The message is a phrase (app.phrases): English as text, the reader's language on a console page.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def local_tz() -> ZoneInfo:
    """The firm's time zone: days, months and years of statistics are counted in it."""
    return ZoneInfo(current_app.config.get("STATS_TIMEZONE", "Asia/Shanghai"))


def local_midnight(day: date) -> datetime:
    """The start of a local calendar day, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=local_tz())


@dataclass(frozen=True)
class StatsFilter:
    """What to count: every field optional; dates are local calendar days, both inclusive."""

    campaign_id: Optional[int] = None
    questionnaire: Optional[str] = None  # questionnaire key
    version_id: Optional[int] = None
    review_type: Optional[ReviewType] = None
    channel: Optional[Channel] = None
    branch: Optional[str] = None
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    extra: dict = field(default_factory=dict, compare=False)

    def query_args(self) -> dict:
        """The filter as URL query arguments (for links to exports and reports)."""
        args = {"campaign": self.campaign_id, "questionnaire": self.questionnaire, "version": self.version_id,
                "review_type": self.review_type.value if self.review_type else None,
                "channel": self.channel.value if self.channel else None, "branch": self.branch,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}
        return {k: v for k, v in args.items() if v not in (None, "")}

    def is_empty(self) -> bool:
        """No filter at all: everything is counted."""
        return not self.query_args()


def _int(args, name: str, refusal: Phrase) -> Optional[int]:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return row_id(raw)
    except ValueError:
        raise FilterError(name, refusal) from None


def _date(args, name: str) -> Optional[date]:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(name, phrase("must be a date as YYYY-MM-DD")) from None


def parse_filter(args) -> StatsFilter:
    """Read a StatsFilter from query arguments; FilterError names the bad field."""
    review_type = channel = None
    if args.get("review_type"):
        try:
            review_type = ReviewType(args["review_type"])
        except ValueError:
            raise FilterError("review_type",
                              phrase("unknown review type '%(value)s'", value=args["review_type"])) from None
    if args.get("channel"):
        try:
            channel = Channel(args["channel"])
        except ValueError:
            raise FilterError("channel", phrase("unknown channel '%(value)s'", value=args["channel"])) from None
    date_from, date_to = _date(args, "from"), _date(args, "to")
    if date_from and date_to and date_from > date_to:
        raise FilterError("to", phrase("the period ends (%(end)s) before it starts (%(start)s); swap the dates",
                                       end=date_to.isoformat(), start=date_from.isoformat()))
    campaign_id = _int(args, "campaign", phrase("campaign must be a number"))
    if campaign_id is not None and not campaigns_available():
        raise FilterError("campaign", phrase("campaigns are not available in this installation"))
    branch = (args.get("branch") or "").strip() or None
    if branch and len(branch) > 100:
        raise FilterError("branch", phrase("at most 100 characters"))
    questionnaire = (args.get("questionnaire") or "").strip() or None
    version_id = _int(args, "version", phrase("version must be a number"))
    return StatsFilter(campaign_id=campaign_id, questionnaire=questionnaire, version_id=version_id,
                       review_type=review_type, channel=channel, branch=branch, date_from=date_from, date_to=date_to)


def invitation_conditions(f: StatsFilter) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions over Invitation (and Client for the branch) for the filter."""
    conds: list[sa.ColumnElement[bool]] = [Invitation.status != InvitationStatus.CANCELLED]
    if f.campaign_id is not None:
        try:
            ids = _campaign_source(f.campaign_id)  # type: ignore[misc]
        except LookupError:
            raise FilterError("campaign", phrase("no campaign %(id)d", id=f.campaign_id)) from None
        conds.append(Invitation.id.in_(ids))
    if f.version_id is not None:
        conds.append(Invitation.version_id == f.version_id)
    if f.questionnaire:
        conds.append(Invitation.version_id.in_(
            sa.select(QuestionnaireVersion.id).join(Questionnaire).where(Questionnaire.key == f.questionnaire)))
    if f.review_type is not None:
        conds.append(Invitation.review_type == f.review_type)
    if f.channel is not None:
        conds.append(Invitation.channel == f.channel)
    if f.branch:
        conds.append(Invitation.client_id.in_(sa.select(Client.id).where(Client.branch == f.branch)))
    if f.date_from:
        conds.append(Invitation.created_at >= local_midnight(f.date_from))
    if f.date_to:
        conds.append(Invitation.created_at < local_midnight(f.date_to + timedelta(days=1)))
    return conds
