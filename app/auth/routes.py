"""Sign-in, sign-out and password change of staff; the administrators' staff pages are in admin.py."""
from __future__ import annotations

import re
import time
from typing import Optional

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from app.audit.service import record
from app.auth import admin
from app.auth.forms import LoginForm, PasswordChangeForm
from app.auth.service import change_password, password_due, sign_in, user_for_session
from app.extensions import db, limiter, login_manager
from app.ratelimit import refused

bp = Blueprint("auth", __name__, template_folder="templates")
blueprints = [bp, admin.bp]
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"

# Session keys (seconds since the epoch): when the staff member signed in, and was last seen.
SIGNED_IN_AT, LAST_SEEN = "staff_signed_in_at", "staff_last_seen"


@login_manager.user_loader
def load_user(session_id: str):
    """Flask-Login's loader: the account the session names, while the session has not timed out.

    A console session ends after STAFF_IDLE_MINUTES without a request and STAFF_SESSION_HOURS after
    sign-in (MLPS 2.0: sessions end on their own), and when its token is no longer the account's.
    """
    now = int(time.time())
    config = current_app.config
    signed_in_at, last_seen = session.get(SIGNED_IN_AT, 0), session.get(LAST_SEEN, 0)
    if now - last_seen > config["STAFF_IDLE_MINUTES"] * 60 or now - signed_in_at > config["STAFF_SESSION_HOURS"] * 3600:
        _end_session(_("You were signed out after %(num)d minutes without activity.", num=config["STAFF_IDLE_MINUTES"])
                     if now - signed_in_at <= config["STAFF_SESSION_HOURS"] * 3600
                     else _("You were signed out %(num)d hours after signing in.", num=config["STAFF_SESSION_HOURS"]))
        return None
    user = user_for_session(session_id)
    if user is None:
        _end_session(_("Your password was changed or your account was deactivated; please sign in again."))
        return None
    if now - last_seen >= 60:  # rewrite the cookie at most once a minute
        session[LAST_SEEN] = now
    return user


def _end_session(message: str) -> None:
    # Not logout_user(): it would ask for the current user, which is being loaded.
    for key in ("_user_id", "_fresh", "_id", SIGNED_IN_AT, LAST_SEEN):
        session.pop(key, None)
    flash(message, "info")


@bp.before_app_request
def _require_new_password():
    """Send a member whose password someone else has seen to the change page before anything else."""
    if (request.path.startswith("/console") and "_user_id" in session
            and current_user.is_authenticated and password_due(current_user)):
        return redirect(url_for("auth.password", next=request.full_path if request.method == "GET" else None))
    return None


# Same-site paths only: an open redirect would let a phishing link borrow our sign-in page. No
# backslash, space or control character either: browsers read "/\evil.example" and "/\t/evil.example"
# as "//evil.example", another site.
SAFE_NEXT = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")


def _safe_next(target: Optional[str]) -> str:
    if target and SAFE_NEXT.fullmatch(target):
        return target
    return url_for("console.index")


def _begin_session(user) -> None:
    login_user(user)
    now = int(time.time())
    session[SIGNED_IN_AT] = session[LAST_SEEN] = now


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], deduct_when=refused)  # failed sign-ins, per address
def login():
    """Sign in with username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("console.index"))
    form = LoginForm()
    if form.validate_on_submit():
        outcome = sign_in(form.username.data, form.password.data)
        if outcome.user is None:
            record("anonymous", "staff.login_failed", "staff_user", None,
                   {"username": form.username.data[:64], "reason": outcome.refusal}, request.remote_addr)
            db.session.commit()
            # One answer for every refusal, so the page tells nobody which usernames exist.
            flash(_("Wrong username or password."), "error")
            return render_template("auth/login.html", form=form, refused=True), 401
        _begin_session(outcome.user)
        record(f"staff:{outcome.user.username}", "staff.login", "staff_user", outcome.user.id, {}, request.remote_addr)
        db.session.commit()
        if password_due(outcome.user):
            return redirect(url_for("auth.password", next=request.args.get("next")))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), (422 if request.method == "POST" else 200)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password; required first when someone else has seen the current one."""
    user = current_user._get_current_object()  # the account itself: login_user below must not get the proxy
    form = PasswordChangeForm(user=user)
    if form.validate_on_submit():
        change_password(user, form.new_password.data, request.remote_addr)
        db.session.commit()
        _begin_session(user)  # this browser keeps going; every other one is signed out
        flash(_("Your password is changed. Other browsers signed in as you are signed out."), "success")
        return redirect(_safe_next(request.args.get("next")), 303)
    return render_template("auth/password.html", form=form, due=password_due(user)), \
        (422 if request.method == "POST" else 200)


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF, so a link elsewhere cannot sign staff out)."""
    if current_user.is_authenticated:
        record(f"staff:{current_user.username}", "staff.logout", "staff_user", current_user.id, {}, request.remote_addr)
        db.session.commit()
    logout_user()
    session.pop(SIGNED_IN_AT, None)
    session.pop(LAST_SEEN, None)
    return redirect(url_for("auth.login"))
