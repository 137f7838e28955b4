"""Administrators' pages for the business systems' API keys: list, create (the key shown once),
revoke, and rotate the webhook signing secret. The same services as `flask api-keys …`, which audit.

A firm's review administrators hand keys to the systems that integrate the gate; they should not
need a shell on the server for it.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.api import service
from app.api.forms import ApiKeyForm, lines
from app.api.models import ApiKey
from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.console.forms import show_refusal
from app.console.nav import nav_item
from app.extensions import db
from app.reviews.service import InvalidRequest

bp = Blueprint("api_admin", __name__, url_prefix="/console/api-keys", template_folder="templates")
ADMINS = (Role.ADMIN,)
nav_item("API keys", "api_admin.keys", ADMINS, order=96)


def _key_or_404(key_id: int) -> ApiKey:
    return db.get_or_404(ApiKey, key_id, description=_("There is no such API key."))


@bp.get("/")
@roles_required(*ADMINS)
def keys():
    """Every key, active first, by name."""
    rows = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.name)).all()
    return render_template("api_keys/list.html", keys=rows)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*ADMINS)
def new():
    """Create a key; the answer shows the key and the webhook secret, the key never again."""
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            row, key = service.create_api_key(form.name.data, actor_name(), lines(form.callback_prefixes.data),
                                              lines(form.frame_origins.data))
        except InvalidRequest as exc:
            db.session.rollback()
            show_refusal(form, exc.field, exc.message)
        else:
            db.session.commit()
            return render_template("api_keys/shown_once.html", row=row, key=key)
    return render_template("api_keys/new.html", form=form), (422 if request.method == "POST" else 200)


@bp.get("/<int:key_id>")
@roles_required(*ADMINS)
def detail(key_id: int):
    """One key: where its callbacks may go, who may frame its gate, its secret's rotation."""
    return render_template("api_keys/detail.html", row=_key_or_404(key_id))


@bp.post("/<int:key_id>/revoke")
@roles_required(*ADMINS)
def revoke(key_id: int):
    """Revoke the key at once: its system's next request is refused (401)."""
    row = _key_or_404(key_id)
    if request.form.get("confirm") != "y":
        flash(_("Tick the box to confirm."), "error")
        return render_template("api_keys/detail.html", row=row), 422
    if not service.revoke_api_key(row.name, actor_name()):
        abort(409, _("This key is revoked already."))
    db.session.commit()
    flash(_("The key %(name)s is revoked.", name=row.name), "success")
    return redirect(url_for(".detail", key_id=row.id), 303)


@bp.post("/<int:key_id>/rotate-secret")
@roles_required(*ADMINS)
def rotate_secret(key_id: int):
    """A new webhook secret; the old one keeps signing beside it until the rotation is ended."""
    row = _key_or_404(key_id)
    if service.rotate_webhook_secret(row.name, actor_name()) is None:
        abort(409, _("This key is revoked."))
    db.session.commit()
    return render_template("api_keys/shown_once.html", row=row, key=None)


@bp.post("/<int:key_id>/end-rotation")
@roles_required(*ADMINS)
def end_rotation(key_id: int):
    """Stop signing with the previous secret, once the receiver checks the new one."""
    row = _key_or_404(key_id)
    if service.end_webhook_secret_rotation(row.name, actor_name()) is None:
        abort(409, _("This key is revoked."))
    db.session.commit()
    flash(_("Callbacks of %(name)s are signed with the new secret only.", name=row.name), "success")
    return redirect(url_for(".detail", key_id=row.id), 303)
