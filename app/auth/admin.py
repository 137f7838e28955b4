"""Administrators' pages for staff accounts: create, change name and role (rotation of posts,
standard 7.4), reset a password, unlock, deactivate and reactivate.

Thin: load or 404, call the service (which checks and audits), commit once, redirect or render.
The buttons' forms carry the CSRF token that CSRFProtect checks before any of these views runs.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import service
from app.auth.decorators import actor_name, roles_required
from app.auth.forms import ROLE_LABELS, StaffCreateForm, StaffEditForm
from app.auth.models import Role, StaffUser
from app.console.forms import show_refusal
from app.console.nav import nav_item
from app.console.queries import paginate
from app.db_types import utcnow
from app.extensions import db
from app.params import optional_row_id
from app.reviews.service import InvalidRequest

bp = Blueprint("auth_admin", __name__, url_prefix="/console/staff", template_folder="templates")
ADMINS = (Role.ADMIN,)
nav_item("Staff", "auth_admin.staff_list", ADMINS, order=95)


@bp.app_context_processor
def _role_labels():
    """The roles' names, wherever a page shows a role."""
    return {"role_labels": ROLE_LABELS}


@bp.context_processor
def _now():
    """The time, for showing locks."""
    return {"now": utcnow()}


def _staff_or_404(staff_id: int) -> StaffUser:
    return db.get_or_404(StaffUser, staff_id, description=_("There is no such staff account."))


def _show_refusal(form, exc: InvalidRequest) -> None:
    db.session.rollback()
    show_refusal(form, exc.field, exc.message)


def _edit_form(user: StaffUser, submitted: bool = False) -> StaffEditForm:
    # Not obj=user: WTForms would take the Role member itself, which is no choice of the select.
    # Only the edit form's own POST fills it from the request; a button's POST shows the account.
    extra = {} if submitted else {"formdata": None}
    return StaffEditForm(**extra, data={"display_name": user.display_name, "role": user.role.value,
                               "staff_code": user.staff_code or ""})


def _detail_page(user: StaffUser, form: StaffEditForm, status: int):
    # The follow-up area depends on accounts, not the other way round: imported here, at use.
    from app.followup.service import can_follow_up, open_exceptions_assigned_to

    return render_template("auth/staff_detail.html", user=user, form=form, own=user.id == current_user.id,
                           open_assigned=open_exceptions_assigned_to(user.id),
                           can_follow_up=can_follow_up(user),
                           key_unreadable=user.has_two_factor and user.totp_secret is None), status


def _refused_button(user: StaffUser, exc: InvalidRequest):
    """The account's page again, 422, with the reason a button's change was refused."""
    form = _edit_form(user)
    _show_refusal(form, exc)
    return _detail_page(user, form, 422)


@bp.get("/")
@roles_required(*ADMINS)
def staff_list():
    """Every staff account with its role and state, by username."""
    page = paginate(sa.select(StaffUser).order_by(StaffUser.username), optional_row_id(request.args.get("page")) or 1)
    return render_template("auth/staff_list.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*ADMINS)
def staff_new():
    """Create an account; its one-time password is shown once, on the page that answers."""
    form = StaffCreateForm()
    if form.validate_on_submit():
        try:
            user, password = service.create_staff(form.username.data, form.display_name.data, Role(form.role.data),
                                                  staff_code=form.staff_code.data or None, actor=actor_name(),
                                                  remote_addr=request.remote_addr)
        except InvalidRequest as exc:
            _show_refusal(form, exc)
        else:
            db.session.commit()
            return render_template("auth/one_time_password.html", user=user, password=password, created=True)
    return render_template("auth/staff_new.html", form=form), (422 if request.method == "POST" else 200)


@bp.route("/<int:staff_id>", methods=["GET", "POST"])
@roles_required(*ADMINS)
def staff_detail(staff_id: int):
    """One account: change its name, role and staff code; buttons for the other changes."""
    user = _staff_or_404(staff_id)
    form = _edit_form(user, submitted=request.method == "POST")
    if form.validate_on_submit():
        try:
            service.update_staff(user, actor_name(), display_name=form.display_name.data, role=Role(form.role.data),
                                 staff_code=form.staff_code.data, remote_addr=request.remote_addr)
        except InvalidRequest as exc:
            _show_refusal(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s is saved.", name=user.username), "success")
            return redirect(url_for(".staff_detail", staff_id=user.id), 303)
    return _detail_page(user, form, 422 if request.method == "POST" else 200)


@bp.post("/<int:staff_id>/reset-password")
@roles_required(*ADMINS)
def reset_password(staff_id: int):
    """Give the account a one-time password, shown once to the administrator."""
    user = _staff_or_404(staff_id)
    try:
        password = service.reset_password(user, actor_name(), request.remote_addr)
    except InvalidRequest as exc:
        return _refused_button(user, exc)
    db.session.commit()
    return render_template("auth/one_time_password.html", user=user, password=password, created=False)


@bp.post("/<int:staff_id>/reset-two-factor")
@roles_required(*ADMINS)
def reset_two_factor(staff_id: int):
    """Forget the account's authenticator app (a lost phone); its holder sets one up again."""
    user = _staff_or_404(staff_id)
    try:
        service.reset_two_factor(user, actor_name(), request.remote_addr)
    except InvalidRequest as exc:
        return _refused_button(user, exc)
    db.session.commit()
    flash(_("Two-step sign-in of %(name)s is reset; the app is set up again at the next sign-in.",
            name=user.username), "success")
    return redirect(url_for(".staff_detail", staff_id=user.id), 303)


@bp.post("/<int:staff_id>/unlock")
@roles_required(*ADMINS)
def unlock(staff_id: int):
    """End a lock after wrong passwords."""
    user = _staff_or_404(staff_id)
    service.unlock(user, actor_name(), request.remote_addr)
    db.session.commit()
    flash(_("%(name)s is unlocked.", name=user.username), "success")
    return redirect(url_for(".staff_detail", staff_id=user.id), 303)


@bp.post("/<int:staff_id>/deactivate")
@roles_required(*ADMINS)
def deactivate(staff_id: int):
    """Deactivate an account: its sessions end at once and it can no longer sign in."""
    return _set_active(staff_id, False)


@bp.post("/<int:staff_id>/reactivate")
@roles_required(*ADMINS)
def reactivate(staff_id: int):
    """Let a deactivated account sign in again."""
    return _set_active(staff_id, True)


def _set_active(staff_id: int, active: bool):
    user = _staff_or_404(staff_id)
    try:
        service.set_active(user, active, actor_name(), request.remote_addr)
    except InvalidRequest as exc:
        return _refused_button(user, exc)
    db.session.commit()
    flash(_("%(name)s can sign in again.", name=user.username) if active
          else _("%(name)s is deactivated and signed out.", name=user.username), "success")
    return redirect(url_for(".staff_detail", staff_id=user.id), 303)
