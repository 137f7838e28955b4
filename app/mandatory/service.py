"""Mandatory sessions: open (idempotently), finish from the submit transaction, cancel, expire.

Standard 5.2.3: a questionnaire set as a mandatory step that the client cannot close, triggered
by the business system; 7.3.3 a): a new account stays unusable until its review is done. The
business system opens a session, shows its URL (top level, iframe or WebView), and continues
only on `completed`; `exception` (a flagged answer, 8.4) keeps the flow blocked for staff.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from flask import current_app

from app.api.models import ApiKey
from app.audit.service import record
from app.clients.service import get_client_by_account
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job
from app.locking import lock_for_update
from app.mandatory import tokens
from app.mandatory.models import MandatorySession, SessionStatus
from app.phrases import phrase
from app.reviews import service as reviews
from app.reviews.models import Invitation, InvitationStatus, ReviewException, Response
from app.reviews.signals import linked_row
from app.webhooks import service as webhooks

MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 90 * 86400
DEFAULT_EXPIRES_IN = 7 * 86400
SESSION_FIELDS = {"client_account", "questionnaire", "review_type", "business_ref", "context", "callback_url",
                  "return_url", "expires_in"}
EXPIRY_SWEEP_KIND = "mandatory.expiry_sweep"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body (409)."""


@dataclass(frozen=True)
class SessionRequest:
    """A checked POST /mandatory-sessions body."""

    client_account: str
    questionnaire_key: str
    version_number: Optional[int]
    review_type: Optional[str]
    business_ref: Optional[str]
    context: dict
    callback_url: Optional[str]
    return_url: Optional[str]
    expires_in: int


def request_hash(body: dict) -> str:
    """SHA-256 of the body in canonical JSON: the same request always hashes the same."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_return_url(api_key: ApiKey, url: object) -> str:
    """A return URL must lie under the key's callback prefixes or frame origins (no open redirect)."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise reviews.InvalidRequest("return_url", phrase("must be a URL string of at most 2000 characters"))
    parts = urlsplit(url)
    if not parts.scheme or parts.username or parts.password or parts.scheme.lower() in ("javascript", "data", "file"):
        raise reviews.InvalidRequest("return_url", phrase("must be an absolute URL without credentials"))
    allowed = any(url.startswith(p) for p in (api_key.callback_prefixes or []) if p) or any(
        url == o or url.startswith(o.rstrip("/") + "/") for o in (api_key.frame_origins or []) if o)
    if not allowed:
        raise reviews.InvalidRequest("return_url", phrase(
            "not under an allowed callback prefix or frame origin of this API key"))
    return url


def _pending_key(api_key_id: int, client_id: int, questionnaire_id: int, business_ref: Optional[str]) -> str:
    ref = hashlib.sha256((business_ref or "").encode()).hexdigest()[:32]
    return f"{api_key_id}:{client_id}:{questionnaire_id}:{ref}"


def find_by_idempotency_key(api_key_id: int, key: str) -> Optional[MandatorySession]:
    """The session an Idempotency-Key created."""
    return db.session.scalars(sa.select(MandatorySession).where(
        MandatorySession.api_key_id == api_key_id, MandatorySession.idempotency_key == key)).one_or_none()


def find_pending(pending_key: str) -> Optional[MandatorySession]:
    """The pending session for a client, questionnaire and business_ref."""
    return db.session.scalars(sa.select(MandatorySession).where(MandatorySession.pending_key == pending_key)).one_or_none()


def open_session(api_key: ApiKey, req: SessionRequest, body_hash: str, idempotency_key: Optional[str],
                 actor: str) -> tuple[MandatorySession, str]:
    """Create a session, or return the one this request already made; flushes.

    Returns (session, how): how is 'created', 'replayed' (same Idempotency-Key and body) or
    'reused' (a pending session for the same client, questionnaire and business_ref).
    Raises IdempotencyConflict, reviews.InvalidRequest (422 with the field).
    """
    if idempotency_key:
        existing = find_by_idempotency_key(api_key.id, idempotency_key)
        if existing is not None:
            if existing.request_hash != body_hash:
                raise IdempotencyConflict()
            return existing, "replayed"
    if req.callback_url is not None:
        try:
            webhooks.check_callback_url(api_key, req.callback_url)
        except webhooks.CallbackUrlError as exc:
            raise reviews.InvalidRequest("callback_url", exc.message) from None
    if req.return_url is not None:
        check_return_url(api_key, req.return_url)
    client = get_client_by_account(req.client_account)
    if client is None:
        raise reviews.InvalidRequest("client_account", phrase("unknown client account '%(account)s'",
                                                              account=req.client_account))
    version = reviews.resolve_version(req.questionnaire_key, req.version_number)
    pending_key = _pending_key(api_key.id, client.id, version.questionnaire_id, req.business_ref)
    pending = find_pending(pending_key)
    now = utcnow()
    if pending is not None:
        if pending.expires_at > now:
            return pending, "reused"
        expire_session(pending, now)  # overdue but not yet swept: report it, then open a new one
    expires_at = now + timedelta(seconds=req.expires_in)
    invitation = reviews.create_invitation(reviews.InvitationRequest(
        client_account=req.client_account, questionnaire_key=req.questionnaire_key,
        version_number=version.number, review_type=req.review_type, channel="app",
        context=req.context, expires_at=expires_at,
    ), actor)
    session = MandatorySession(
        public_id="ms_" + secrets.token_urlsafe(16), api_key_id=api_key.id, invitation_id=invitation.id,
        business_ref=req.business_ref, status=SessionStatus.PENDING, callback_url=req.callback_url,
        return_url=req.return_url, idempotency_key=idempotency_key, request_hash=body_hash,
        pending_key=pending_key, created_at=now, created_by=actor, expires_at=expires_at,
    )
    db.session.add(session)
    db.session.flush()
    record(actor, "mandatory_session.create", "mandatory_session", session.id,
           {"session": session.public_id, "invitation": invitation.public_id, "client": client.account,
            "questionnaire": version.label, "business_ref": req.business_ref})
    return session, "created"


# The name of this area's row in response_stored's `linked` (routes.py declares it).
INVITATION_LINK = "mandatory_session"


def session_for_invitation(invitation_id: int) -> Optional[MandatorySession]:
    """The mandatory session behind an invitation, if it is one."""
    return db.session.scalars(
        sa.select(MandatorySession).where(MandatorySession.invitation_id == invitation_id)
    ).one_or_none()


def get_session(public_id: str, api_key_id: Optional[int] = None) -> Optional[MandatorySession]:
    """A session by its public id (only the calling key's, when given)."""
    query = sa.select(MandatorySession).where(MandatorySession.public_id == public_id)
    if api_key_id is not None:
        query = query.where(MandatorySession.api_key_id == api_key_id)
    return db.session.scalars(query).one_or_none()


def effective_status(session: MandatorySession, now: datetime) -> SessionStatus:
    """The status now: a pending session past its deadline is expired even before the sweep."""
    if session.status is SessionStatus.PENDING and now >= session.expires_at:
        return SessionStatus.EXPIRED
    return session.status


def cancel_session(session: MandatorySession, actor: str) -> bool:
    """Cancel a pending session and its invitation; False when it had already finished. Flushes."""
    invitation = lock_for_update(Invitation, session.invitation_id)
    db.session.refresh(session)
    if session.status is not SessionStatus.PENDING or reviews.stored_response(invitation.id) is not None:
        return False
    now = utcnow()
    session.status = SessionStatus.CANCELLED
    session.finished_at = now
    session.pending_key = None
    invitation.status = InvitationStatus.CANCELLED
    invitation.cancelled_at = now
    db.session.flush()
    record(actor, "mandatory_session.cancel", "mandatory_session", session.id, {"session": session.public_id})
    return True


# --- URLs and tokens ----------------------------------------------------------------------------

def gate_token(session: MandatorySession) -> str:
    """The signed token of the session's gate URL (carries only the opaque public id)."""
    return tokens.sign_gate(current_app.config["SECRET_KEYS"], session.public_id)


def gate_url(session: MandatorySession) -> str:
    """The URL the business system shows to the client."""
    return reviews.public_url("mandatory.gate", token=gate_token(session))


def session_from_gate_token(token: str) -> Optional[MandatorySession]:
    """The session behind a gate token; TokenError when it does not verify."""
    public_id = tokens.verify_gate(current_app.config["SECRET_KEYS"], token,
                                   current_app.config["LINK_MAX_AGE_DAYS"] * 86400)
    return get_session(public_id)


def result_claims(session: MandatorySession) -> dict:
    """What a result token says: session id, final status, receipt number (no personal data)."""
    receipt = db.session.scalar(sa.select(Response.receipt_no).where(Response.id == session.response_id)) \
        if session.response_id else None
    return {"sid": session.public_id, "status": session.status.value, "receipt_no": receipt}


def result_token(session: MandatorySession) -> str:
    """The result token signed with the API key's webhook secret (previous secrets still verify)."""
    key = session.api_key
    return tokens.sign_result([key.webhook_secret_previous, key.webhook_secret], result_claims(session))


def return_url_with_token(session: MandatorySession) -> Optional[str]:
    """return_url with session_id and result_token added to its query."""
    if not session.return_url:
        return None
    separator = "&" if "?" in session.return_url else "?"
    return session.return_url + separator + urlencode({"session_id": session.public_id,
                                                       "result_token": result_token(session)})


# --- finishing ----------------------------------------------------------------------------------

def event_data(session: MandatorySession) -> dict:
    """The data of a mandatory_session.* callback: ids, status, receipt; answers via GET."""
    invitation = session.invitation
    data = {
        "session_id": session.public_id,
        "status": session.status.value,
        "business_ref": session.business_ref,
        "client_account": invitation.client.account,
        "review_type": invitation.review_type.value,
        "questionnaire": {"key": invitation.version.questionnaire.key, "version": invitation.version.number,
                          "content_hash": invitation.version.content_hash},
        "finished_at": session.finished_at.isoformat() if session.finished_at else None,
    }
    if session.response_id:
        response = db.session.get(Response, session.response_id)
        flagged = db.session.scalar(sa.select(sa.func.count()).select_from(ReviewException)
                                    .where(ReviewException.response_id == response.id)) or 0
        data.update(receipt_no=response.receipt_no, flagged_count=flagged)
    return data


def _emit(session: MandatorySession) -> None:
    if session.callback_url:
        webhooks.emit(f"mandatory_session.{session.status.value}", event_data(session),
                      api_key_id=session.api_key_id, callback_url=session.callback_url)


def on_response_stored(response: Response, invitation: Invitation, linked: dict, **_kw) -> None:
    """Receiver of reviews.signals.response_stored (inside the submit transaction: outbox).

    The invitation row is locked by the submit, so this runs once per session: completed when
    no answer is flagged, exception otherwise (8.4: the flow stays blocked, staff follow up).
    """
    session = linked_row(db.session, linked, INVITATION_LINK, MandatorySession)
    if session is None or session.status is not SessionStatus.PENDING:
        return
    session.status = SessionStatus.EXCEPTION if response.flagged else SessionStatus.COMPLETED
    session.finished_at = response.submitted_at
    session.response_id = response.id
    session.pending_key = None
    db.session.flush()
    record("client", f"mandatory_session.{session.status.value}", "mandatory_session", session.id,
           {"session": session.public_id, "receipt": response.receipt_no})
    _emit(session)


def expire_session(session: MandatorySession, now: datetime) -> bool:
    """Mark an overdue pending session expired and report it; False if it finished meanwhile."""
    invitation = lock_for_update(Invitation, session.invitation_id)
    db.session.refresh(session)
    if session.status is not SessionStatus.PENDING or reviews.stored_response(invitation.id) is not None:
        return False
    session.status = SessionStatus.EXPIRED
    session.finished_at = now
    session.pending_key = None
    if invitation.status in (InvitationStatus.PENDING, InvitationStatus.OPENED):
        invitation.status = InvitationStatus.EXPIRED
    db.session.flush()
    record("system", "mandatory_session.expire", "mandatory_session", session.id, {"session": session.public_id})
    _emit(session)
    return True


def expire_overdue(now: datetime, limit: int = 500) -> int:
    """Expire pending sessions past their deadline; returns how many."""
    overdue = db.session.scalars(
        sa.select(MandatorySession).where(MandatorySession.status == SessionStatus.PENDING,
                                          MandatorySession.expires_at <= now)
        .order_by(MandatorySession.expires_at).limit(limit)
    ).all()
    return sum(1 for session in overdue if expire_session(session, now))


@jobs.handler(EXPIRY_SWEEP_KIND, lease_seconds=300, max_attempts=1)
def expiry_sweep(payload: dict, job: Job) -> None:
    """The periodic sweep: sessions past their deadline become expired (mandatory_session.expired)."""
    expire_overdue(jobs.now())


jobs.periodic(EXPIRY_SWEEP_KIND, 60)


# --- the API's view -----------------------------------------------------------------------------

def session_json(session: MandatorySession, now: Optional[datetime] = None) -> dict:
    """A session as GET /mandatory-sessions/{id} shows it; the result once finished."""
    now = now or utcnow()
    status = effective_status(session, now)
    invitation = session.invitation
    body = {
        "id": session.public_id,
        "status": status.value,
        "url": gate_url(session) if status is SessionStatus.PENDING else None,
        "business_ref": session.business_ref,
        "client_account": invitation.client.account,
        "questionnaire": {"key": invitation.version.questionnaire.key, "version": invitation.version.number},
        "review_type": invitation.review_type.value,
        "callback_url": session.callback_url,
        "return_url": session.return_url,
        "created_at": session.created_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "finished_at": session.finished_at.isoformat() if session.finished_at else None,
        "result": None,
    }
    if session.response_id:
        response = db.session.get(Response, session.response_id)
        body["result"] = {
            "receipt_no": response.receipt_no,
            "completed_at": response.submitted_at.isoformat(),
            "version": invitation.version.number,
            "version_hash": response.version_hash,
            "answers": response.answers,
            "flagged": reviews.flagged_answers(response.id),
            "result_token": result_token(session),
        }
    return body
