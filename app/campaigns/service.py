"""Campaigns: creating them, adding targets (filter, CSV, API, sample), deadlines by review type
(7.3.3), sampling (5.1.4, 5.1.5), progress, the unreached follow-up list (Appendix F), opt-outs
and exchange holidays. Services flush; the caller commits. The send loop is in dispatch.py."""
from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping, Optional

import sqlalchemy as sa
from flask import current_app

from app.audit.service import record
from app.campaigns.channels import CHANNELS, unknown_placeholders
from app.campaigns.models import (
    ACTIVE_STATES, FINAL_WORDING, TEMPORARY_WORDING, AttemptStatus, Campaign, CampaignStatus, CampaignTarget,
    ClientAttributes, ContactBlock, FinalState, FollowUp, SendAttempt, TargetState, TradingHoliday,
)
from app.clients.models import Client, RiskLevel
from app.db_types import utcnow
from app.definitions.models import ReviewType
from app.extensions import db
from app.inputs import first_nul_line
from app.phrases import phrase
from app.reviews.service import InvalidRequest, resolve_version
from app.reviews.signals import linked_row
from app.clients.service import RowError  # one shape for row errors: line/index, field, reason
from delivery import calendar as cal

DEFAULT_ATTEMPTS = {"app": 1, "sms": 2, "email": 1, "letter": 1}


# ---------------------------------------------------------------- calendar and deadlines

def trading_calendar() -> cal.TradingCalendar:
    """The shipped holiday file, with the years an admin loaded into the database on top."""
    rows = db.session.scalars(sa.select(TradingHoliday)).all()
    loaded: dict[int, cal.HolidayYear] = {}
    for row in rows:
        year = loaded.setdefault(row.year, cal.HolidayYear(row.year, row.status, row.source, {}))
        year.closed[row.day] = row.name
    return cal.TradingCalendar.from_years(cal.shipped_years(), loaded.values())


def load_holidays(text: str, actor: str) -> list[int]:
    """Replace the closed days of every year in a holiday file (JSON, the shipped format)."""
    years = cal.parse_holiday_file(text)
    for year in years:
        db.session.execute(sa.delete(TradingHoliday).where(TradingHoliday.year == year.year))
        for day, name in sorted(year.closed.items()):
            if day.weekday() >= 5:
                continue  # weekends are closed anyway
            db.session.add(TradingHoliday(day=day, year=year.year, name=name[:100], source=year.source[:500],
                                          status=year.status[:16], loaded_by=actor))
    db.session.flush()
    record(actor, "campaigns.holidays_load", "trading_holidays", None,
           {"years": [y.year for y in years], "days": sum(len(y.closed) for y in years)})
    return [y.year for y in years]


def type_deadlines(review_type: ReviewType, *, now: datetime, event_at: Optional[datetime],
                   cooling_off_hours: int, calendar: Optional[cal.TradingCalendar] = None
                   ) -> tuple[Optional[datetime], Optional[datetime], Optional[datetime]]:
    """(start_by, opens_at, deadline) a review type imposes (7.3.3; 'within' includes the day, 9.1).

    abnormal: start within 2 trading days of detection (event_at); new_permission: 30 natural days
    from the grant; suitability and broker_practice: before the calendar year ends; private_fund:
    opens only after the cooling-off period from the purchase (5.1.6 d). Others: no type deadline.
    """
    anchor = event_at or now
    if review_type is ReviewType.ABNORMAL:
        return cal.within_trading_days(calendar or trading_calendar(), anchor, 2), None, None
    if review_type is ReviewType.NEW_PERMISSION:
        return None, None, cal.within_natural_days(anchor, 30)
    if review_type in (ReviewType.SUITABILITY, ReviewType.BROKER_PRACTICE):
        return None, None, cal.end_of_year(now)
    if review_type is ReviewType.PRIVATE_FUND:
        return None, anchor + timedelta(hours=cooling_off_hours), None
    return None, None, None


def target_schedule(campaign: Campaign, event_at: Optional[datetime], now: datetime,
                    calendar: Optional[cal.TradingCalendar] = None) -> dict:
    """start_by, opens_at and deadline of one target: the type's rule, capped by the campaign's deadline."""
    start_by, opens_at, deadline = type_deadlines(campaign.review_type, now=now, event_at=event_at,
                                                  cooling_off_hours=campaign.cooling_off_hours, calendar=calendar)
    if campaign.deadline is not None:
        deadline = min(deadline, campaign.deadline) if deadline else campaign.deadline
    if deadline is None:
        deadline = (opens_at or start_by or now) + timedelta(days=current_app.config["DEFAULT_INVITATION_DAYS"])
    if opens_at is not None and opens_at >= deadline:
        deadline = opens_at + timedelta(days=current_app.config["DEFAULT_INVITATION_DAYS"])
    return {"start_by": start_by, "opens_at": opens_at, "deadline": deadline}


# ---------------------------------------------------------------- campaigns

@dataclass
class CampaignSpec:
    """What staff (console, CLI) or a system (API) give to create a campaign."""

    name: str
    questionnaire_key: str
    version_number: Optional[int] = None
    review_type: Optional[str] = None
    channel_plan: list = field(default_factory=lambda: ["sms", "email"])
    attempts_per_channel: dict = field(default_factory=dict)
    rate_limits: dict = field(default_factory=dict)
    reminder_days: list = field(default_factory=lambda: [3, 7])
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    default_timezone: str = "Asia/Shanghai"
    window_starts_at: Optional[datetime] = None
    window_ends_at: Optional[datetime] = None
    deadline: Optional[datetime] = None
    cooling_off_hours: int = 24
    context: dict = field(default_factory=dict)
    sms_text: Optional[str] = None
    email_subject: Optional[str] = None
    email_text: Optional[str] = None


def _positive_int_map(value, field_name: str) -> dict:
    if not isinstance(value, Mapping):
        raise InvalidRequest(field_name, phrase("must map channels to whole numbers"))
    result = {}
    for channel, number in value.items():
        if channel not in CHANNELS:
            raise InvalidRequest(field_name, phrase("unknown channel '%(channel)s'", channel=channel))
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InvalidRequest(field_name, phrase("%(channel)s: must be a whole number of at least 1",
                                                    channel=channel))
        result[channel] = number
    return result


def validate_spec(spec: CampaignSpec, now: datetime) -> dict:
    """Check every field; InvalidRequest names the first bad one. Returns the model's values."""
    name = (spec.name or "").strip()
    if not name or len(name) > 200:
        raise InvalidRequest("name", phrase("is required (at most 200 characters)"))
    version = resolve_version(spec.questionnaire_key, spec.version_number)
    try:
        review_type = ReviewType(spec.review_type or version.questionnaire.review_type.value)
    except ValueError:
        raise InvalidRequest("review_type", phrase("unknown review type '%(value)s'", value=spec.review_type)) from None
    plan = list(spec.channel_plan or [])
    if not plan:
        raise InvalidRequest("channel_plan", phrase("name at least one channel"))
    for channel in plan:
        if channel not in CHANNELS:
            raise InvalidRequest("channel_plan", phrase("unknown channel '%(channel)s' (one of %(channels)s)",
                                                         channel=channel, channels=", ".join(CHANNELS)))
    if len(set(plan)) != len(plan):
        raise InvalidRequest("channel_plan", phrase("a channel appears twice"))
    attempts = _positive_int_map(spec.attempts_per_channel or {}, "attempts_per_channel")
    rates = _positive_int_map(spec.rate_limits or {}, "rate_limits")
    days = list(spec.reminder_days or [])
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in days) or days != sorted(set(days)):
        raise InvalidRequest("reminder_days", phrase("must be increasing whole numbers of days, e.g. 3, 7"))
    quiet = {}
    for field_name in ("quiet_start", "quiet_end"):
        value = getattr(spec, field_name)
        try:
            quiet[field_name] = cal.parse_hhmm(value, field_name)
        except cal.CalendarError:  # the calendar's own words, as a phrase for the console
            raise InvalidRequest(field_name, phrase("'%(value)s' is not a time as HH:MM", value=value)) from None
    quiet_start, quiet_end = quiet["quiet_start"], quiet["quiet_end"]
    try:
        tz = cal.check_timezone(spec.default_timezone)
    except cal.CalendarError:
        raise InvalidRequest("default_timezone", phrase("unknown time zone '%(name)s'",
                                                        name=spec.default_timezone)) from None
    if spec.window_starts_at and spec.window_ends_at and spec.window_ends_at <= spec.window_starts_at:
        raise InvalidRequest("window_ends_at", phrase("must be after window_starts_at"))
    if spec.window_ends_at and spec.window_ends_at <= now:
        raise InvalidRequest("window_ends_at", phrase("the send window has already ended"))
    if spec.deadline is not None and spec.deadline <= now:
        raise InvalidRequest("deadline", phrase("must be in the future"))
    if isinstance(spec.cooling_off_hours, bool) or not isinstance(spec.cooling_off_hours, int) \
            or not 0 <= spec.cooling_off_hours <= 24 * 30:
        raise InvalidRequest("cooling_off_hours", phrase("must be whole hours between 0 and 720"))
    for field_name in ("sms_text", "email_subject", "email_text"):
        bad = unknown_placeholders(getattr(spec, field_name))
        if bad:
            raise InvalidRequest(field_name, phrase("unknown placeholders: %(names)s",
                                                     names=", ".join("{" + b + "}" for b in bad)))
    for field_name in ("sms_text", "email_subject"):  # String(200) columns: PostgreSQL refuses more
        if len(getattr(spec, field_name) or "") > 200:
            raise InvalidRequest(field_name, phrase("at most 200 characters"))
    if spec.context is not None and not isinstance(spec.context, Mapping):
        raise InvalidRequest("context",
                             phrase("must be an object of placeholder values, e.g. {\"product_name\": \"…\"}"))
    context = dict(spec.context or {})
    if any(not isinstance(v, (str, int, float)) for v in context.values()):
        raise InvalidRequest("context", phrase("context values must be strings or numbers"))
    return dict(
        name=name, review_type=review_type, version=version, channel_plan=plan,
        attempts_per_channel={**{c: DEFAULT_ATTEMPTS[c] for c in plan}, **attempts}, rate_limits=rates,
        reminder_days=days, quiet_start=quiet_start, quiet_end=quiet_end, default_timezone=tz,
        window_starts_at=spec.window_starts_at, window_ends_at=spec.window_ends_at, deadline=spec.deadline,
        cooling_off_hours=spec.cooling_off_hours, context=context, sms_text=spec.sms_text or None,
        email_subject=spec.email_subject or None, email_text=spec.email_text or None,
    )


def create_campaign(spec: CampaignSpec, actor: str, now: Optional[datetime] = None) -> Campaign:
    """A draft campaign (nothing is sent until it is started)."""
    values = validate_spec(spec, now or utcnow())
    campaign = Campaign(**values, created_by=actor)
    db.session.add(campaign)
    db.session.flush()
    record(actor, "campaign.create", "campaign", campaign.id,
           {"name": campaign.name, "type": campaign.review_type.value, "questionnaire": campaign.version.label,
            "plan": campaign.channel_plan})
    return campaign


def get_campaign(campaign_id: int) -> Optional[Campaign]:
    return db.session.get(Campaign, campaign_id)


def list_campaigns(limit: int = 200) -> list[Campaign]:
    return list(db.session.scalars(sa.select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


class CampaignStateError(InvalidRequest):
    """The campaign is not in a state that allows this (409)."""


def start_campaign(campaign: Campaign, actor: str, now: Optional[datetime] = None) -> None:
    """draft → running; refused outside the send window or without targets."""
    now = now or utcnow()
    if campaign.status is not CampaignStatus.DRAFT:
        raise CampaignStateError("status", phrase("the campaign is %(status)s, not draft",
                                                  status=campaign.status.value))
    if campaign.window_ends_at is not None and now >= campaign.window_ends_at:
        raise InvalidRequest("window_ends_at", phrase("the campaign's send window has ended; it cannot start"))
    if campaign.deadline is not None and now >= campaign.deadline:
        raise InvalidRequest("deadline", phrase("the campaign's deadline has passed; it cannot start"))
    count = db.session.scalar(sa.select(sa.func.count()).select_from(CampaignTarget)
                              .where(CampaignTarget.campaign_id == campaign.id))
    if not count:
        raise InvalidRequest("targets", phrase("the campaign has no targets yet"))
    campaign.status = CampaignStatus.RUNNING
    campaign.started_at = now
    first = max(now, campaign.window_starts_at) if campaign.window_starts_at else now
    db.session.execute(sa.update(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign.id, CampaignTarget.state == TargetState.QUEUED,
        CampaignTarget.next_action_at.is_(None)).values(next_action_at=first))
    db.session.flush()
    record(actor, "campaign.start", "campaign", campaign.id, {"targets": count})
    _schedule_dispatch(campaign, first)


def pause_campaign(campaign: Campaign, actor: str) -> None:
    """running → paused: no send starts while paused (a send already under way completes)."""
    if campaign.status is not CampaignStatus.RUNNING:
        raise CampaignStateError("status", phrase("the campaign is %(status)s, not running",
                                                  status=campaign.status.value))
    campaign.status = CampaignStatus.PAUSED
    db.session.flush()
    record(actor, "campaign.pause", "campaign", campaign.id, {})


def resume_campaign(campaign: Campaign, actor: str, now: Optional[datetime] = None) -> None:
    """paused → running; targets due while paused go out now (quiet hours still apply)."""
    if campaign.status is not CampaignStatus.PAUSED:
        raise CampaignStateError("status", phrase("the campaign is %(status)s, not paused",
                                                  status=campaign.status.value))
    campaign.status = CampaignStatus.RUNNING
    db.session.flush()
    record(actor, "campaign.resume", "campaign", campaign.id, {})
    _schedule_dispatch(campaign, now or utcnow())


def cancel_campaign(campaign: Campaign, actor: str, now: Optional[datetime] = None) -> int:
    """Stop for good: open targets are cancelled and their invitations are left to expire."""
    if campaign.status in (CampaignStatus.FINISHED, CampaignStatus.CANCELLED):
        raise CampaignStateError("status", phrase("the campaign is already %(status)s", status=campaign.status.value))
    now = now or utcnow()
    result = db.session.execute(sa.update(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign.id, CampaignTarget.state.in_(ACTIVE_STATES)
    ).values(state=TargetState.CANCELLED, next_action_at=None, finished_at=now))
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = now
    db.session.flush()
    record(actor, "campaign.cancel", "campaign", campaign.id, {"open_targets": result.rowcount})
    return result.rowcount


def _schedule_dispatch(campaign: Campaign, run_at: datetime) -> None:
    """Ask the worker to run the campaign's dispatch (deduplicated per campaign and minute)."""
    from app.campaigns import handlers

    handlers.schedule(campaign.id, run_at)


# ---------------------------------------------------------------- targets

class TargetImportError(ValueError):
    """Some rows are invalid; none was added (the same rule as the client import)."""

    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(f"row {e.row}: {e.field}: {e.message}" for e in errors[:20]))
        self.errors = errors


def _parse_event(value, row: int, errors: list) -> Optional[datetime]:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=cal.EXCHANGE_TZ) \
                .astimezone(timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(RowError(row, "event_at", phrase("must be a date (YYYY-MM-DD) or a time with a zone")))
        return None
    if parsed.tzinfo is None:
        errors.append(RowError(row, "event_at", phrase("give a time zone, e.g. 2026-03-02T10:00:00+08:00")))
        return None
    return parsed


def _check_editable(campaign: Campaign) -> None:
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        raise CampaignStateError("status", phrase("the campaign is %(status)s; targets cannot be added",
                                                   status=campaign.status.value))


def add_target_rows(campaign: Campaign, rows: list[Mapping], actor: str, source: str, first_row: int = 1,
                    api_key=None, now: Optional[datetime] = None) -> int:
    """Add targets from rows {account, event_at?, context?, mandatory?, callback_url?}.

    All rows valid, or none is added; each error names its row, field and reason.
    """
    _check_editable(campaign)
    now = now or utcnow()
    errors: list[RowError] = []
    accounts = [str(r.get("account") or "").strip() for r in rows if isinstance(r, Mapping)]
    clients = {c.account: c for c in db.session.scalars(sa.select(Client).where(Client.account.in_(accounts)))} \
        if accounts else {}
    existing = set(db.session.scalars(sa.select(CampaignTarget.client_id).where(
        CampaignTarget.campaign_id == campaign.id,
        CampaignTarget.client_id.in_([c.id for c in clients.values()])))) if clients else set()
    seen: dict[str, int] = {}
    prepared = []
    calendar = trading_calendar() if campaign.review_type is ReviewType.ABNORMAL else None
    for index, raw in enumerate(rows, start=first_row):
        if not isinstance(raw, Mapping):
            errors.append(RowError(index, "", phrase("each row must be an object")))
            continue
        account = str(raw.get("account") or "").strip()
        before = len(errors)
        if not account:
            errors.append(RowError(index, "account", phrase("is required")))
        elif account not in clients:
            errors.append(RowError(index, "account", phrase("unknown client account '%(account)s'", account=account)))
        elif account in seen:
            errors.append(RowError(index, "account", phrase("duplicate of row %(row)d", row=seen[account])))
        elif clients[account].id in existing:
            errors.append(RowError(index, "account", phrase("already a target of this campaign")))
        seen.setdefault(account, index)
        event_at = _parse_event(raw.get("event_at"), index, errors)
        if campaign.review_type in (ReviewType.ABNORMAL, ReviewType.NEW_PERMISSION, ReviewType.PRIVATE_FUND) \
                and event_at is None and not any(e.row == index and e.field == "event_at" for e in errors):
            errors.append(RowError(index, "event_at", {
                ReviewType.ABNORMAL: phrase("is required for abnormal (the detection time)"),
                ReviewType.NEW_PERMISSION: phrase("is required for new_permission (the grant time)"),
                ReviewType.PRIVATE_FUND: phrase("is required for private_fund (the purchase time)"),
            }[campaign.review_type]))
        context = raw.get("context") or {}
        if not isinstance(context, Mapping) or any(not isinstance(v, (str, int, float)) for v in context.values()):
            errors.append(RowError(index, "context", phrase("must map names to strings or numbers")))
            context = {}
        mandatory = bool(raw.get("mandatory", False))
        callback_url = raw.get("callback_url")
        if callback_url is not None:
            if api_key is None:
                errors.append(RowError(index, "callback_url", phrase("only API callers can give a callback URL")))
            else:
                from app.webhooks.service import CallbackUrlError, check_callback_url

                try:
                    callback_url = check_callback_url(api_key, callback_url)
                except CallbackUrlError as exc:
                    errors.append(RowError(index, "callback_url", str(exc)))
        if mandatory and callback_url is None and api_key is not None:
            errors.append(RowError(index, "callback_url", phrase("a mandatory step needs the callback URL to tell")))
        if len(errors) == before and account in clients:
            prepared.append((clients[account], event_at, dict(context), mandatory, callback_url))
    if errors:
        raise TargetImportError(errors)
    first = None
    if campaign.status is CampaignStatus.RUNNING:
        first = max(now, campaign.window_starts_at) if campaign.window_starts_at else now
    for client, event_at, context, mandatory, callback_url in prepared:
        schedule = target_schedule(campaign, event_at, now, calendar)
        db.session.add(CampaignTarget(
            campaign_id=campaign.id, client_id=client.id, source=source, event_at=event_at, context=context,
            mandatory=mandatory, callback_url=callback_url, api_key_id=api_key.id if api_key else None,
            next_action_at=first, **schedule))
    db.session.flush()
    record(actor, "campaign.targets_add", "campaign", campaign.id, {"source": source, "added": len(prepared)})
    if first is not None and prepared:
        _schedule_dispatch(campaign, first)
    return len(prepared)


def import_targets_csv(campaign: Campaign, text: str, actor: str) -> int:
    """CSV with a header: account (required), event_at, mandatory; other columns are placeholder values.

    Any bad row means no row is added (like the client import); errors name the file's line.
    """
    if (line := first_nul_line(text)) is not None:
        raise TargetImportError([RowError(line, "", phrase("contains a NUL character (U+0000)"))])
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "account" not in reader.fieldnames:
        raise TargetImportError([RowError(1, "header",
                                          phrase("the first line must name the columns, including 'account'"))])
    rows = []
    for raw in reader:
        if None in raw:
            rows.append({"account": raw.get("account"), "_extra": True})
            continue
        rows.append({
            "account": raw.get("account"), "event_at": raw.get("event_at") or None,
            "mandatory": (raw.get("mandatory") or "").strip().lower() in ("1", "true", "yes", "y"),
            "context": {k: v for k, v in raw.items()
                        if k not in ("account", "event_at", "mandatory") and v not in (None, "")},
        })
    extra = [RowError(i, "", phrase("more values than columns"))
             for i, r in enumerate(rows, start=2) if r.get("_extra")]
    if extra:
        raise TargetImportError(extra)
    return add_target_rows(campaign, rows, actor, "csv", first_row=2)


CLIENT_FILTERS = ("branch", "risk_levels", "servicing_staff_code", "accounts")


def add_targets_by_filter(campaign: Campaign, filters: Mapping, actor: str, now: Optional[datetime] = None) -> int:
    """Add every client matching the filters (branch, risk_levels, servicing_staff_code) in one statement."""
    _check_editable(campaign)
    unknown = set(filters) - set(CLIENT_FILTERS)
    if unknown:
        raise InvalidRequest(sorted(unknown)[0], phrase("unknown filter"))
    if campaign.review_type in (ReviewType.ABNORMAL, ReviewType.NEW_PERMISSION, ReviewType.PRIVATE_FUND):
        raise InvalidRequest("filters", phrase("%(type)s targets need their own event time; add them by CSV or API",
                                            type=campaign.review_type.value))
    now = now or utcnow()
    query = sa.select(Client.id).where(~sa.exists().where(
        CampaignTarget.campaign_id == campaign.id, CampaignTarget.client_id == Client.id))
    if filters.get("branch"):
        query = query.where(Client.branch == filters["branch"])
    if filters.get("servicing_staff_code"):
        query = query.where(Client.servicing_staff_code == filters["servicing_staff_code"])
    if filters.get("risk_levels"):
        try:
            levels = [RiskLevel(v) for v in filters["risk_levels"]]
        except ValueError:
            raise InvalidRequest("risk_levels", phrase("must be among C1, C2, C3, C4, C5")) from None
        query = query.where(Client.risk_level.in_(levels))
    return _insert_targets(campaign, query, "filter", actor, now)


def _insert_targets(campaign: Campaign, client_ids_query, source: str, actor: str, now: datetime,
                    strata: Optional[dict[int, str]] = None) -> int:
    """INSERT … SELECT the targets (fast for 100,000 clients); the schedule is the campaign's."""
    schedule = target_schedule(campaign, None, now)
    first = None
    if campaign.status is CampaignStatus.RUNNING:
        first = max(now, campaign.window_starts_at) if campaign.window_starts_at else now
    ids = client_ids_query.subquery()
    select = sa.select(
        sa.literal(campaign.id), ids.c.id, sa.literal(TargetState.QUEUED.value), sa.literal(source),
        sa.literal(0), sa.literal(0), sa.literal(0), sa.literal(0), sa.literal({}, CampaignTarget.context.type),
        sa.literal(False), sa.literal(now, CampaignTarget.created_at.type),
        sa.literal(schedule["deadline"], CampaignTarget.deadline.type),
        sa.literal(first, CampaignTarget.next_action_at.type),
    )
    table = CampaignTarget.__table__
    cols = ["campaign_id", "client_id", "state", "source", "channel_index", "channel_failures",
            "temporary_retries", "reminders_sent", "context", "mandatory", "created_at", "deadline", "next_action_at"]
    count = sa.select(sa.func.count()).select_from(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
    before = db.session.scalar(count)
    db.session.execute(table.insert().from_select(cols, select))
    added = db.session.scalar(count) - before  # rowcount of INSERT … SELECT is not reliable on every driver
    if strata:
        for stratum, client_ids in _group(strata).items():
            for chunk in _chunks(client_ids, 500):
                db.session.execute(sa.update(CampaignTarget).where(
                    CampaignTarget.campaign_id == campaign.id, CampaignTarget.client_id.in_(chunk)
                ).values(stratum=stratum))
    db.session.flush()
    record(actor, "campaign.targets_add", "campaign", campaign.id, {"source": source, "added": added})
    if first is not None and added:
        _schedule_dispatch(campaign, first)
    return added


def _group(strata: dict[int, str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for client_id, stratum in strata.items():
        groups.setdefault(stratum, []).append(client_id)
    return groups


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------- sampling (5.1.4, 5.1.5)

@dataclass(frozen=True)
class SampleSpec:
    """A reproducible stratified sample of last year-end's product/service clients."""

    as_of: date  # the year-end whose client attributes are used
    seed: int
    ratio: float = 0.10  # ≥ 10 % (5.1.5)
    r5_ratio: float = 0.30  # a higher share for R5 holders (5.1.6 d)
    stratify_by: str = "branch"  # branch | risk_level


def draw_sample(campaign: Campaign, spec: SampleSpec, actor: str, now: Optional[datetime] = None) -> dict:
    """Add a seeded, stratified sample as targets and store the achieved vs required ratios.

    Population: ClientAttributes rows of `as_of` with product_client, not dormant, not suspended
    (5.1.4). Always included: clients whose product risk exceeds their tolerance (5.1.5).
    Each stratum (branch or risk level, split into R5 holders and others) gets ceil(n × ratio)
    clients, R5 strata ceil(n × r5_ratio), drawn by random.Random(f"{seed}:{stratum}") from the
    stratum sorted by client id: the same data and seed give the same sample.
    """
    _check_editable(campaign)
    if not 0 < spec.ratio <= 1:
        raise InvalidRequest("ratio", phrase("must be above 0 and at most 1"))
    if not spec.ratio <= spec.r5_ratio <= 1:
        raise InvalidRequest("r5_ratio", phrase("must be at least the general ratio and at most 1"))
    if spec.stratify_by not in ("branch", "risk_level"):
        raise InvalidRequest("stratify_by", phrase("must be branch or risk_level"))
    rows = db.session.execute(
        sa.select(ClientAttributes.client_id, ClientAttributes.max_product_risk, ClientAttributes.exceeds_tolerance,
                  Client.branch, Client.risk_level)
        .join(Client, Client.id == ClientAttributes.client_id)
        .where(ClientAttributes.as_of == spec.as_of, ClientAttributes.product_client.is_(True),
               ClientAttributes.dormant.is_(False), ClientAttributes.suspended.is_(False))
        .order_by(ClientAttributes.client_id)
    ).all()
    if not rows:
        raise InvalidRequest("as_of", phrase("no product/service clients recorded for %(date)s",
                                             date=spec.as_of.isoformat()))
    strata: dict[str, list[int]] = {}
    must: list[int] = []
    r5_ids: set[int] = set()
    for client_id, product_risk, exceeds, branch, risk_level in rows:
        key = (branch or "—") if spec.stratify_by == "branch" else (risk_level.value if risk_level else "—")
        is_r5 = product_risk == "R5"
        if is_r5:
            r5_ids.add(client_id)
        strata.setdefault(f"{key}|{'R5' if is_r5 else 'other'}", []).append(client_id)
        if exceeds:
            must.append(client_id)
    chosen: dict[int, str] = {cid: "exceeds_tolerance" for cid in must}
    for stratum, ids in sorted(strata.items()):
        share = spec.r5_ratio if stratum.endswith("|R5") else spec.ratio
        wanted = math.ceil(len(ids) * share)
        already = [i for i in ids if i in chosen]
        pool = [i for i in ids if i not in chosen]
        extra = max(0, wanted - len(already))
        for cid in random.Random(f"{spec.seed}:{stratum}").sample(pool, min(extra, len(pool))):
            chosen[cid] = stratum
    existing = set(db.session.scalars(sa.select(CampaignTarget.client_id).where(
        CampaignTarget.campaign_id == campaign.id)))
    new_ids = sorted(set(chosen) - existing)
    now = now or utcnow()
    added = 0
    for chunk in _chunks(new_ids, 500):
        added += _insert_targets(campaign, sa.select(Client.id).where(Client.id.in_(chunk)), "sample", actor, now,
                                 strata={cid: chosen[cid][:32] for cid in chunk})
    population = len(rows)
    summary = {
        "as_of": spec.as_of.isoformat(), "seed": spec.seed, "ratio": spec.ratio, "r5_ratio": spec.r5_ratio,
        "stratify_by": spec.stratify_by, "population": population, "selected": len(chosen),
        "required": math.ceil(population * spec.ratio),
        "r5_population": len(r5_ids), "r5_selected": len(r5_ids & set(chosen)),
        "r5_required": math.ceil(len(r5_ids) * spec.r5_ratio),
        "exceeds_population": len(must), "exceeds_selected": len(must),
        "strata": {k: {"population": len(v), "selected": sum(1 for i in v if i in chosen)}
                   for k, v in sorted(strata.items())},
    }
    campaign.sampling = summary
    db.session.flush()
    record(actor, "campaign.sample", "campaign", campaign.id,
           {k: summary[k] for k in ("as_of", "seed", "ratio", "r5_ratio", "population", "selected")})
    return summary


def sampling_ratios(campaign: Campaign) -> Optional[list[dict]]:
    """Achieved vs required ratios for the console: sampled and actually reviewed (answered)."""
    s = campaign.sampling
    if not s:
        return None
    is_r5 = CampaignTarget.stratum.like("%|R5")
    total_answered, r5_answered = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((is_r5, 1), else_=0)), 0))
        .where(CampaignTarget.campaign_id == campaign.id, CampaignTarget.state == TargetState.ANSWERED)).one()

    def ratio(n, d):
        return round(n / d, 4) if d else None

    return [
        {"label": "All product/service clients (5.1.5)", "population": s["population"],
         "required": s["ratio"], "sampled": ratio(s["selected"], s["population"]),
         "reviewed": ratio(total_answered, s["population"])},
        {"label": "R5 holders (5.1.6 d)", "population": s["r5_population"], "required": s["r5_ratio"],
         "sampled": ratio(s["r5_selected"], s["r5_population"]),
         "reviewed": ratio(r5_answered, s["r5_population"])},
        {"label": "Product risk above tolerance (always included)", "population": s["exceeds_population"],
         "required": 1.0, "sampled": ratio(s["exceeds_selected"], s["exceeds_population"]), "reviewed": None},
    ]


def set_client_attributes(rows: Iterable[Mapping], actor: str) -> int:
    """Upsert ClientAttributes by account (year-end figures for sampling; time zone for quiet hours)."""
    rows = list(rows)
    clients = {c.account: c.id for c in db.session.scalars(
        sa.select(Client).where(Client.account.in_([str(r.get("account")) for r in rows])))}
    errors = []
    for i, r in enumerate(rows, start=1):
        if r.get("account") not in clients:
            errors.append(RowError(i, "account", phrase("unknown client account '%(account)s'",
                                                        account=r.get("account"))))
        if r.get("max_product_risk") not in (None, "", "R1", "R2", "R3", "R4", "R5"):
            errors.append(RowError(i, "max_product_risk", phrase("must be R1…R5")))
    if errors:
        raise TargetImportError(errors)
    for r in rows:
        cid = clients[r["account"]]
        attrs = db.session.get(ClientAttributes, cid) or ClientAttributes(client_id=cid, as_of=r["as_of"])
        attrs.as_of = r["as_of"]
        for name in ("product_client", "dormant", "suspended", "exceeds_tolerance"):
            if name in r:
                setattr(attrs, name, bool(r[name]))
        attrs.max_product_risk = r.get("max_product_risk") or None
        attrs.timezone = r.get("timezone") or attrs.timezone
        db.session.add(attrs)
    db.session.flush()
    record(actor, "campaign.client_attributes", "client", None, {"rows": len(rows)})
    return len(rows)


# ---------------------------------------------------------------- opt-outs

def block_contact(client: Client, channel: Optional[str], reason: str, actor: str) -> ContactBlock:
    """Do-not-contact (channel None) or a channel opt-out; respected by every later send."""
    if channel is not None and channel not in CHANNELS:
        raise InvalidRequest("channel", phrase("unknown channel '%(channel)s'", channel=channel))
    if not (reason or "").strip():
        raise InvalidRequest("reason", phrase("is required"))
    block = db.session.scalars(sa.select(ContactBlock).where(
        ContactBlock.client_id == client.id,
        ContactBlock.channel.is_(None) if channel is None else ContactBlock.channel == channel)).one_or_none()
    if block is None:
        block = ContactBlock(client_id=client.id, channel=channel, reason=reason.strip()[:300], created_by=actor)
        db.session.add(block)
        db.session.flush()
        record(actor, "client.contact_block", "client", client.id, {"channel": channel or "all"})
    return block


def unblock_contact(client: Client, channel: Optional[str], actor: str) -> bool:
    """Lift a block; False when there was none."""
    result = db.session.execute(sa.delete(ContactBlock).where(
        ContactBlock.client_id == client.id,
        ContactBlock.channel.is_(None) if channel is None else ContactBlock.channel == channel))
    if result.rowcount:
        record(actor, "client.contact_unblock", "client", client.id, {"channel": channel or "all"})
    return bool(result.rowcount)


# ---------------------------------------------------------------- progress and follow-ups

def progress(campaign: Campaign, now: Optional[datetime] = None) -> dict:
    """Counts per target state, per final state and per channel/attempt status (aggregated in SQL)."""
    by_state = dict(db.session.execute(
        sa.select(CampaignTarget.state, sa.func.count()).where(CampaignTarget.campaign_id == campaign.id)
        .group_by(CampaignTarget.state)).all())
    by_final = dict(db.session.execute(
        sa.select(CampaignTarget.final_state, sa.func.count()).where(
            CampaignTarget.campaign_id == campaign.id, CampaignTarget.final_state.is_not(None))
        .group_by(CampaignTarget.final_state)).all())
    by_channel: dict[str, dict[str, int]] = {}
    for channel, status, count in db.session.execute(
            sa.select(SendAttempt.channel, SendAttempt.status, sa.func.count())
            .where(SendAttempt.campaign_id == campaign.id).group_by(SendAttempt.channel, SendAttempt.status)):
        by_channel.setdefault(channel, {})[status.value] = count
    total = sum(by_state.values())
    done = total - sum(by_state.get(s, 0) for s in ACTIVE_STATES)
    # 7.3.3 b: an abnormal-activity review must START within 2 trading days of detection; a
    # first send after start_by (or none yet, with start_by past) is a late start to explain.
    late_starts = db.session.scalar(
        sa.select(sa.func.count()).select_from(CampaignTarget).where(
            CampaignTarget.campaign_id == campaign.id, CampaignTarget.start_by.is_not(None),
            sa.or_(CampaignTarget.first_sent_at > CampaignTarget.start_by,
                   sa.and_(CampaignTarget.first_sent_at.is_(None), CampaignTarget.start_by < (now or utcnow())))))
    return {
        "campaign": campaign.id, "status": campaign.status.value, "total": total, "done": done,
        "late_starts": late_starts,
        "states": {s.value: by_state.get(s, 0) for s in TargetState},
        "final": {f.value: {"count": by_final.get(f, 0), "zh": FINAL_WORDING[f][0], "en": FINAL_WORDING[f][1]}
                  for f in FinalState},
        "channels": by_channel,
    }


def followups(campaign_id: Optional[int] = None, open_only: bool = True, limit: Optional[int] = None):
    """The unreached / unanswered list for phone reviews."""
    query = sa.select(FollowUp).order_by(FollowUp.id)
    if campaign_id is not None:
        query = query.where(FollowUp.campaign_id == campaign_id)
    if open_only:
        query = query.where(FollowUp.resolved_at.is_(None))
    if limit:
        query = query.limit(limit)
    return db.session.scalars(query)


FOLLOWUP_COLUMNS = ("campaign_id", "campaign", "account", "name", "phone", "email", "branch", "review_type",
                    "final_state", "final_state_zh", "final_state_en", "reason", "attempts", "deadline", "since")


def followups_csv(campaign: Campaign) -> Iterable[str]:
    """CSV lines (header first) of the campaign's open follow-ups, for the phone team (unmasked)."""
    attempts = dict(db.session.execute(
        sa.select(SendAttempt.target_id, sa.func.count()).where(SendAttempt.campaign_id == campaign.id)
        .group_by(SendAttempt.target_id)).all())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FOLLOWUP_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    for item in followups(campaign.id).yield_per(500):
        buffer.seek(0)
        buffer.truncate()
        client, target = item.client, item.target
        zh, en = FINAL_WORDING[item.final_state]
        writer.writerow([campaign.id, campaign.name, client.account, client.name, client.phone or "",
                         client.email or "", client.branch or "", campaign.review_type.value,
                         item.final_state.value, zh, en, item.reason, attempts.get(target.id, 0),
                         target.deadline.isoformat() if target.deadline else "", item.created_at.isoformat()])
        yield buffer.getvalue()


def target_wording(target: CampaignTarget) -> tuple[str, str]:
    """The registration wording of a target's state (Appendix F), zh and en."""
    if target.final_state is not None:
        return FINAL_WORDING[target.final_state]
    if target.state is TargetState.QUEUED and target.temporary_state is None:
        return ("未完成：待发送", "Not completed: waiting to be sent")
    return TEMPORARY_WORDING.get(target.temporary_state or "waiting", TEMPORARY_WORDING["waiting"])


# ---------------------------------------------------------------- letters (contract)

def letter_invitation_ids(campaign_id: int) -> list[int]:
    """Invitations of the campaign whose channel is, or fell back to, letter."""
    return list(db.session.scalars(
        sa.select(CampaignTarget.invitation_id).join(SendAttempt, SendAttempt.target_id == CampaignTarget.id)
        .where(CampaignTarget.campaign_id == campaign_id, SendAttempt.channel == "letter",
               SendAttempt.status == AttemptStatus.HANDED_OFF, CampaignTarget.invitation_id.is_not(None))
        .distinct().order_by(CampaignTarget.invitation_id)))


# ---------------------------------------------------------------- answers

# The name of this area's row in response_stored's `linked` (routes.py declares it).
INVITATION_LINK = "campaign_target"


def on_response_stored(response, invitation, linked: dict, **_kw) -> None:
    """A stored response completes its campaign target (已完成：已回访), in the submit transaction."""
    target = linked_row(db.session, linked, INVITATION_LINK, CampaignTarget)
    if target is None or target.state is TargetState.ANSWERED:
        return
    target.state = TargetState.ANSWERED
    target.final_state = FinalState.REVIEWED
    target.temporary_state = None
    target.next_action_at = None
    target.finished_at = response.submitted_at
    resolved = db.session.scalars(sa.select(FollowUp).where(FollowUp.target_id == target.id)).one_or_none()
    if resolved is not None and resolved.resolved_at is None:
        resolved.resolved_at = response.submitted_at
    db.session.flush()
