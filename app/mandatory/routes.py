"""Mandatory mode: the session API for business systems and the gate page clients cannot dismiss."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from app.api.auth import actor, current_api_key, require_api_key
from app.api.routes import client_and_questionnaire, json_body
from app.db_types import utcnow
from app.errors import abort_with, too_many_requests
from app.extensions import csrf, db, limiter
from app.i18n import current_lang
from app.mandatory import service
from app.mandatory.models import MandatorySession, SessionStatus
from app.mandatory.tokens import TokenError
from app.ratelimit import link_key, refused
from app.respond import fragments
from app.respond.forms import questionnaire_form_class
from app.respond.routes import remember_opened
from app.reviews import service as reviews
from app.reviews.signals import register_invitation_link, response_stored
from app.security import allow_framing
from questionnaires.answers import visible_questions
from questionnaires.forms import form_data_as_raw
from questionnaires.placeholders import localize

api_bp = Blueprint("mandatory_api", __name__, url_prefix="/api/v1/mandatory-sessions")
bp = Blueprint("mandatory", __name__, template_folder="templates", static_folder="static",
               static_url_path="/m-static")
blueprints = [api_bp, bp]

# Finish the session in the submit transaction (and write its callback to the outbox).
register_invitation_link(service.INVITATION_LINK, MandatorySession.id, MandatorySession.invitation_id)
response_stored.connect(service.on_response_stored)


# --- API -----------------------------------------------------------------------------------------

@api_bp.before_request
def _authenticate():
    return require_api_key()


def session_request(data: dict) -> service.SessionRequest:
    """Read and check the body of POST /mandatory-sessions; 422 naming the field."""
    key, version = client_and_questionnaire(data, service.SESSION_FIELDS)
    for field in ("review_type", "business_ref", "callback_url", "return_url"):
        if data.get(field) is not None and not isinstance(data[field], str):
            abort_with(422, f"{field}: must be a string", field=field)
    if data.get("business_ref") is not None and not 1 <= len(data["business_ref"]) <= 128:
        abort_with(422, "business_ref: 1 to 128 characters", field="business_ref")
    context = data.get("context") or {}
    if not isinstance(context, dict):
        abort_with(422, "context: must be an object", field="context")
    expires_in = data.get("expires_in", service.DEFAULT_EXPIRES_IN)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or \
            not service.MIN_EXPIRES_IN <= expires_in <= service.MAX_EXPIRES_IN:
        abort_with(422, f"expires_in: whole seconds from {service.MIN_EXPIRES_IN} to {service.MAX_EXPIRES_IN}",
                   field="expires_in")
    return service.SessionRequest(
        client_account=data["client_account"], questionnaire_key=key, version_number=version,
        review_type=data.get("review_type"), business_ref=data.get("business_ref"), context=context,
        callback_url=data.get("callback_url"), return_url=data.get("return_url"), expires_in=expires_in,
    )


@api_bp.post("")
def create_session():
    """Open a mandatory session (Idempotency-Key header recommended); 201 created, 200 reused."""
    data = json_body()
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        abort_with(422, "Idempotency-Key: 1 to 255 characters", field="Idempotency-Key")
    req = session_request(data)
    for attempt in range(2):
        try:
            session, how = service.open_session(current_api_key(), req, service.request_hash(data),
                                                idempotency_key, actor())
            db.session.commit()
            break
        except service.IdempotencyConflict:
            abort_with(409, "Idempotency-Key: already used with a different request body", field="Idempotency-Key")
        except reviews.InvalidRequest as exc:
            abort_with(422, f"{exc.field}: {exc.message}", field=exc.field, **exc.extra)
        except IntegrityError:
            # A concurrent identical request won the race: the retry finds and returns its session.
            db.session.rollback()
            if attempt:
                raise
    headers = {"Location": url_for(".get_session", public_id=session.public_id)}
    if how == "replayed":
        headers["Idempotent-Replayed"] = "true"
    return jsonify(service.session_json(session)), (200 if how == "reused" else 201), headers


def _session_or_404(public_id: str) -> MandatorySession:
    session = service.get_session(public_id, current_api_key().id)
    if session is None:
        abort(404, f"unknown mandatory session '{public_id}'")
    return session


@api_bp.get("/<public_id>")
def get_session(public_id: str):
    """The session's status and, once finished, its result (answers, flags, receipt, result token)."""
    return jsonify(service.session_json(_session_or_404(public_id)))


@api_bp.post("/<public_id>/cancel")
def cancel_session(public_id: str):
    """Cancel a pending session: its link then shows that no answer is needed (410)."""
    session = _session_or_404(public_id)
    if not service.cancel_session(session, actor()):
        db.session.rollback()
        abort_with(409, f"the session is {service.effective_status(session, utcnow()).value}; only a pending "
                        "session can be cancelled", field="status")
    db.session.commit()
    return jsonify(service.session_json(session))


# --- the gate page ---------------------------------------------------------------------------------

def gate_session_or_abort(token: str) -> MandatorySession:
    """The session behind a gate link, framable by the key's origins; a clear page otherwise."""
    try:
        session = service.session_from_gate_token(token)
    except TokenError as exc:
        if exc.reason == "expired":
            abort_with(410, _("This link has expired. Please contact us if you still want to answer."))
        abort(404, _("This link is not valid. Please check that it was copied completely."))
    if session is None:
        abort(404, _("This link is not valid. Please check that it was copied completely."))
    allow_framing(session.api_key.frame_origins or [])
    return session


@bp.errorhandler(RateLimitExceeded)
def _too_many_inside_the_frame(exc: RateLimitExceeded):
    """A gate over its limit says so inside the business system's frame, as its other refusals do."""
    # The limit is checked before the view, which is where a gate page is allowed to be framed; the
    # app's handler alone would send frame-ancestors 'none', and the client would see a blank frame.
    db.session.rollback()
    try:
        gate_session_or_abort((request.view_args or {}).get("token", ""))
    except HTTPException:
        pass  # not a gate link: the page stays unframable, as any other refusal of it
    return too_many_requests()


def _refuse_closed(session: MandatorySession) -> None:
    status = service.effective_status(session, utcnow())
    if status is SessionStatus.CANCELLED:
        abort_with(410, _("This questionnaire has been withdrawn. No answer is needed."))
    if status is SessionStatus.EXPIRED:
        abort_with(410, _("The deadline for this questionnaire has passed. Please return to the business "
                          "system and start again."))
    if session.invitation.version.is_retired:
        abort_with(410, _("This questionnaire is no longer in use. Please return to the business system and start again."))


def _form(session: MandatorySession, **kwargs):
    invitation = session.invitation
    form_class = questionnaire_form_class(invitation.version, current_lang(), reviews.render_context(invitation))
    # No CSRF token: the signed, unguessable gate URL is the credential, and a cross-site iframe
    # does not get the SameSite=Lax session cookie a CSRF token would need.
    return form_class(meta={"csrf": False}, **kwargs)


@bp.route("/m/<token>", methods=["GET", "POST"])
@limiter.limit("60/minute", methods=["POST"], deduct_when=refused)  # refused submits, per address
def gate(token: str):
    """The mandatory questionnaire: the form while pending, the finish page once answered."""
    session = gate_session_or_abort(token)
    if session.status in (SessionStatus.COMPLETED, SessionStatus.EXCEPTION):
        return _render_done(session)
    _refuse_closed(session)
    invitation = session.invitation
    if request.method == "GET":
        page = _render_gate(session, _form(session, data=invitation.draft_answers or {}), token)
        remember_opened(invitation)  # after the page, as on the form page
        return page
    remember_opened(invitation)
    form = _form(session)
    raw = form_data_as_raw(form)
    try:
        reviews.submit_response(invitation, raw, current_lang(), remote_addr=request.remote_addr)
        db.session.commit()
    except reviews.AnswersInvalid as exc:
        db.session.rollback()
        reviews.save_draft(invitation, raw)  # a refresh keeps what the client typed
        db.session.commit()
        for error in exc.errors:
            if error.question_id in form:
                form[error.question_id].errors = list(form[error.question_id].errors or []) + [error.message[current_lang()]]
        return _render_gate(session, form, token, errors=exc.errors), 422
    except reviews.InvalidRequest:
        db.session.rollback()
        db.session.refresh(session)
        _refuse_closed(session)
    except IntegrityError:
        db.session.rollback()  # a parallel submit won: its result stands (one result per session)
    return redirect(url_for(".gate", token=token), code=303)


@bp.post("/m/<token>/draft")
@limiter.limit("120/minute", key_func=link_key)
def draft(token: str):
    """Autosave from the page's script, so a refresh keeps the answers; says which questions show."""
    session = gate_session_or_abort(token)
    if session.status.finished:
        return jsonify({"finished": True}), 409
    _refuse_closed(session)
    form = _form(session)
    reviews.save_draft(session.invitation, form_data_as_raw(form))
    db.session.commit()
    shown = [q["id"] for q in visible_questions(session.invitation.version.definition,
                                               session.invitation.draft_answers or {})]
    return jsonify({"saved": True, "visible": shown})


csrf.exempt(gate)
csrf.exempt(draft)


def _definition(session: MandatorySession) -> dict:
    invitation = session.invitation
    return localize(invitation.version.definition, current_lang(), reviews.render_context(invitation))


def _render_gate(session: MandatorySession, form, token: str, errors=None):
    invitation = session.invitation
    shown = {q["id"] for q in visible_questions(invitation.version.definition, invitation.draft_answers or {})}
    return render_template("mandatory/gate.html", form=form, token=token, errors=errors or [],
                           initially_visible=shown, definition=_definition(session), session=session,
                           cacheable=fragments.cacheable_blocks(invitation.version, form),
                           fragment_prefix=fragments.fragment_prefix(invitation.version, current_lang()))


def _render_done(session: MandatorySession):
    message = {"type": "huifang.mandatory_session.finished", "session_id": session.public_id,
               "status": session.status.value, "result_token": service.result_token(session)}
    receipt = service.result_claims(session)["receipt_no"]
    return render_template("mandatory/done.html", session=session, message=message, receipt_no=receipt,
                           origins=session.api_key.frame_origins or [],
                           return_url=service.return_url_with_token(session), definition=_definition(session))
