"""Signed callbacks: write events to the outbox, deliver them at least once, replay dead ones.

An event is a row written in the caller's transaction together with a delivery job
(app.jobs), so a crash at any moment either loses both or neither. The job's handler POSTs the
same bytes with the same webhook-id on every attempt, signed to Standard Webhooks v1, on the
schedule below; 410 Gone disables the endpoint; after the last attempt the event is dead and
staff or the API can replay it.
"""
from __future__ import annotations

import json
import random
import secrets
from datetime import datetime, timedelta
from typing import Optional
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from app.api.models import ApiKey
from app.audit.service import record
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job
from app.webhooks import sender, signing
from app.webhooks.models import (
    AttemptOutcome, DeliveryAttempt, DisabledEndpoint, EventStatus, InvitationCallback, WebhookEvent,
)

DELIVER_KIND = "webhooks.deliver"
# Seconds before attempt n+1 (attempt 1 is immediate): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
JITTER = 0.1  # each wait is stretched or shortened by up to 10 % so retries do not arrive in lockstep
MAX_RETRY_AFTER = 24 * 3600


class CallbackUrlError(ValueError):
    """A callback URL that may not be used; the message says why (422 on callback_url)."""


# --- emitting -----------------------------------------------------------------------------------

def check_callback_url(api_key: ApiKey, url: object, field: str = "callback_url") -> str:
    """The URL if the key may send callbacks there: http(s), no credentials, under an allowed prefix."""
    if not isinstance(url, str) or not url:
        raise CallbackUrlError(f"{field}: must be a URL string")
    if len(url) > 2000:
        raise CallbackUrlError(f"{field}: longer than 2000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackUrlError(f"{field}: must be an absolute http(s) URL")
    if parts.username or parts.password or "@" in parts.netloc:
        raise CallbackUrlError(f"{field}: must not contain credentials")
    prefixes = [p for p in (api_key.callback_prefixes or []) if p]
    if not any(url.startswith(prefix) for prefix in prefixes):
        # No callbacks to arbitrary (e.g. internal) addresses: only where the key's owner allowed.
        allowed = ", ".join(prefixes) if prefixes else "none configured (flask api-keys create --callback-prefix)"
        raise CallbackUrlError(f"{field}: not under an allowed callback prefix of this API key ({allowed})")
    if not api_key.webhook_secret:
        raise CallbackUrlError(f"{field}: this API key has no webhook secret yet; run "
                               f"`flask api-keys rotate-secret {api_key.name}`")
    if endpoint_disabled(api_key.id, url):
        raise CallbackUrlError(f"{field}: this endpoint answered 410 Gone and is disabled; enable it again "
                               f"(POST /api/v1/webhooks/endpoints/enable) first")
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


def _signing_secrets(api_key: ApiKey) -> list[str]:
    return [s for s in (api_key.webhook_secret, api_key.webhook_secret_previous) if s]


def send_once(event: WebhookEvent) -> sender.SendResult:
    """POST the event to its callback URL once, signed with the key's active secrets."""
    timestamp = int(utcnow().timestamp())  # wall clock: receivers reject stale timestamps
    headers = signing.headers(_signing_secrets(event.api_key), event.message_id, timestamp, event.body)
    return sender.post(event.callback_url, event.body.encode(), headers,
                       current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", 15))


def _mark_dead(event: WebhookEvent, reason: str) -> None:
    event.status = EventStatus.DEAD
    event.dead_at = jobs.now()
    event.next_attempt_at = None
    event.last_error = reason[:500]
    db.session.flush()


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
    """One delivery attempt of an event; schedules the next one or dead-letters it."""
    event = db.session.get(WebhookEvent, payload["event_id"])
    if event is None:
        raise jobs.GiveUp(f"webhook event {payload['event_id']} does not exist")
    if event.status is not EventStatus.PENDING:
        return  # delivered already (e.g. a replayed job raced a late success)
    if event.api_key.revoked_at is not None:
        _mark_dead(event, "the API key was revoked")
        raise jobs.GiveUp("the API key was revoked")
    if endpoint_disabled(event.api_key_id, event.callback_url):
        _mark_dead(event, "endpoint disabled (it answered 410 Gone)")
        raise jobs.GiveUp("endpoint disabled")
    result = send_once(event)
    at = jobs.now()
    event.attempt_count += 1
    event.round_attempts += 1
    event.last_status_code = result.status_code
    db.session.add(DeliveryAttempt(
        event_id=event.id, number=event.attempt_count, attempted_at=at, outcome=AttemptOutcome(result.outcome),
        status_code=result.status_code, latency_ms=result.latency_ms, error=result.error,
        response_excerpt=result.excerpt, worker_id=job.lease_owner,
    ))
    if result.outcome == "success":
        event.status = EventStatus.DELIVERED
        event.delivered_at = at
        event.next_attempt_at = None
        event.last_error = None
        db.session.flush()
        return
    event.last_error = (result.error or result.outcome)[:500]
    if result.status_code == 410:
        disable_endpoint(event.api_key_id, event.callback_url, "answered 410 Gone")
        _mark_dead(event, "the endpoint answered 410 Gone and is now disabled")
        raise jobs.GiveUp("410 Gone: endpoint disabled")
    if event.round_attempts >= len(SCHEDULE) or job.attempts >= job.max_attempts:
        _mark_dead(event, f"no success after {event.round_attempts} attempts; last: {event.last_error}")
        raise jobs.GiveUp(event.last_error)
    delay = next_delay(event.round_attempts, result.retry_after)
    event.next_attempt_at = at + timedelta(seconds=delay)
    db.session.flush()
    raise jobs.RetryLater(delay, event.last_error)


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


def on_response_stored(response, invitation, **_kw) -> None:
    """Receiver of reviews.signals.response_stored: an invitation.* event if a callback was asked for.

    Runs inside the submit transaction, so the event commits with the response (outbox).
    'exception' means at least one flagged answer (8.4), 'completed' none.
    """
    callback = db.session.scalars(
        sa.select(InvitationCallback).where(InvitationCallback.invitation_id == invitation.id)
    ).one_or_none()
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
