"""The send loop: claim due targets, record each attempt BEFORE sending, send, record the outcome.

One pass = three short phases:
1. claim (one transaction, committed): lock the campaign row (serialises claimers on PostgreSQL
   and SQLite alike), pick due targets, decide per target (window, cooling-off, deadline,
   do-not-contact, opt-outs, invalid contacts, quiet hours, rate limits, reminders), create the
   invitation, and write a 'sending' attempt with a fresh idempotency key. The claimed target's
   next_action_at moves one lease ahead, so no other worker takes it meanwhile.
2. send (no transaction): call the providers.
3. apply (one transaction, committed): write each outcome; fall back, back off or finalise.

A worker killed between 1 and 3 leaves attempts 'sending'. When their target becomes due again
(the lease ran out), the attempt is resolved, never blindly repeated: a provider that can tell
(the file sink's record) is asked; one that deduplicates on the key (HTTP gateway, app push's
webhook-id) gets the same key again; for the others (SMTP, Alibaba, Tencent) the attempt becomes
'unknown' and counts as sent — a missing message is caught by the reminders, a doubled one never
happens. Dispatch commits at its phase boundaries on purpose (record-before-send must be durable
before the provider is called), also when run from a job handler.
"""
from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import flag_modified

from app.audit.service import record
from app.campaigns import channels as ch
from app.campaigns.models import (
    ACTIVE_STATES, AttemptStatus, Campaign, CampaignStatus, CampaignTarget, ClientAttributes, ContactBlock,
    FinalState, FollowUp, SendAttempt, TargetState,
)
from app.clients.models import Client
from app.db_types import utcnow
from app.extensions import db
from app.locking import lock_for_update
from app.reviews.models import Channel, CompletionStatus, Invitation, InvitationStatus, ReviewRegistration
from app.reviews.service import InvalidRequest, InvitationRequest, create_invitations, link_signer
from delivery import calendar as cal
from delivery.outcome import Outcome, SendResult, TemporaryFailure
from delivery.sms.base import SmsMessage

EMPTY_NUMBER_CODES = {"empty_number", "MK:0001", "IC:0001", "isv.MOBILE_NUMBER_ILLEGAL"}
COMPLETION_OF = {
    FinalState.UNREACHABLE: CompletionStatus.UNREACHABLE, FinalState.EMPTY_NUMBER: CompletionStatus.EMPTY_NUMBER,
    FinalState.WRONG_NUMBER: CompletionStatus.WRONG_NUMBER, FinalState.UNANSWERED: CompletionStatus.UNANSWERED,
    FinalState.REFUSED: CompletionStatus.REFUSED,
}


def cfg(name: str, default):
    return type(default)(current_app.config.get(name, default))


@dataclass
class Prepared:
    """One send decided in the claim phase, carried to the send phase."""

    attempt_id: Optional[int]  # None until the claim's bulk insert gives the new attempt its id
    target_id: int
    channel: str
    kind: str  # invitation | reminder
    key: str
    recover: bool = False  # the attempt was left 'sending' by a crashed worker
    message: dict = field(default_factory=dict)
    attempt: Optional[dict] = None  # the new attempt's row (its id is known once the rows are inserted)


@dataclass
class PassStats:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    finalized: int = 0

    def add(self, other: "PassStats") -> None:
        for name in ("claimed", "sent", "failed", "deferred", "finalized"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def backoff(n: int) -> timedelta:
    """Exponential backoff after the n-th temporary failure (base × 2^(n-1), at most an hour)."""
    base = cfg("CAMPAIGN_RETRY_BASE_SECONDS", 60)
    return timedelta(seconds=min(base * 2 ** max(0, n - 1), 3600))


def run_pass(campaign_id: int, *, now: Optional[datetime] = None, limit: Optional[int] = None,
             senders: Optional[ch.Senders] = None) -> PassStats:
    """One claim → send → apply pass over the campaign's due targets."""
    now = now or utcnow()
    own = senders is None
    senders = senders or ch.Senders()
    try:
        stats, prepared = _claim(campaign_id, now, limit or cfg("CAMPAIGN_BATCH_SIZE", 1000))
        db.session.commit()
        if prepared:
            results = _send_all(prepared, senders)
            stats.add(_apply(campaign_id, prepared, results, now))
            db.session.commit()
        if _maybe_finish(campaign_id, now):
            db.session.commit()
        return stats
    except Exception:
        db.session.rollback()
        raise
    finally:
        if own:
            senders.close()


def run_until_idle(campaign_id: int, *, now: Optional[datetime] = None, senders: Optional[ch.Senders] = None,
                   on_pass=None, max_passes: int = 1_000_000) -> PassStats:
    """Passes until nothing is due now (CLI, tests, the job handler)."""
    total = PassStats()
    own = senders is None
    senders = senders or ch.Senders()
    try:
        for _ in range(max_passes):
            stats = run_pass(campaign_id, now=now, senders=senders)
            total.add(stats)
            if on_pass:
                on_pass(stats)
            if stats.claimed == 0:
                break
    finally:
        if own:
            senders.close()
    return total


def next_due(campaign_id: int) -> Optional[datetime]:
    """When the campaign next has something to do."""
    return db.session.scalar(sa.select(sa.func.min(CampaignTarget.next_action_at)).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.state.in_(ACTIVE_STATES)))


# ---------------------------------------------------------------- phase 1: claim and decide

class _Context:
    """What the decisions of one pass share: campaign, clients, blocks, time zones, rate budgets."""

    def __init__(self, campaign: Campaign, targets: list[CampaignTarget], now: datetime):
        self.campaign, self.now = campaign, now
        client_ids = [t.client_id for t in targets]
        self.clients = {c.id: c for c in db.session.scalars(sa.select(Client).where(Client.id.in_(client_ids)))}
        self.blocks: dict[int, set] = {}
        for client_id, channel in db.session.execute(
                sa.select(ContactBlock.client_id, ContactBlock.channel).where(ContactBlock.client_id.in_(client_ids))):
            self.blocks.setdefault(client_id, set()).add(channel)
        self.tz = dict(db.session.execute(sa.select(ClientAttributes.client_id, ClientAttributes.timezone).where(
            ClientAttributes.client_id.in_(client_ids), ClientAttributes.timezone.is_not(None))).all())
        pending = db.session.scalars(sa.select(SendAttempt).where(
            SendAttempt.target_id.in_([t.id for t in targets]), SendAttempt.status == AttemptStatus.SENDING))
        self.pending = {a.target_id: a for a in pending}
        # Loaded once, so the decisions and messages below find them in the session's identity map.
        self.invitations = {i.id: i for i in db.session.scalars(sa.select(Invitation).where(
            Invitation.id.in_([t.invitation_id for t in targets if t.invitation_id is not None])))}
        self.signer = link_signer()
        self.collecting = False  # first round of a claim: new invitations are collected, not made one by one
        self.new_attempts: list[dict] = []  # inserted together at the end of the claim
        self.budget: dict[str, int] = {}
        since = now - timedelta(seconds=60)
        for channel, limit in (campaign.rate_limits or {}).items():
            used = db.session.scalar(sa.select(sa.func.count()).select_from(SendAttempt).where(
                SendAttempt.campaign_id == campaign.id, SendAttempt.channel == channel,
                SendAttempt.created_at > since, SendAttempt.created_at <= now,
                SendAttempt.status.not_in([AttemptStatus.INVALID, AttemptStatus.SKIPPED])))
            self.budget[channel] = max(0, int(limit) - int(used or 0))
        self.attempts_allowed = {**{c: 1 for c in campaign.channel_plan}, **(campaign.attempts_per_channel or {})}

    def timezone(self, client_id: int) -> str:
        return self.tz.get(client_id) or self.campaign.default_timezone


def _due_targets(campaign_id: int, now: datetime, limit: int) -> list[CampaignTarget]:
    """The `limit` open targets due first (next_action_at, then id).

    One walk of ix_campaign_targets_due per open state, each in index order and stopped after
    `limit` entries, then merged. (`state IN (queued, sent) ORDER BY next_action_at` cannot be
    read in index order: the database fetched and sorted EVERY due target on every pass — the
    whole remaining campaign at the start of a run.)"""
    due = []
    for state in ACTIVE_STATES:
        due += db.session.execute(
            sa.select(CampaignTarget.next_action_at, CampaignTarget.id).where(
                CampaignTarget.campaign_id == campaign_id, CampaignTarget.state == state,
                CampaignTarget.next_action_at <= now)
            .order_by(CampaignTarget.next_action_at, CampaignTarget.id).limit(limit)).all()
    ids = [target_id for _, target_id in sorted(due)[:limit]]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(CampaignTarget).where(CampaignTarget.id.in_(ids))
                                   .order_by(CampaignTarget.next_action_at, CampaignTarget.id)))


def _claim(campaign_id: int, now: datetime, limit: int) -> tuple[PassStats, list[Prepared]]:
    stats = PassStats()
    campaign = lock_for_update(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.RUNNING:
        return stats, []
    targets = _due_targets(campaign_id, now, limit)
    if not targets:
        return stats, []
    stats.claimed = len(targets)
    ctx = _Context(campaign, targets, now)
    lease = timedelta(seconds=cfg("CAMPAIGN_LEASE_SECONDS", 300))
    prepared: list[Prepared] = []
    # Round 1 decides every target; those whose first send needs an invitation are only collected.
    # Their invitations are created in one batch (core service, one audit entry), then round 2
    # decides them with the same rules (nothing was changed for them in round 1).
    ctx.collecting = True
    waiting = []
    for target in targets:
        item = _decide(ctx, target, stats)
        if item is _NEEDS_INVITATION:
            waiting.append(target)
        elif item is not None:
            target.next_action_at = now + lease
            prepared.append(item)
    ctx.collecting = False
    for target in _create_invitations(ctx, waiting, stats):
        item = _decide(ctx, target, stats)
        if item is not None:
            target.next_action_at = now + lease
            prepared.append(item)
    _uniform_updates(targets)
    db.session.flush()
    if ctx.new_attempts:  # one bulk insert; the caller commits it BEFORE any provider is called
        table = SendAttempt.__table__  # Core: one multi-row INSERT per 1000 rows on both databases
        ids = dict(db.session.execute(sa.insert(table).returning(table.c.idempotency_key, table.c.id),
                                      ctx.new_attempts).all())
        for row in ctx.new_attempts:  # matched by the unique key: no ordered-RETURNING form needed
            row["id"] = ids[row["idempotency_key"]]
    for item in prepared:
        if item.attempt is not None:
            item.attempt_id, item.attempt = item.attempt["id"], None
    return stats, prepared


_NEEDS_INVITATION = object()

# What dispatch may change on a target. The ORM sends one executemany UPDATE only for consecutive
# rows that change the SAME columns; targets that fell back (SMS flagged → email) change more
# columns than the others, so a batch alternated and became one UPDATE statement — one round
# trip on PostgreSQL — per target. Marking these columns on every target of the pass makes the
# whole batch one executemany.
_TARGET_COLUMNS = ("state", "temporary_state", "final_state", "channel_index", "channel_failures",
                   "temporary_retries", "reached_channel", "next_action_at", "first_sent_at", "reminders_sent",
                   "last_error", "invitation_id", "finished_at")


def _uniform_updates(targets) -> None:
    """Mark the same columns changed on every target of the batch (see _TARGET_COLUMNS)."""
    for target in targets:
        if target in db.session.dirty:
            for name in _TARGET_COLUMNS:
                flag_modified(target, name)


def _create_invitations(ctx: _Context, targets: list[CampaignTarget], stats: PassStats) -> list[CampaignTarget]:
    """Create the invitations of targets about to get their first send, in batches through the core
    service; a target whose request is refused is stalled with the reason (as before), the others
    proceed. Returns the targets that now have an invitation."""
    campaign = ctx.campaign
    version = campaign.version
    key, number = version.questionnaire.key, version.number
    pending = []
    for target in targets:
        client = ctx.clients[target.client_id]
        pending.append((target, InvitationRequest(
            client_account=client.account, questionnaire_key=key, version_number=number,
            review_type=campaign.review_type.value, channel=_first_channel(ctx, target, client),
            context={**(campaign.context or {}), **(target.context or {})},
            expires_at=target.deadline, opens_at=target.opens_at)))
    done: list[CampaignTarget] = []
    while pending:
        try:
            good, bad, rest = pending, None, []
            invitations = create_invitations([req for _, req in pending], f"campaign:{campaign.id}")
        except InvalidRequest as exc:
            # Requests are checked in order: those before the refused one are valid, after it unknown.
            index = exc.extra["index"]
            good, bad, rest = pending[:index], pending[index], pending[index + 1:]
            invitations = create_invitations([req for _, req in good], f"campaign:{campaign.id}")
            target = bad[0]
            target.last_error = f"{exc.field}: {exc.message}"[:300]
            target.next_action_at = None  # stalled until staff fix the data (shown in the progress)
            stats.deferred += 1
        for (target, _), invitation in zip(good, invitations):
            target.invitation_id = invitation.id
            ctx.invitations[invitation.id] = invitation
            done.append(target)
        pending = rest
    return done


def _first_channel(ctx: _Context, target: CampaignTarget, client: Client) -> str:
    """The channel the first send will use: the plan's next one the client has not opted out of
    and has a usable contact for (the invitation records it; a later fallback updates it)."""
    plan = ctx.campaign.channel_plan
    for channel in plan[target.channel_index:]:
        if channel not in ctx.blocks.get(client.id, set()) and ch.contact_problem(channel, client) is None:
            return channel
    return plan[min(target.channel_index, len(plan) - 1)]


def new_attempt_key() -> str:
    """A fresh idempotency key: "hf", 12 hex digits of the time in microseconds, 20 random hex
    digits (80 bits). Time first, so new keys land at the end of the unique index (and of the
    provider-id index, where the SMS key is the provider id) instead of on a random page: random
    keys made every insert of a 100,000-message run touch a cold index page."""
    return f"hf{time.time_ns() // 1000:012x}{secrets.token_hex(10)}"


def _new_attempt(ctx: _Context, target: CampaignTarget, channel: str, kind: str,
                 status: AttemptStatus = AttemptStatus.SENDING, error: Optional[str] = None) -> dict:
    """An attempt row, inserted with the others of this claim (in its transaction, before any send)."""
    row = dict(target_id=target.id, campaign_id=ctx.campaign.id, channel=channel, kind=kind,
               status=status, idempotency_key=new_attempt_key(), error=error,
               created_at=ctx.now, finished_at=None if status is AttemptStatus.SENDING else ctx.now)
    ctx.new_attempts.append(row)
    return row


def _decide(ctx: _Context, target: CampaignTarget, stats: PassStats) -> Optional[Prepared]:
    """What to do with one due target now; returns a send to make, or None (rescheduled/finalised)."""
    campaign, now = ctx.campaign, ctx.now
    client = ctx.clients[target.client_id]
    pending = ctx.pending.get(target.id)
    if pending is not None:  # left 'sending' by a crashed worker: resolve it, never resend blindly
        return Prepared(pending.id, target.id, pending.channel, pending.kind, pending.idempotency_key,
                        recover=True, message=_message(ctx, target, client, pending.channel, pending.kind))
    if target.invitation_id is not None:
        invitation = ctx.invitations.get(target.invitation_id) or db.session.get(Invitation, target.invitation_id)
        if invitation.status is InvitationStatus.COMPLETED:
            target.state, target.final_state, target.next_action_at = TargetState.ANSWERED, FinalState.REVIEWED, None
            return None
    if target.deadline is not None and now >= target.deadline:
        if target.state is TargetState.SENT:
            _finalize(ctx, target, FinalState.UNANSWERED, "no answer by the deadline")
        else:
            _finalize(ctx, target, _unreached_state(target), target.last_error or "not reached by the deadline")
        stats.finalized += 1
        return None
    if None in ctx.blocks.get(client.id, set()):
        _finalize(ctx, target, FinalState.DO_NOT_CONTACT, "the client asked not to be contacted", followup=False)
        stats.finalized += 1
        return None
    if target.state is TargetState.SENT:
        return _reminder(ctx, target, client, stats)
    # First send of this target on the current channel of the plan.
    if campaign.window_starts_at and now < campaign.window_starts_at:
        target.next_action_at = campaign.window_starts_at
        stats.deferred += 1
        return None
    if campaign.window_ends_at and now >= campaign.window_ends_at:
        _finalize(ctx, target, _unreached_state(target), "the send window ended before the client was reached")
        stats.finalized += 1
        return None
    if target.opens_at and now < target.opens_at:
        # 5.1.6 d: a review inside the cooling-off period is invalid, so nothing goes out before.
        target.next_action_at = target.opens_at
        stats.deferred += 1
        return None
    plan = campaign.channel_plan
    # The invitation exists from the first decision on, so even a client no channel reaches is registered (8.2.3).
    if target.invitation_id is None:
        if ctx.collecting:
            return _NEEDS_INVITATION  # made with the others of this claim, then decided again
        return None  # its request was refused: stalled by _create_invitations
    while target.channel_index < len(plan):
        channel = plan[target.channel_index]
        if channel in ctx.blocks.get(client.id, set()):
            _new_attempt(ctx, target, channel, "invitation", AttemptStatus.SKIPPED, "the client opted out of this channel")
            _next_channel(target)
            continue
        problem = ch.contact_problem(channel, client)
        if problem is not None:  # flagged, not sent
            _new_attempt(ctx, target, channel, "invitation", AttemptStatus.INVALID, problem)
            target.temporary_state = "wrong_number"
            target.last_error = f"{channel}: {problem}"
            _next_channel(target)
            continue
        if _defer_if_needed(ctx, target, client, channel, stats):
            return None
        _set_invitation_channel(ctx, target, channel)
        if channel == "letter":
            return _hand_to_letters(ctx, target, stats)
        attempt = _new_attempt(ctx, target, channel, "invitation")
        return Prepared(None, target.id, channel, "invitation", attempt["idempotency_key"],
                        message=_message(ctx, target, client, channel, "invitation"), attempt=attempt)
    _finalize(ctx, target, _unreached_state(target), target.last_error or "every channel of the plan failed")
    stats.finalized += 1
    return None


def _defer_if_needed(ctx: "_Context", target: CampaignTarget, client: Client, channel: str,
                     stats: PassStats) -> bool:
    """Quiet hours in the client's zone and the channel's rate budget: True when the send waits."""
    campaign, now = ctx.campaign, ctx.now
    tz = ctx.timezone(client.id)
    if channel in ch.QUIET_CHANNELS and cal.in_quiet_hours(now, tz, campaign.quiet_start, campaign.quiet_end):
        target.next_action_at = cal.quiet_hours_end(now, tz, campaign.quiet_start, campaign.quiet_end)
        stats.deferred += 1
        return True
    if channel in ctx.budget:
        if ctx.budget[channel] <= 0:
            target.next_action_at = now + timedelta(seconds=cfg("CAMPAIGN_RATE_RETRY_SECONDS", 15))
            stats.deferred += 1
            return True
        ctx.budget[channel] -= 1
    return False


def _reminder(ctx: _Context, target: CampaignTarget, client: Client, stats: PassStats) -> Optional[Prepared]:
    """Day-N reminders on the channel that reached the client, while no answer came."""
    campaign = ctx.campaign
    days = campaign.reminder_days or []
    channel = target.reached_channel
    if target.reminders_sent >= len(days) or channel in (None, "letter"):
        target.next_action_at = target.deadline
        return None
    if channel in ctx.blocks.get(client.id, set()):
        target.reminders_sent = len(days)
        target.next_action_at = target.deadline
        return None
    if _defer_if_needed(ctx, target, client, channel, stats):
        return None
    target.reminders_sent += 1  # counted now: a crash never sends the same reminder twice
    attempt = _new_attempt(ctx, target, channel, "reminder")
    return Prepared(None, target.id, channel, "reminder", attempt["idempotency_key"],
                    message=_message(ctx, target, client, channel, "reminder"), attempt=attempt)


def _next_reminder_at(campaign: Campaign, target: CampaignTarget) -> Optional[datetime]:
    days = campaign.reminder_days or []
    if target.reached_channel != "letter" and target.reminders_sent < len(days) and target.first_sent_at:
        due = target.first_sent_at + timedelta(days=days[target.reminders_sent])
        if target.deadline is None or due < target.deadline:
            return due
    return target.deadline


def _next_channel(target: CampaignTarget) -> None:
    target.channel_index += 1
    target.channel_failures = 0
    target.temporary_retries = 0


def _unreached_state(target: CampaignTarget) -> FinalState:
    return {"empty_number": FinalState.EMPTY_NUMBER, "wrong_number": FinalState.WRONG_NUMBER}.get(
        target.temporary_state or "", FinalState.UNREACHABLE)


def _set_invitation_channel(ctx: _Context, target: CampaignTarget, channel: str) -> None:
    """The invitation's channel follows the send (after a fallback it is the channel that sent)."""
    invitation = ctx.invitations.get(target.invitation_id) or db.session.get(Invitation, target.invitation_id)
    if invitation.channel.value != channel:
        invitation.channel = Channel(channel)


def _hand_to_letters(ctx: _Context, target: CampaignTarget, stats: PassStats) -> None:
    """Letter: the paper-letters batch prints it; no provider call, so it is done in this transaction."""
    try:
        from app.letters.service import queue_letter
    except ImportError:  # pragma: no cover - the letters area is part of the app
        _new_attempt(ctx, target, "letter", "invitation", AttemptStatus.SKIPPED, "the letters area is not available")
        _next_channel(target)
        target.next_action_at = ctx.now
        return None
    queue_letter(target.invitation_id)
    _new_attempt(ctx, target, "letter", "invitation", AttemptStatus.HANDED_OFF)
    _mark_sent(ctx.campaign, target, "letter", ctx.now)
    stats.sent += 1
    return None


def _message(ctx: _Context, target: CampaignTarget, client: Client, channel: str, kind: str) -> dict:
    """Everything the send phase needs, computed while the rows are loaded."""
    campaign = ctx.campaign
    invitation = ctx.invitations.get(target.invitation_id) or db.session.get(Invitation, target.invitation_id)
    config = current_app.config
    values = {"deadline": ch.deadline_text(target.deadline, ctx.timezone(client.id)),
              "firm_name": config["FIRM_NAME"], "client_name": client.name, "service_phone": config["SERVICE_PHONE"]}
    if channel == "sms":
        link = ch.short_link(invitation.short_code)
        body = ch.fill(campaign.sms_text or ch.DEFAULT_SMS, {**values, "link": ""})
        if kind == "reminder":
            body = "提醒：" + body
        return {"to": client.phone, "link": link, "text": ch.compose_sms(f"【{config['FIRM_NAME']}】", body, link),
                "params": {"link": link, "deadline": values["deadline"]}}
    link = ch.form_link(ctx.signer.sign(invitation.public_id))
    if channel == "email":
        subject = ch.fill(campaign.email_subject or ch.DEFAULT_SUBJECT, values)
        if kind == "reminder":
            subject = "提醒 Reminder: " + subject
        text = ch.fill(campaign.email_text or ch.DEFAULT_EMAIL, {**values, "link": link})
        if "{link}" not in (campaign.email_text or ""):
            text = f"{text}\n\n{link}"
        return {"to": client.email, "subject": subject, "text": text, "link": link}
    return {"payload": {"type": f"review.{kind}", "client_account": client.account, "url": link,
                        "deadline": target.deadline.isoformat() if target.deadline else None,
                        "campaign_id": campaign.id, "title": campaign.version.definition.get("title")}}


# ---------------------------------------------------------------- phase 2: send

def _send_all(prepared: list[Prepared], senders: ch.Senders) -> list:
    """Send a batch; with CAMPAIGN_SEND_THREADS > 1 the batch is split over a pool of threads, each
    chunk with its own connections, closed at the end of the chunk (an SMTP round trip dominates a
    send; the database is not touched here)."""
    threads = min(cfg("CAMPAIGN_SEND_THREADS", 8), len(prepared))
    if threads <= 1:
        return [_send(p, senders) for p in prepared]
    app = current_app._get_current_object()
    chunks = [prepared[i::threads] for i in range(threads)]

    def work(chunk: list[Prepared]) -> list:
        with app.app_context():
            own = ch.Senders()
            try:
                return [_send(item, own) for item in chunk]
            finally:
                own.close()

    by_id = {}
    for chunk, results in zip(chunks, _pool(threads).map(work, chunks)):
        for item, result in zip(chunk, results):
            by_id[item.attempt_id] = result
    return [by_id[p.attempt_id] for p in prepared]


_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(size: int) -> ThreadPoolExecutor:
    """One pool per size for the process; threads keep their SMTP connections between batches."""
    if size not in _pools:
        _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="campaign-send")
    return _pools[size]

def _send(item: Prepared, senders: ch.Senders):
    """Call the provider; returns a SendResult, a TemporaryFailure, or 'unknown' (recovery)."""
    message = item.message
    try:
        if item.channel == "sms":
            provider = senders.sms()
            if item.recover:
                found = provider.lookup(item.key)
                if found is not None:
                    return SendResult(Outcome.SENT, provider_id=found, code="recovered")
                if not provider.deduplicates:
                    return "unknown"
            return provider.send(SmsMessage(message["to"], message["text"], item.key, message["params"]))
        if item.channel == "email":
            if item.recover:
                return "unknown"  # SMTP cannot deduplicate: never resend blindly
            from delivery.email import build_message, html_body

            sender = senders.email()
            html = html_body(message["text"], message["link"], "开始作答 / Open the questionnaire",
                             current_app.config["FIRM_NAME"])
            return sender.send(build_message(sender.settings, message["to"], message["subject"], message["text"],
                                             html, item.key))
        if item.channel == "app":
            return senders.app().send(message["payload"], item.key)  # receivers deduplicate on webhook-id
    except TemporaryFailure as exc:
        return exc
    except ValueError as exc:  # a channel that is not configured
        return SendResult(Outcome.REFUSED, code="not_configured", message=str(exc)[:300])
    return SendResult(Outcome.REFUSED, code="unknown_channel")


# ---------------------------------------------------------------- phase 3: apply

def _apply(campaign_id: int, prepared: list[Prepared], results: list, now: datetime) -> PassStats:
    stats = PassStats()
    campaign = db.session.get(Campaign, campaign_id)
    sms_provider = current_app.config.get("SMS_PROVIDER") or "file"
    rows: list[dict] = []  # the attempts' outcomes, written with one bulk UPDATE by primary key
    targets = {t.id: t for t in db.session.scalars(
        sa.select(CampaignTarget).where(CampaignTarget.id.in_([p.target_id for p in prepared])))}
    ctx = None
    for item, result in zip(prepared, results):
        target = targets[item.target_id]
        attempt = _Outcome(id=item.attempt_id, finished_at=now)
        rows.append(attempt.__dict__)
        if isinstance(result, TemporaryFailure):
            stats.failed += 1
            attempt.status, attempt.error = AttemptStatus.TEMPORARY, result.reason[:300]
            if item.kind == "reminder":
                continue
            target.temporary_retries += 1
            target.temporary_state = target.temporary_state or "unreachable"
            target.last_error = f"{item.channel}: {result.reason}"[:300]
            if target.temporary_retries < cfg("CAMPAIGN_TEMPORARY_RETRIES", 3):
                target.next_action_at = now + backoff(target.temporary_retries)
                continue
            target.temporary_retries = 0
            _channel_failed(campaign, target, now)
            continue
        if result == "unknown" or result.outcome is Outcome.SENT:
            stats.sent += 1
            if result == "unknown":
                attempt.status, attempt.error = AttemptStatus.UNKNOWN, "outcome unknown after a crash; not re-sent"
            else:
                attempt.status, attempt.provider_id, attempt.code = AttemptStatus.SENT, result.provider_id, result.code
                attempt.provider = item.channel if item.channel != "sms" else sms_provider
            if item.kind == "invitation":
                _mark_sent(campaign, target, item.channel, now)
            else:
                target.next_action_at = _next_reminder_at(campaign, target)
            continue
        stats.failed += 1
        attempt.status = AttemptStatus.INVALID if result.outcome is Outcome.INVALID else AttemptStatus.REFUSED
        attempt.code, attempt.error = result.code, (result.message or result.code or "")[:300]
        if item.kind == "reminder":
            target.next_action_at = _next_reminder_at(campaign, target)
            continue
        target.last_error = f"{item.channel}: {result.code} {result.message or ''}".strip()[:300]
        if result.outcome is Outcome.INVALID:  # a wrong number does not become right by retrying
            target.temporary_state = "empty_number" if result.code in EMPTY_NUMBER_CODES else "wrong_number"
            target.channel_failures = 10 ** 6
        else:
            target.temporary_state = "unreachable"
        _channel_failed(campaign, target, now)
    if rows:
        db.session.execute(sa.update(SendAttempt), rows)
    _uniform_updates(targets.values())
    db.session.flush()
    for target in targets.values():
        if target.state is TargetState.QUEUED and target.channel_index >= len(campaign.channel_plan):
            ctx = ctx or _Context(campaign, [], now)
            _finalize(ctx, target, _unreached_state(target), target.last_error or "every channel of the plan failed")
            stats.finalized += 1
    return stats


@dataclass
class _Outcome:
    """What _apply writes to one attempt row (every key always present, so one executemany)."""

    id: int
    finished_at: datetime
    status: AttemptStatus = AttemptStatus.SENT
    error: Optional[str] = None
    provider: Optional[str] = None
    provider_id: Optional[str] = None
    code: Optional[str] = None


def _channel_failed(campaign: Campaign, target: CampaignTarget, now: datetime) -> None:
    """One more failure on the current channel: retry it later, or the next channel takes over now."""
    target.channel_failures += 1
    channel = campaign.channel_plan[min(target.channel_index, len(campaign.channel_plan) - 1)]
    allowed = (campaign.attempts_per_channel or {}).get(channel, 1)
    if target.channel_failures < allowed:
        target.next_action_at = now + backoff(target.channel_failures)
    else:
        _next_channel(target)
        target.next_action_at = now


def _mark_sent(campaign: Campaign, target: CampaignTarget, channel: str, now: datetime) -> None:
    target.state = TargetState.SENT
    target.reached_channel = channel
    target.temporary_state = "waiting"
    target.first_sent_at = target.first_sent_at or now
    target.channel_failures = target.temporary_retries = 0
    target.next_action_at = _next_reminder_at(campaign, target)


def _finalize(ctx: _Context, target: CampaignTarget, final: FinalState, reason: str, followup: bool = True) -> None:
    """A temporary state becomes final (Appendix F); unreached and unanswered clients go to the
    follow-up list for a phone review; a mandatory step's business is told to keep its flow paused."""
    now = ctx.now
    target.state = {FinalState.UNANSWERED: TargetState.UNANSWERED,
                    FinalState.DO_NOT_CONTACT: TargetState.EXCLUDED}.get(final, TargetState.UNREACHED)
    target.final_state = final
    target.next_action_at = None
    target.finished_at = now
    if followup:
        db.session.add(FollowUp(target_id=target.id, campaign_id=target.campaign_id, client_id=target.client_id,
                                final_state=final, reason=reason[:300], created_at=now))
    if target.invitation_id is not None and final in COMPLETION_OF:
        exists = db.session.scalar(sa.select(ReviewRegistration.id).where(
            ReviewRegistration.invitation_id == target.invitation_id))
        if exists is None:
            invitation = db.session.get(Invitation, target.invitation_id)
            db.session.add(ReviewRegistration(
                client_id=target.client_id, invitation_id=target.invitation_id, review_type=invitation.review_type,
                channel=invitation.channel, completion_status=COMPLETION_OF[final], registered_at=now))
    db.session.flush()
    _tell_business(target, final, reason)
    record("worker", "campaign.target_final", "campaign_target", target.id,
           {"campaign": target.campaign_id, "final_state": final.value, "reason": reason[:200]})


def _tell_business(target: CampaignTarget, final: FinalState, reason: str) -> None:
    """Appendix F: for a mandatory business step the business keeps its flow paused."""
    api_key_id, url = target.api_key_id, target.callback_url
    session = None
    if target.invitation_id is not None:
        from app.mandatory.service import session_for_invitation

        session = session_for_invitation(target.invitation_id)
        if session is not None and session.callback_url:
            api_key_id, url = session.api_key_id, session.callback_url
    if not (target.mandatory or session is not None) or not (api_key_id and url):
        return
    from app.webhooks.service import emit

    invitation = db.session.get(Invitation, target.invitation_id) if target.invitation_id else None
    client = db.session.get(Client, target.client_id)
    emit("review.unreached", {
        "campaign_id": target.campaign_id, "client_account": client.account,
        "invitation_id": invitation.public_id if invitation else None,
        "mandatory_session_id": session.public_id if session is not None else None,
        "final_state": final.value, "keep_paused": True, "reason": reason[:200],
    }, api_key_id=api_key_id, callback_url=url)


def _maybe_finish(campaign_id: int, now: datetime) -> bool:
    """A running campaign with no open target is finished."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.RUNNING:
        return False
    # One row is enough to know (a count would walk every open target on each pass).
    open_one = db.session.scalar(sa.select(CampaignTarget.id).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.state.in_(ACTIVE_STATES)).limit(1))
    if open_one is not None:
        return False
    campaign.status = CampaignStatus.FINISHED
    campaign.finished_at = now
    record("worker", "campaign.finish", "campaign", campaign.id, {})
    return True


# ---------------------------------------------------------------- receipts

class ReceiptTooEarly(Exception):
    """A receipt for an attempt whose send outcome is not recorded yet: the provider should retry."""


def apply_receipt(provider: str, receipt, now: Optional[datetime] = None) -> Optional[SendAttempt]:
    """A provider's delivery report updates its attempt; a failed invitation send falls back."""
    now = now or utcnow()
    query = sa.select(SendAttempt)
    if receipt.idempotency_key:
        query = query.where(SendAttempt.idempotency_key == receipt.idempotency_key)
    else:
        query = query.where(SendAttempt.provider_id == receipt.provider_id)
    attempt = db.session.scalars(query.order_by(SendAttempt.id.desc()).limit(1)).one_or_none()
    if attempt is None:
        return None
    if attempt.status in (AttemptStatus.DELIVERED, AttemptStatus.FAILED):
        return attempt  # a repeated receipt changes nothing
    if attempt.status is AttemptStatus.SENDING:
        # The send phase has not written its outcome yet (a receipt can beat the end of a large
        # batch); applied now, it would be overwritten by that outcome and lost.
        raise ReceiptTooEarly(attempt.idempotency_key)
    attempt.receipt_at = now
    attempt.code = (receipt.code or attempt.code or "")[:100]
    if receipt.delivered:
        attempt.status = AttemptStatus.DELIVERED
        db.session.flush()
        return attempt
    attempt.status = AttemptStatus.FAILED
    attempt.error = (receipt.message or receipt.code or "not delivered")[:300]
    target = lock_for_update(CampaignTarget, attempt.target_id)
    campaign = db.session.get(Campaign, attempt.campaign_id)
    if attempt.kind == "invitation" and target.state is TargetState.SENT and target.reached_channel == attempt.channel:
        # The send was accepted but never arrived: that channel failed after all (Appendix F).
        target.state = TargetState.QUEUED
        target.reached_channel = None
        target.temporary_state = "empty_number" if receipt.code in EMPTY_NUMBER_CODES else "unreachable"
        target.last_error = f"{attempt.channel}: {attempt.error}"[:300]
        _channel_failed(campaign, target, now)
        target.first_sent_at = None if target.reminders_sent == 0 else target.first_sent_at
    db.session.flush()
    record(f"provider:{provider}", "campaign.receipt", "send_attempt", attempt.id,
           {"status": attempt.status.value, "code": attempt.code})
    return attempt
