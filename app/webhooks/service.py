"""Signed callbacks: write events to the outbox, deliver them at least once, replay dead ones.

An event is a row written in the caller's transaction together with a delivery job
(app.jobs), so a crash at any moment either loses both or neither. The job's handler POSTs the
same bytes with the same webhook-id on every attempt, signed to Standard Webhooks v1, on the
schedule below; 410 Gone disables the endpoint; after the last attempt the event is dead and
staff or the API can replay it.
"""
from __future__ import annotations

import json
import logging
import random
import secrets
import threading
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Optional
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from app import sealing
from app.api.models import ApiKey
from app.audit.service import record
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job
from app.phrases import phrase
from app.reviews.signals import linked_row
from app.webhooks import sender, signing
from app.webhooks.models import (
    AttemptOutcome, DeliveryAttempt, DisabledEndpoint, EventStatus, InvitationCallback, WebhookEvent,
)

log = logging.getLogger(__name__)

DELIVER_KIND = "webhooks.deliver"
# Seconds before attempt n+1 (attempt 1 is immediate): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
JITTER = 0.1  # each wait is stretched or shortened by up to 10 % so retries do not arrive in lockstep
MAX_RETRY_AFTER = 24 * 3600


class CallbackUrlError(ValueError):
    """A callback URL that may not be used; names the field and why (422 on callback_url).

    str() is "field: reason" in English; `message` is the reason alone (a phrase, for pages)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- emitting -----------------------------------------------------------------------------------

def check_callback_url(api_key: ApiKey, url: object, field: str = "callback_url") -> str:
    """The URL if the key may send callbacks there: http(s), no credentials, under an allowed prefix."""
    if not isinstance(url, str) or not url:
        raise CallbackUrlError(field, phrase("must be a URL string"))
    if len(url) > 2000:
        raise CallbackUrlError(field, phrase("longer than %(most)d characters", most=2000))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackUrlError(field, phrase("must be an absolute http(s) URL"))
    if parts.username or parts.password or "@" in parts.netloc:
        raise CallbackUrlError(field, phrase("must not contain credentials"))
    prefixes = [p for p in (api_key.callback_prefixes or []) if p]
    if not any(url.startswith(prefix) for prefix in prefixes):
        # No callbacks to arbitrary (e.g. internal) addresses: only where the key's owner allowed.
        if not prefixes:
            raise CallbackUrlError(field, phrase("not under an allowed callback prefix of this API key "
                                                 "(none configured (flask api-keys create --callback-prefix))"))
        raise CallbackUrlError(field, phrase("not under an allowed callback prefix of this API key (%(allowed)s)",
                                             allowed=", ".join(prefixes)))
    if not api_key.webhook_secret:  # none yet, or none that SECRET_KEYS opens: a new one mends both
        raise CallbackUrlError(field, phrase("this API key has no webhook secret this server can use; run "
                                             "`flask api-keys rotate-secret %(name)s`", name=api_key.name))
    if endpoint_disabled(api_key.id, url):
        raise CallbackUrlError(field, phrase("this endpoint answered 410 Gone and is disabled; enable it again "
                                             "(POST /api/v1/webhooks/endpoints/enable) first"))
    return url


def new_message_id() -> str:
    """A webhook-id: 'msg_' + 128 random bits."""
    return "msg_" + secrets.token_urlsafe(16)


def emit(event_type: str, data: dict, *, api_key_id: int, callback_url: str) -> WebhookEvent:
    """Write a signed-callback event to the outbox in the current transaction (delivered at least once)."""
    created = utcnow()
    message_id = new_message_id()
    body = json.dumps({"type": event_type, "timestamp": created.isoformat().replace("+00:00", "Z"), "data": data},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    event = WebhookEvent(message_id=message_id, api_key_id=api_key_id, event_type=event_type,
                         callback_url=callback_url, body=body, status=EventStatus.PENDING,
                         created_at=created, next_attempt_at=jobs.now())
    db.session.add(event)
    db.session.flush()
    _enqueue_delivery(event)
    return event


def _enqueue_delivery(event: WebhookEvent) -> Job:
    return jobs.enqueue(DELIVER_KIND, {"event_id": event.id}, dedupe_key=f"webhook:{event.id}:{event.replays}",
                        max_attempts=len(SCHEDULE) + 5)


def register_invitation_callback(invitation_id: int, api_key: ApiKey, callback_url: str) -> InvitationCallback:
    """Report this ordinary invitation's completion or expiry to callback_url (checked first); flushes."""
    row = InvitationCallback(invitation_id=invitation_id, api_key_id=api_key.id,
                             callback_url=check_callback_url(api_key, callback_url))
    db.session.add(row)
    db.session.flush()
    return row


# --- delivering ---------------------------------------------------------------------------------

def endpoint_disabled(api_key_id: int, url: str) -> Optional[DisabledEndpoint]:
    """The disabled-endpoint row for this key and URL, if it answered 410."""
    return db.session.scalars(
        sa.select(DisabledEndpoint).where(DisabledEndpoint.api_key_id == api_key_id, DisabledEndpoint.url == url)
    ).one_or_none()


def next_delay(round_attempts: int, retry_after: Optional[float]) -> float:
    """Seconds until the next attempt after `round_attempts` failed ones, jittered; Retry-After is a floor."""
    delay = SCHEDULE[round_attempts] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def _sign_and_post(message_id: str, url: str, body: str, keys: list[str], timeout: float) -> sender.SendResult:
    """Sign at the moment of sending (wall clock: receivers reject stale timestamps) and POST once."""
    timestamp = int(utcnow().timestamp())
    headers = signing.headers(keys, message_id, timestamp, body)
    return sender.post(url, body.encode(), headers, timeout)


def disable_endpoint(api_key_id: int, url: str, reason: str, actor: str = "worker") -> DisabledEndpoint:
    """Stop delivering to this key's URL (after 410 Gone); flushes and audits."""
    row = endpoint_disabled(api_key_id, url)
    if row is None:
        row = DisabledEndpoint(api_key_id=api_key_id, url=url, reason=reason[:300], disabled_at=jobs.now())
        db.session.add(row)
        db.session.flush()
        record(actor, "webhook.endpoint_disabled", "api_key", api_key_id, {"url": url, "reason": reason})
    return row


def enable_endpoint(api_key_id: int, url: str, actor: str) -> bool:
    """Deliver to this URL again; False when it was not disabled. Flushes and audits."""
    row = endpoint_disabled(api_key_id, url)
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    record(actor, "webhook.endpoint_enabled", "api_key", api_key_id, {"url": url})
    return True


@jobs.handler(DELIVER_KIND, lease_seconds=60, max_attempts=len(SCHEDULE) + 5)
def deliver(payload: dict, job: Job) -> None:
    """One delivery attempt of an event; schedules the next one or dead-letters it.

    The per-job form of `deliver_batch` (one implementation): its writes are flushed here and
    committed by the job runner with the outcome; RetryLater/GiveUp carry the decision.
    """
    claimed = jobs.ClaimedJob(job.id, job.kind, payload, job.attempts, job.max_attempts, job.lease_owner)
    outcome: dict[int, Optional[BaseException]] = {}

    def report(outcomes, write=None) -> set[int]:
        if write is not None:
            write({job.id})
        outcome.update(outcomes)
        return {job.id}

    deliver_batch([claimed], report)
    error = outcome.get(job.id)
    if error is not None:
        raise error


# --- the batch path: what one worker actually runs -----------------------------------------------
#
# The worker runs the claimed delivery jobs of a pass together (`deliver` above is the same code
# for one job, for callers of jobs.run_job): one query loads the events, their keys' secrets and the
# disabled endpoints; the POSTs go out concurrently on a per-process thread pool, each thread
# keeping its own keep-alive connections (sender.py); the outcomes are recorded as they arrive,
# a group at a time, each group in ONE transaction (job outcomes, attempt rows, event rows), so
# a slow receiver does not hold back the others' records and a worker killed mid-batch only
# redelivers what was not yet recorded. A worker takes its next batch once every request of this
# one has answered or timed out (WEBHOOK_TIMEOUT_SECONDS), so one slow receiver can hold a worker
# for up to the timeout; run more workers when receivers are slow.

_pool_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None
_pool_size = 0


def _executor(size: int) -> ThreadPoolExecutor:
    """The process's delivery threads (created on first use, resized if the setting changes)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=True)  # idle between batches: returns at once
                sender.close_finished_threads()
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhook-send")
            _pool_size = size
        return _pool


class _Pending:
    """What the batch needs of one event, read once before sending (plain values, no ORM objects)."""

    __slots__ = ("job", "event_id", "message_id", "api_key_id", "url", "body", "attempt_count", "round_attempts",
                 "last_status_code", "revoked", "keys", "status")

    def __init__(self, job, row) -> None:
        self.job = job
        self.event_id = row.id
        self.message_id = row.message_id
        self.api_key_id = row.api_key_id
        self.url = row.callback_url
        self.body = row.body
        self.status = row.status
        self.attempt_count = row.attempt_count
        self.round_attempts = row.round_attempts
        self.last_status_code = row.last_status_code
        self.revoked = row.revoked_at is not None
        # Empty when no key of SECRET_KEYS opens them: signing then fails and the event is retried.
        self.keys = [k for k in (sealing.unseal(row.webhook_secret_sealed, sealing.WEBHOOK),
                                 sealing.unseal(row.webhook_secret_previous_sealed, sealing.WEBHOOK)) if k]


_EVENT_COLUMNS = ("status", "attempt_count", "round_attempts", "next_attempt_at", "last_status_code",
                  "last_error", "delivered_at", "dead_at")


def _event_values(item: _Pending, **changes) -> dict:
    """One parameter row of the executemany UPDATE of events (callers give every _EVENT_COLUMNS value)."""
    return {"b_id": item.event_id, **{f"b_{k}": v for k, v in changes.items()}}


@jobs.batch_handler(DELIVER_KIND)
def deliver_batch(claimed: list, report) -> None:
    """Deliver the claimed events concurrently; record each group of outcomes in one transaction."""
    config = current_app.config
    timeout = config.get("WEBHOOK_TIMEOUT_SECONDS", 15)
    record_every = config.get("WEBHOOK_RECORD_INTERVAL_SECONDS", 0.05)
    executor = _executor(int(config.get("WEBHOOK_CONCURRENCY", 8)))
    event_ids = {job.id: job.payload.get("event_id") for job in claimed}
    t = WebhookEvent.__table__
    rows = {row.id: row for row in db.session.execute(
        sa.select(t.c.id, t.c.message_id, t.c.api_key_id, t.c.callback_url, t.c.body, t.c.status,
                  t.c.attempt_count, t.c.round_attempts, t.c.last_status_code, ApiKey.revoked_at, ApiKey.webhook_secret_sealed,
                  ApiKey.webhook_secret_previous_sealed)
        .join(ApiKey, ApiKey.id == t.c.api_key_id)
        .where(t.c.id.in_({i for i in event_ids.values() if i is not None}))
    )}
    key_ids = {row.api_key_id for row in rows.values()}
    disabled = set(db.session.execute(
        sa.select(DisabledEndpoint.api_key_id, DisabledEndpoint.url).where(DisabledEndpoint.api_key_id.in_(key_ids))
    ).tuples()) if key_ids else set()
    db.session.rollback()  # end the read transaction: nothing is held while the requests are out

    immediate: dict[int, Optional[BaseException]] = {}
    dead_now: dict[int, tuple[_Pending, str]] = {}
    futures: dict[Future, _Pending] = {}
    seen_events: set[int] = set()
    for job in claimed:
        row = rows.get(event_ids[job.id])
        if row is None:
            immediate[job.id] = jobs.GiveUp(f"webhook event {job.payload.get('event_id')} does not exist")
            continue
        item = _Pending(job, row)
        if item.status is not EventStatus.PENDING:
            immediate[job.id] = None  # delivered already (e.g. a replayed job raced a late success)
        elif item.event_id in seen_events:
            immediate[job.id] = jobs.RetryLater(5, "another job of this event is in the same batch")
        elif item.revoked:
            dead_now[job.id] = (item, "the API key was revoked")
        elif (item.api_key_id, item.url) in disabled:
            dead_now[job.id] = (item, "endpoint disabled (it answered 410 Gone)")
        else:
            seen_events.add(item.event_id)
            futures[executor.submit(_sign_and_post, item.message_id, item.url, item.body, item.keys, timeout)] = item

    if immediate or dead_now:
        outcomes = dict(immediate)
        gone = {"endpoint disabled (it answered 410 Gone)": "endpoint disabled"}
        outcomes.update({job_id: jobs.GiveUp(gone.get(reason, reason)) for job_id, (_i, reason) in dead_now.items()})
        at = jobs.now()

        def record_dead(kept: set[int]) -> None:
            _write_events([_event_values(item, **_dead(item, reason, at)) for job_id, (item, reason)
                           in dead_now.items() if job_id in kept])

        report(outcomes, record_dead)

    pending = set(futures)
    while pending:
        # Everything finished, or record_every passed: record what has arrived (one transaction).
        done, pending = wait(pending, timeout=record_every, return_when=ALL_COMPLETED)
        if not done:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
        _record_results([(futures[f], f.exception() or f.result()) for f in done], report)


def _dead(item: _Pending, reason: str, at: datetime, **changes) -> dict:
    values = dict(status=EventStatus.DEAD, attempt_count=item.attempt_count, round_attempts=item.round_attempts,
                  next_attempt_at=None, last_status_code=changes.pop("last_status_code", item.last_status_code),
                  last_error=reason[:500], delivered_at=None, dead_at=at)
    values.update(changes)
    return values


def _record_results(results: list, report) -> None:
    """Decide every arrived attempt as `deliver` does, then record them all in one transaction."""
    at = jobs.now()
    outcomes: dict[int, Optional[BaseException]] = {}
    attempts: dict[int, dict] = {}
    events: dict[int, dict] = {}
    gone: dict[int, _Pending] = {}
    for item, result in results:
        job = item.job
        if isinstance(result, BaseException):  # not an HTTP outcome (e.g. no secret to sign with)
            log.error("webhook event %s: sending failed: %r", item.event_id, result)
            outcomes[job.id] = result  # retried with backoff, nothing written, as in `deliver`
            continue
        number = item.attempt_count + 1
        round_attempts = item.round_attempts + 1
        attempts[job.id] = dict(
            event_id=item.event_id, number=number, attempted_at=at, outcome=AttemptOutcome(result.outcome),
            status_code=result.status_code, latency_ms=result.latency_ms, error=result.error,
            response_excerpt=result.excerpt, worker_id=job.lease_owner,
        )
        common = dict(attempt_count=number, round_attempts=round_attempts, last_status_code=result.status_code)
        if result.outcome == "success":
            outcomes[job.id] = None
            events[job.id] = _event_values(item, status=EventStatus.DELIVERED, next_attempt_at=None, last_error=None,
                                           delivered_at=at, dead_at=None, **common)
            continue
        last_error = (result.error or result.outcome)[:500]
        if result.status_code == 410:
            gone[job.id] = item
            outcomes[job.id] = jobs.GiveUp("410 Gone: endpoint disabled")
            events[job.id] = _event_values(item, **_dead(item, "the endpoint answered 410 Gone and is now disabled",
                                                         at, **common))
        elif round_attempts >= len(SCHEDULE) or job.attempts >= job.max_attempts:
            reason = f"no success after {round_attempts} attempts; last: {last_error}"
            outcomes[job.id] = jobs.GiveUp(reason[:500])
            events[job.id] = _event_values(item, **_dead(item, reason, at, **common))
        else:
            delay = next_delay(round_attempts, result.retry_after)
            outcomes[job.id] = jobs.RetryLater(delay, last_error)
            events[job.id] = _event_values(item, status=EventStatus.PENDING, next_attempt_at=at + timedelta(seconds=delay),
                                           last_error=last_error, delivered_at=None, dead_at=None, **common)

    def write(kept: set[int]) -> None:
        rows = [attempts[i] for i in sorted(kept) if i in attempts]
        if rows:  # one multi-row INSERT
            db.session.execute(sa.insert(DeliveryAttempt.__table__), rows)
        _write_events([events[i] for i in sorted(kept) if i in events])
        for job_id in sorted(kept & set(gone)):
            disable_endpoint(gone[job_id].api_key_id, gone[job_id].url, "answered 410 Gone")

    report(outcomes, write)


def _write_events(rows: list[dict]) -> None:
    """UPDATE many events by id in one executemany statement."""
    if not rows:
        return
    t = WebhookEvent.__table__
    db.session.execute(
        sa.update(t).where(t.c.id == sa.bindparam("b_id"))
        .values({c: sa.bindparam(f"b_{c}", type_=t.c[c].type) for c in _EVENT_COLUMNS}),
        rows,
    )


# --- staff and API actions ----------------------------------------------------------------------

def replay(event: WebhookEvent, actor: str) -> WebhookEvent:
    """Deliver a dead (or delivered) event again: same webhook-id and body, a new schedule round."""
    event.replays += 1
    event.status = EventStatus.PENDING
    event.round_attempts = 0
    event.dead_at = None
    event.delivered_at = None
    event.next_attempt_at = jobs.now()
    db.session.flush()
    _enqueue_delivery(event)
    record(actor, "webhook.replay", "webhook_event", event.id,
           {"message_id": event.message_id, "replays": event.replays})
    return event


def get_event(message_id: str, api_key_id: Optional[int] = None) -> Optional[WebhookEvent]:
    """An event by its webhook-id (restricted to one API key when given)."""
    query = sa.select(WebhookEvent).where(WebhookEvent.message_id == message_id)
    if api_key_id is not None:
        query = query.where(WebhookEvent.api_key_id == api_key_id)
    return db.session.scalars(query).one_or_none()


def list_events(*, api_key_id: Optional[int] = None, status: Optional[EventStatus] = None,
                limit: int = 50, before_id: Optional[int] = None) -> list[WebhookEvent]:
    """Newest events first, optionally of one key and one state."""
    query = sa.select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
    if api_key_id is not None:
        query = query.where(WebhookEvent.api_key_id == api_key_id)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    if before_id is not None:
        query = query.where(WebhookEvent.id < before_id)
    return list(db.session.scalars(query))


def event_json(event: WebhookEvent, with_attempts: bool = True) -> dict:
    """An event as the API shows it."""
    body = {
        "id": event.message_id,
        "type": event.event_type,
        "status": event.status.value,
        "callback_url": event.callback_url,
        "created_at": event.created_at.isoformat(),
        "delivered_at": event.delivered_at.isoformat() if event.delivered_at else None,
        "dead_at": event.dead_at.isoformat() if event.dead_at else None,
        "next_attempt_at": event.next_attempt_at.isoformat() if event.next_attempt_at else None,
        "attempt_count": event.attempt_count,
        "replays": event.replays,
        "last_status_code": event.last_status_code,
        "last_error": event.last_error,
        "payload": json.loads(event.body),
    }
    if with_attempts:
        body["attempts"] = [attempt_json(a) for a in event.attempts]
    return body


def attempt_json(attempt: DeliveryAttempt) -> dict:
    """One delivery attempt as the API shows it."""
    return {"number": attempt.number, "attempted_at": attempt.attempted_at.isoformat(),
            "outcome": attempt.outcome.value, "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms, "error": attempt.error}


# --- ordinary invitations -----------------------------------------------------------------------

def invitation_event_data(invitation, response=None, status: Optional[str] = None) -> dict:
    """The data of an invitation.* event: ids, status and the receipt, no answers (GET them)."""
    data = {
        "invitation_id": invitation.public_id,
        "status": status,
        "client_account": invitation.client.account,
        "questionnaire": {"key": invitation.version.questionnaire.key, "version": invitation.version.number,
                          "content_hash": invitation.version.content_hash},
        "review_type": invitation.review_type.value,
    }
    if response is not None:
        data.update(receipt_no=response.receipt_no, completed_at=response.submitted_at.isoformat(),
                    flagged_count=_flag_count(response.id))
    return data


def _flag_count(response_id: int) -> int:
    from app.reviews.models import ReviewException

    return db.session.scalar(sa.select(sa.func.count()).select_from(ReviewException)
                             .where(ReviewException.response_id == response_id)) or 0


# The name of this area's row in response_stored's `linked` (routes.py declares it).
INVITATION_LINK = "invitation_callback"


def on_response_stored(response, invitation, linked: dict, **_kw) -> None:
    """Receiver of reviews.signals.response_stored: an invitation.* event if a callback was asked for.

    Runs inside the submit transaction, so the event commits with the response (outbox).
    'exception' means at least one flagged answer (8.4), 'completed' none.
    """
    callback = linked_row(db.session, linked, INVITATION_LINK, InvitationCallback)
    if callback is None:
        return
    status = "exception" if response.flagged else "completed"
    emit(f"invitation.{status}", invitation_event_data(invitation, response, status),
         api_key_id=callback.api_key_id, callback_url=callback.callback_url)


EXPIRY_SWEEP_KIND = "webhooks.invitation_expiry_sweep"


@jobs.handler(EXPIRY_SWEEP_KIND, lease_seconds=300, max_attempts=1)
def invitation_expiry_sweep(payload: dict, job: Job) -> None:
    """Emit invitation.expired once for each invitation with a callback that passed its deadline unanswered."""
    expire_invitation_callbacks(jobs.now())


def expire_invitation_callbacks(at: datetime, limit: int = 500) -> int:
    """Write invitation.expired events for overdue invitations with callbacks; returns how many."""
    from app.reviews.models import Invitation, InvitationStatus

    rows = db.session.execute(
        sa.select(InvitationCallback, Invitation)
        .join(Invitation, Invitation.id == InvitationCallback.invitation_id)
        .where(InvitationCallback.expired_reported_at.is_(None), Invitation.expires_at <= at,
               Invitation.status.in_([InvitationStatus.PENDING, InvitationStatus.OPENED]))
        .limit(limit)
    ).all()
    for callback, invitation in rows:
        callback.expired_reported_at = at
        emit("invitation.expired", invitation_event_data(invitation, status="expired"),
             api_key_id=callback.api_key_id, callback_url=callback.callback_url)
    db.session.flush()
    return len(rows)


jobs.periodic(EXPIRY_SWEEP_KIND, 60)
