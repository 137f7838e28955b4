"""Sign-in and sign-out of staff."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.audit.service import record
from app.auth.forms import LoginForm
from app.auth.models import StaffUser
from app.auth.service import authenticate
from app.extensions import db, limiter, login_manager
from app.ratelimit import refused

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager.login_view = "auth.login"


@login_manager.user_loader
def load_user(user_id: str):
    """Flask-Login's loader: the staff user with this id."""
    return db.session.get(StaffUser, int(user_id))


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("console.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], deduct_when=refused)  # failed sign-ins, per address
def login():
    """Sign in with username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("console.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            record("anonymous", "staff.login_failed", "staff_user", None,
                   {"username": form.username.data[:64]}, request.remote_addr)
            db.session.commit()
            flash(_("Wrong username or password."), "error")
            return render_template("auth/login.html", form=form), 401
        login_user(user)
        record(f"staff:{user.username}", "staff.login", "staff_user", user.id, {}, request.remote_addr)
        db.session.commit()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), (422 if request.method == "POST" else 200)


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF, so a link elsewhere cannot sign staff out)."""
    logout_user()
    return redirect(url_for("auth.login"))
