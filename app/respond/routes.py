"""Routes of the client's side: thin; the rules live in app.reviews.service."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, session, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.db_types import utcnow
from app.errors import abort_with
from app.extensions import db, limiter
from app.i18n import current_lang
from app.ratelimit import link_key, refused
from app.respond import fragments
from app.respond.forms import IdentityForm, questionnaire_form_class
from app.respond.loading import load_invitation
from app.reviews import service
from app.reviews.models import Invitation, InvitationStatus
from delivery.links import LinkError
from questionnaires.answers import visible_questions
from questionnaires.forms import form_data_as_raw
from questionnaires.placeholders import localize

bp = Blueprint("respond", __name__, template_folder="templates")


@bp.app_template_global()
def question_words() -> dict:
    """The fixed phrases of a question block (respond/_question.html), translated once per page."""
    return {"required": _("(required)"), "conditional": _("(answer if it applies to you)"),
            "many": _("You may choose more than one."), "agree": _("I have read the above and agree"),
            "date": _("Format: YYYY-MM-DD")}


VERIFIED_KEY = "verified_invitations"
AUTOCOMMIT_READ = "huifang.autocommit_read"


@bp.before_request
def _read_without_transaction() -> None:
    """PostgreSQL: the client's GET pages run their statements in autocommit.

    Under READ COMMITTED (the default) every statement already reads its own snapshot, so a
    transaction gives a page that reads, or writes one row (the "opened" mark), nothing but two
    more round trips (BEGIN, ROLLBACK) on the busiest path (docs/perf-client.md). POSTs keep
    their transaction. A session already in a transaction (a test's) is left as it is.
    """
    if request.method in ("GET", "HEAD") and db.engine.dialect.name == "postgresql" \
            and not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        request.environ[AUTOCOMMIT_READ] = True


@bp.teardown_request
def _end_read_without_transaction(_exc) -> None:
    """Give the autocommit connection back now (the pool resets its level); nothing is left to undo."""
    if request.environ.pop(AUTOCOMMIT_READ, False):
        db.session.rollback()


def get_invitation_or_abort(token: str, *, with_response: bool = False, for_update: bool = False) -> Invitation:
    """Load the invitation behind a signed link, or stop with a clear page (404/410/423/425).

    One statement brings the invitation, its client, version and questionnaire (and, for the
    receipt, its response); the definition comes from the per-process cache (app/respond/loading.py).
    """
    try:
        public_id = service.link_signer().verify(token)
    except LinkError as exc:
        if exc.reason == "expired":
            abort_with(410, _("This link has expired. Please contact us if you still want to answer."))
        abort(404, _("This link is not valid. Please check that it was copied completely."))
    invitation = load_invitation(public_id, with_response=with_response, for_update=for_update)
    if invitation is None:
        abort(404, _("This link is not valid. Please check that it was copied completely."))
    return invitation


def ensure_answerable(invitation: Invitation) -> None:
    """Refuse links that are cancelled, expired, retired, not yet open or locked."""
    now = utcnow()
    status = invitation.effective_status(now)
    if status is InvitationStatus.CANCELLED:
        abort_with(410, _("This questionnaire has been withdrawn. No answer is needed."))
    if status is InvitationStatus.EXPIRED:
        abort_with(410, _("The deadline for this questionnaire has passed."))
    if invitation.version.is_retired:
        abort_with(410, _("This questionnaire is no longer in use. Please contact us if you received it recently."))
    if invitation.opens_at is not None and now < invitation.opens_at:
        abort_with(403, _("This questionnaire opens on %(date)s.", date=format_datetime(invitation.opens_at, "yyyy-MM-dd")))
    if invitation.is_locked(now):
        abort_with(423, _("Too many wrong answers to the identity question. Please try again after %(time)s.",
                          time=format_datetime(invitation.locked_until, "HH:mm")))


def identity_verified(invitation: Invitation) -> bool:
    """True when no check is asked, or this browser passed it."""
    if invitation.version.definition["identity_check"] == "none":
        return True
    return invitation.public_id in session.get(VERIFIED_KEY, [])


PAGE_TEXTS = ("title", "intro", "closing")


def _page_context(invitation: Invitation, questions: list | None = None) -> dict:
    """The page's texts in the client's language; the questions come localized with the form class."""
    source = invitation.version.definition
    # Only the texts a page shows are localized: the whole definition is the costliest part (perf).
    definition = localize({key: source[key] for key in PAGE_TEXTS if key in source}, current_lang(),
                          service.render_context(invitation))
    if questions is not None:
        definition["questions"] = questions
    return {"invitation": invitation, "definition": definition}


@bp.get("/s/<code>")
@limiter.limit("30/minute", deduct_when=refused)  # unknown codes; a client's own code is not counted
def short(code: str):
    """Short SMS link: redirect to the signed link."""
    invitation = service.find_by_short_code(code)
    if invitation is None:
        abort(404, _("This link is not valid. Please check that it was copied completely."))
    return redirect(service.invitation_url(invitation), code=303)


@bp.route("/q/<token>/identity", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"], deduct_when=refused)  # wrong answers, per address
def identity(token: str):
    """Ask the identity question before the first question (when the definition asks for it)."""
    invitation = get_invitation_or_abort(token)
    if invitation.status is InvitationStatus.COMPLETED:
        return redirect(url_for(".receipt", token=token))
    ensure_answerable(invitation)
    form = IdentityForm()
    status = 200
    if form.validate_on_submit():
        public_id = invitation.public_id  # read before the commit expires it
        if service.check_identity(invitation, form.answer.data, request.remote_addr):
            db.session.commit()
            session[VERIFIED_KEY] = (session.get(VERIFIED_KEY, []) + [public_id])[-20:]
            return redirect(url_for(".form", token=token), code=303)
        db.session.commit()
        ensure_answerable(invitation)  # the fifth wrong try locks it now
        form.answer.errors.append(_("That does not match our records. Please try again."))
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("respond/identity.html", form=form, token=token,
                           method=invitation.version.definition["identity_check"],
                           **_page_context(invitation)), status


@bp.route("/q/<token>", methods=["GET", "POST"])
def form(token: str):
    """The questionnaire itself: shows the draft, saves it, or submits it."""
    # A POST writes the invitation whatever it turns out to be: lock its row at the first read.
    invitation = get_invitation_or_abort(token, for_update=request.method == "POST")
    if invitation.status is InvitationStatus.COMPLETED:
        return redirect(url_for(".receipt", token=token), code=303)
    ensure_answerable(invitation)
    if not identity_verified(invitation):
        return redirect(url_for(".identity", token=token), code=303)
    form_class = questionnaire_form_class(invitation.version, current_lang(), service.render_context(invitation))
    if request.method == "GET":
        page = _render_form(invitation, form_class(data=invitation.draft_answers or {}), token)
        # Written after rendering: on SQLite the first write takes the one writer lock, which
        # should not be held while the page renders (app/sqlite_writes.py); and a commit expires,
        # and would reload, all the page reads.
        remember_opened(invitation)
        return page
    remember_opened(invitation)
    form = form_class()
    if not form.validate_on_submit():  # only the CSRF token is checked here
        abort(400, _("The form expired. Please reload the page and answer again."))
    raw = form_data_as_raw(form)
    if request.form.get("_action") == "save":
        service.save_draft(invitation, raw)
        db.session.commit()
        return _render_form(invitation, form, token, saved=True)
    return _submit(invitation, form, raw, token)


def remember_opened(invitation: Invitation) -> None:
    """Store the first opening of the link, committing only when it is new (the gate uses it too).

    Call it after rendering a page: a commit expires, and would read again, all the page's reads.
    """
    if service.mark_opened(invitation):
        db.session.commit()


def _submit(invitation: Invitation, form, raw: dict, token: str):
    try:
        service.submit_response(invitation, raw, current_lang(), remote_addr=request.remote_addr)
        db.session.commit()
    except service.AnswersInvalid as exc:
        db.session.rollback()
        service.save_draft(invitation, raw)  # never lose what the client typed
        db.session.commit()
        for error in exc.errors:
            if error.question_id in form:
                form[error.question_id].errors = list(form[error.question_id].errors or []) + [error.message[current_lang()]]
        return _render_form(invitation, form, token, errors=exc.errors), 422
    except IntegrityError:
        db.session.rollback()  # a parallel submit won the race: its response stands
    return redirect(url_for(".receipt", token=token), code=303)


def _render_form(invitation: Invitation, form, token: str, saved: bool = False, errors=None):
    page = _page_context(invitation, form.questions)
    shown = {q["id"] for q in visible_questions(invitation.version.definition, invitation.draft_answers or {})}
    return render_template("respond/form.html", form=form, token=token, saved=saved,
                           errors=errors or [], initially_visible=shown,
                           cacheable=fragments.cacheable_blocks(invitation.version, form),
                           fragment_prefix=fragments.fragment_prefix(invitation.version, current_lang()), **page)


@bp.post("/q/<token>/draft")
@limiter.limit("120/minute", key_func=link_key)
def draft(token: str):
    """Autosave from the page's script; answers which questions are now shown."""
    invitation = get_invitation_or_abort(token)
    if invitation.status is InvitationStatus.COMPLETED:
        return jsonify({"completed": True}), 409
    ensure_answerable(invitation)
    if not identity_verified(invitation):
        abort(403)
    form = questionnaire_form_class(invitation.version, current_lang(), service.render_context(invitation))()
    if not form.validate_on_submit():
        abort(400, _("The form expired. Please reload the page and answer again."))
    service.save_draft(invitation, form_data_as_raw(form))
    db.session.commit()
    shown = [q["id"] for q in visible_questions(invitation.version.definition, invitation.draft_answers or {})]
    return jsonify({"saved": True, "visible": shown})


@bp.get("/q/<token>/receipt")
def receipt(token: str):
    """The receipt: shown instead of the form once answered, however often the link is opened."""
    invitation = get_invitation_or_abort(token, with_response=True)  # a fresh request: read from the database
    response = invitation.response
    if response is None:
        return redirect(url_for(".form", token=token), code=303)
    return render_template("respond/receipt.html", response=response, **_page_context(invitation))
