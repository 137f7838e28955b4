"""Console routes: questionnaires, invitations, responses and clients for staff.

Thin: load or 404, check the role, validate, call the area's service (which audits), commit once,
redirect (303, POST-redirect-GET) or render. Roles follow the standard's 7.4 division of duties.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.auth.service import first_step
from app.clients.models import Client
from app.clients.service import mask_email, mask_name, mask_phone
from app.console import forms, present, queries
from app.console.nav import nav_item, visible_nav
from app.db_types import utcnow
from app.definitions import service as definitions
from app.definitions.models import Questionnaire, QuestionnaireVersion, ReviewType
from app.extensions import db
from app.i18n import current_lang
from app.params import optional_row_id, row_id
from app.phrases import localized, with_field
from app.reviews import service as reviews
from app.reviews.models import Invitation, InvitationStatus, Response
from questionnaires.loader import DefinitionError

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

# Who may do what (T/SAC 002—2024 7.4: managers run reviews, inspectors check them, executors
# carry them out, auditors look at the record). Admins hold every role.
READ_QUESTIONNAIRES = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.AUDITOR)
MANAGE = (Role.REVIEW_MANAGER,)
READ_INVITATIONS = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR)
READ_CLIENTS = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR)

nav_item("Home", "console.index", order=0)
nav_item("Questionnaires", "console.questionnaires", READ_QUESTIONNAIRES, order=10)
nav_item("Invitations", "console.invitations", READ_INVITATIONS, order=20)
nav_item("Clients", "console.clients", READ_CLIENTS, order=40)


@bp.app_context_processor
def _console_nav():
    """The navigation entries the signed-in user's role may see."""
    # No menu while a password or an authenticator must be set first: every entry would lead back there.
    if current_user and current_user.is_authenticated and not first_step(current_user):
        return {"console_nav": visible_nav(current_user)}
    return {"console_nav": []}


@bp.context_processor
def _console_helpers():
    """Labels, masking and role checks for the console's templates."""
    return {
        "labels": {"status": forms.STATUS_LABELS, "channel": forms.CHANNEL_LABELS,
                   "review_type": forms.REVIEW_TYPE_LABELS, "severity": forms.SEVERITY_LABELS,
                   "question_type": forms.QUESTION_TYPE_LABELS, "identity": forms.IDENTITY_LABELS,
                   "exception_status": forms.EXCEPTION_STATUS_LABELS},
        "mask_name": mask_name, "mask_phone": mask_phone, "mask_email": mask_email,
        "can": {"manage": current_user.has_role(*MANAGE),
                "questionnaires": current_user.has_role(*READ_QUESTIONNAIRES),
                "invitations": current_user.has_role(*READ_INVITATIONS),
                "clients": current_user.has_role(*READ_CLIENTS)} if current_user.is_authenticated else {},
        "now": utcnow(),
    }


bp.add_app_template_filter(forms.firm_time, "console_dt")
bp.add_app_template_filter(present.mark_placeholders, "console_placeholders")
bp.add_app_template_filter(present.compact_json, "console_json")


def _page_number() -> int:
    return optional_row_id(request.args.get("page")) or 1


def _text_lang() -> str:
    """The language definitions are shown in: ?text=zh-CN|en, else the page's language."""
    chosen = request.args.get("text")
    return chosen if chosen in ("zh-CN", "en") else current_lang()


def _exceptions_url():
    """The exceptions list of the follow-up area, when it is installed."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule == "/console/exceptions" and "GET" in (rule.methods or ()):
            return url_for(rule.endpoint)
    return None


# --- home -------------------------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    """Console home: what is waiting, and where to go."""
    counts = queries.home_counts(utcnow()) if current_user.has_role(*READ_INVITATIONS) else None
    return render_template("console/index.html", counts=counts, statuses=list(InvitationStatus),
                           exceptions_url=_exceptions_url(), system=_system_status())


def _system_status():
    """What the status page calls for, for those who may see it (app/status); None for the others."""
    from app.status.routes import VIEWERS
    from app.status.service import system_status

    return system_status() if current_user.has_role(*VIEWERS) else None


# --- questionnaires ---------------------------------------------------------------------------

def get_questionnaire_or_404(key: str) -> Questionnaire:
    questionnaire = definitions.get_questionnaire(key)
    if questionnaire is None:
        abort(404, _("There is no questionnaire with this key."))
    return questionnaire


def get_version_or_404(key: str, number: int) -> QuestionnaireVersion:
    version = definitions.get_version(key, number)
    if version is None:
        abort(404, _("There is no such version of this questionnaire."))
    return version


@bp.get("/questionnaires")
@roles_required(*READ_QUESTIONNAIRES)
def questionnaires():
    """Every questionnaire with its review type, latest version and number of versions."""
    return render_template("console/questionnaires.html", rows=definitions.list_questionnaires())


@bp.route("/questionnaires/-/publish", methods=["GET", "POST"])  # "-" can never be a key
@roles_required(*MANAGE)
def publish():
    """Publish a definition: an immutable new version, or the existing one for the same content."""
    form = forms.PublishForm()
    issues = []
    if form.validate_on_submit():
        source, filename = form.source()
        try:
            version, created = definitions.publish_text(source, actor_name(), filename=filename)
        except DefinitionError as exc:
            db.session.rollback()
            issues = exc.issues
        else:
            db.session.commit()
            flash(_("Published %(label)s.", label=version.label) if created else
                  _("The same content is already published as %(label)s; nothing new was stored.", label=version.label),
                  "success")
            return redirect(url_for(".version", key=version.questionnaire.key, number=version.number), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("console/publish.html", form=form, issues=issues), status


@bp.get("/questionnaires/<key>")
@roles_required(*READ_QUESTIONNAIRES)
def questionnaire(key: str):
    """One questionnaire's versions."""
    questionnaire = get_questionnaire_or_404(key)
    return render_template("console/questionnaire.html", questionnaire=questionnaire,
                           versions=list(reversed(questionnaire.versions)))


@bp.get("/questionnaires/<key>/v<int:number>")
@roles_required(*READ_QUESTIONNAIRES)
def version(key: str, number: int):
    """A version as reviewers read it, in zh-CN or English (?text=)."""
    version = get_version_or_404(key, number)
    text_lang = _text_lang()
    return render_template("console/version.html", version=version, text_lang=text_lang,
                           view=present.preview(version.definition, text_lang),
                           placeholders=queries.needed_placeholders(version))


@bp.get("/questionnaires/<key>/diff")
@roles_required(*READ_QUESTIONNAIRES)
def diff(key: str):
    """What changed between two versions (?from=N&to=M; default: the last two)."""
    questionnaire = get_questionnaire_or_404(key)
    numbers = [v.number for v in questionnaire.versions]
    new_n = request.args.get("to", numbers[-1], type=row_id)
    old_n = request.args.get("from", max(new_n - 1, numbers[0]), type=row_id)
    old, new = get_version_or_404(key, old_n), get_version_or_404(key, new_n)
    return render_template("console/diff.html", questionnaire=questionnaire, numbers=numbers, old=old, new=new,
                           changes=definitions.diff_versions(old, new))


@bp.route("/questionnaires/<key>/v<int:number>/retire", methods=["GET", "POST"])
@roles_required(*MANAGE)
def retire(key: str, number: int):
    """Confirm, then retire a version: kept for the record, never sent or answered again."""
    version = get_version_or_404(key, number)
    form = forms.RetireForm()
    if not version.is_retired and form.validate_on_submit():
        definitions.retire_version(version, actor_name())
        db.session.commit()
        flash(_("%(label)s is retired.", label=version.label), "success")
        return redirect(url_for(".questionnaire", key=key), 303)
    status = 422 if request.method == "POST" and not version.is_retired else 200
    return render_template("console/retire.html", version=version, form=form,
                           open_invitations=queries.open_invitations_of_version(version.id, utcnow())), status


# --- invitations ------------------------------------------------------------------------------

def get_invitation_or_404(invitation_id: int) -> Invitation:
    return db.get_or_404(Invitation, invitation_id, description=_("There is no such invitation."))


@bp.get("/invitations")
@roles_required(*READ_INVITATIONS)
def invitations():
    """Invitations, newest first, filtered by status, questionnaire and review type."""
    filters = forms.InvitationFilterForm(request.args)
    filters.questionnaire.choices += [(r["questionnaire"].key, r["questionnaire"].key)
                                      for r in definitions.list_questionnaires()]
    status, review_type = filters.value("status"), filters.value("review_type")
    query = queries.invitations_query(
        utcnow(), status=InvitationStatus(status) if status else None,
        questionnaire_key=filters.value("questionnaire"),
        review_type=ReviewType(review_type) if review_type else None)
    return render_template("console/invitations.html", filters=filters,
                           page=queries.paginate(query, _page_number()))


def _attach_service_error(form: forms.InvitationForm, exc: reviews.InvalidRequest) -> list[str]:
    """Put the service's refusal on the field it names; return what belongs to no field."""
    if exc.field == "context":
        general = []
        for name in exc.extra.get("missing", []):
            if name in form.placeholder_names:
                form[forms.CONTEXT_PREFIX + name].errors.append(_("Enter a value for {%(name)s}.", name=name))
            else:
                general.append(_("{%(name)s} is filled from the client record, which has no value for it.", name=name))
        return general or [localized(exc.message)]
    field = {"client_account": form.client_account, "questionnaire": form.version, "channel": form.channel,
             "expires_at": form.expires_on, "opens_at": form.expires_on}.get(exc.field)
    if field is None:
        return [localized(with_field(exc.field, exc.message))]
    field.errors = list(field.errors) + [localized(exc.message)]
    return []


@bp.route("/invitations/new", methods=["GET", "POST"])
@roles_required(*MANAGE)
def new_invitation():
    """Step 1 chooses a version (GET ?version=key:n); step 2 asks for exactly its placeholders."""
    versions = queries.sendable_versions()
    choices = [(f"{v.questionnaire.key}:{v.number}", f"{v.label} — {v.title_zh}") for v in versions]
    chosen = forms.parse_version_choice(request.values.get("version", ""))
    version = next((v for v in versions if chosen == (v.questionnaire.key, v.number)), None)
    form = forms.invitation_form(queries.needed_placeholders(version) if version else [], choices,
                                 data={"client_account": request.args.get("client", ""),
                                       "version": request.args.get("version", "")})
    general = []
    if request.method == "POST" and version is None:
        general = [_("Choose a questionnaire version that is published and not retired.")]
    elif version is not None and form.validate_on_submit():
        req = reviews.InvitationRequest(
            client_account=form.client_account.data.strip(), questionnaire_key=chosen[0], version_number=chosen[1],
            channel=form.channel.data, context=form.context(), expires_at=form.expires_at())
        try:
            invitation = reviews.create_invitation(req, actor_name())
        except reviews.InvalidRequest as exc:
            db.session.rollback()
            general = _attach_service_error(form, exc)
        else:
            db.session.commit()
            flash(_("Invitation created. Send the link below to the client."), "success")
            return redirect(url_for(".invitation", invitation_id=invitation.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("console/invitation_new.html", form=form, version=version, choices=choices,
                           general_errors=general), status


@bp.get("/invitations/<int:invitation_id>")
@roles_required(*READ_INVITATIONS)
def invitation(invitation_id: int):
    """One invitation: status, identity tries and lock, its link and its response."""
    invitation = get_invitation_or_404(invitation_id)
    now = utcnow()
    attempts, failed = queries.identity_attempt_counts(invitation.id)
    return render_template("console/invitation.html", invitation=invitation, status=invitation.effective_status(now),
                           locked=invitation.is_locked(now), attempts=attempts, failed_attempts=failed,
                           response=reviews.stored_response(invitation.id),
                           url=reviews.invitation_url(invitation), short_url=reviews.short_url(invitation))


# --- responses --------------------------------------------------------------------------------

@bp.get("/responses/<int:response_id>")
@roles_required(*READ_INVITATIONS)
def response(response_id: int):
    """One response rendered as answered, against the version it was given on."""
    response = db.get_or_404(Response, response_id, description=_("There is no such response."))
    text_lang = _text_lang()
    context = reviews.render_context(response.invitation)
    return render_template("console/response.html", response=response, invitation=response.invitation,
                           text_lang=text_lang, exceptions=queries.exception_rows(response.id),
                           questions=present.answered(response.version.definition, response.answers,
                                                      text_lang, context),
                           title=present.pick(response.version.definition["title"], text_lang))


# --- clients ----------------------------------------------------------------------------------

@bp.get("/clients")
@roles_required(*READ_CLIENTS)
def clients():
    """Clients (masked), searched by account number."""
    search = forms.ClientSearchForm(request.args)
    page = queries.paginate(queries.clients_query((search.value("account") or "").strip()), _page_number())
    return render_template("console/clients.html", search=search, page=page,
                           invitation_counts=queries.invitation_counts_by_client([c.id for c in page.items]))


@bp.get("/clients/<int:client_id>")
@roles_required(*READ_CLIENTS)
def client(client_id: int):
    """One client (masked) and the client's invitations."""
    client = db.get_or_404(Client, client_id, description=_("There is no such client."))
    query = queries.invitations_query(utcnow(), client_id=client.id)
    return render_template("console/client.html", client=client, page=queries.paginate(query, _page_number()))
