"""Webhook events for business systems (/api/v1/webhooks) and for staff (/console/webhooks)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.api.auth import actor, current_api_key, require_api_key
from app.api.models import ApiKey
from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.console.nav import nav_item
from app.errors import abort_with
from app.extensions import db
from app.params import whole_number
from app.phrases import phrase
from app.reviews.signals import register_invitation_link, response_stored
from app.webhooks import service
from app.webhooks.models import DisabledEndpoint, EventStatus, InvitationCallback

api_bp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1/webhooks")
bp = Blueprint("webhooks", __name__, url_prefix="/console/webhooks", template_folder="templates")
blueprints = [api_bp, bp]

# Ordinary invitations created with a callback_url report their outcome (outbox, same transaction).
register_invitation_link(service.INVITATION_LINK, InvitationCallback.id, InvitationCallback.invitation_id)
response_stored.connect(service.on_response_stored)

VIEW = (Role.REVIEW_MANAGER, Role.AUDITOR)
REPLAY = (Role.REVIEW_MANAGER,)
nav_item("Callbacks", "webhooks.events", VIEW, order=70)


def _status_arg() -> EventStatus | None:
    value = request.args.get("status")
    if not value:
        return None
    try:
        return EventStatus(value)
    except ValueError:
        abort_with(422, phrase("status: one of %(values)s", values=", ".join(s.value for s in EventStatus)),
                   field="status")


# --- API -----------------------------------------------------------------------------------------

@api_bp.before_request
def _authenticate():
    return require_api_key()


def _event_or_404(message_id: str):
    event = service.get_event(message_id, current_api_key().id)
    if event is None:
        abort(404, f"unknown webhook event '{message_id}'")
    return event


@api_bp.get("/events")
def list_events():
    """This key's events, newest first (?status=pending|delivered|dead, ?limit, ?before=<id>)."""
    try:
        limit = whole_number(request.args.get("limit", "50"), 1, 200)
    except ValueError:
        abort_with(422, "limit: a whole number from 1 to 200", field="limit")
    before = None
    if request.args.get("before"):
        cursor = _event_or_404(request.args["before"])
        before = cursor.id
    events = service.list_events(api_key_id=current_api_key().id, status=_status_arg(), limit=limit, before_id=before)
    return jsonify({"items": [service.event_json(e, with_attempts=False) for e in events]})


@api_bp.get("/events/<message_id>")
def get_event(message_id: str):
    """One event with every delivery attempt."""
    return jsonify(service.event_json(_event_or_404(message_id)))


@api_bp.post("/events/<message_id>/replay")
def replay_event(message_id: str):
    """Deliver an event again (same webhook-id), e.g. after fixing the receiver."""
    event = _event_or_404(message_id)
    if event.status is EventStatus.PENDING:
        abort_with(409, "the event is still being delivered", field="status")
    if service.endpoint_disabled(event.api_key_id, event.callback_url):
        abort_with(409, "the endpoint is disabled (410 Gone); enable it first", field="callback_url")
    service.replay(event, actor())
    db.session.commit()
    return jsonify(service.event_json(event)), 202


@api_bp.post("/endpoints/enable")
def enable_endpoint():
    """Deliver to a callback URL again after it answered 410 Gone: {"url": ...}."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort_with(400, "malformed JSON: send {\"url\": \"...\"}")
    url = data.get("url")
    if not isinstance(url, str) or not url:
        abort_with(422, "url: required string", field="url")
    changed = service.enable_endpoint(current_api_key().id, url, actor())
    db.session.commit()
    return jsonify({"url": url, "enabled": True, "changed": changed})


@api_bp.get("/endpoints/disabled")
def disabled_endpoints():
    """Callback URLs of this key that answered 410 Gone."""
    rows = db.session.scalars(db.select(DisabledEndpoint).where(DisabledEndpoint.api_key_id == current_api_key().id))
    return jsonify({"items": [{"url": r.url, "disabled_at": r.disabled_at.isoformat(), "reason": r.reason} for r in rows]})


# --- console ---------------------------------------------------------------------------------------

@bp.get("/")
@roles_required(*VIEW)
def events():
    """Recent callbacks with their delivery state; dead ones first when filtered."""
    status = _status_arg()
    rows = service.list_events(status=status, limit=100)
    keys = {k.id: k.name for k in db.session.scalars(db.select(ApiKey))}
    disabled = list(db.session.scalars(db.select(DisabledEndpoint)))
    return render_template("webhooks/events.html", events=rows, status=status, statuses=list(EventStatus),
                           keys=keys, disabled=disabled)


@bp.get("/<message_id>")
@roles_required(*VIEW)
def event(message_id: str):
    """One callback with every attempt: time, outcome, status code, latency."""
    row = service.get_event(message_id)
    if row is None:
        abort(404)
    return render_template("webhooks/event.html", event=row,
                           disabled=service.endpoint_disabled(row.api_key_id, row.callback_url))


@bp.post("/<message_id>/replay")
@roles_required(*REPLAY)
def replay(message_id: str):
    """Replay a dead or delivered callback."""
    row = service.get_event(message_id)
    if row is None:
        abort(404)
    if row.status is EventStatus.PENDING:
        abort_with(409, _("This callback is still being delivered."))
    service.enable_endpoint(row.api_key_id, row.callback_url, actor_name())
    service.replay(row, actor_name())
    db.session.commit()
    flash(_("The callback is queued for delivery again."), "success")
    return redirect(url_for(".event", message_id=message_id), code=303)
