"""Sign-in, sign-out and password change of staff; the administrators' staff pages are in admin.py."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Optional

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup

from app.audit.service import record
from app.auth import admin, two_factor
from app.auth.forms import CodeForm, LoginForm, PasswordChangeForm
from app.auth.service import change_password, confirm_code, first_step, password_due, sign_in, user_for_session
from app.console.forms import firm_time
from app.extensions import db, limiter, login_manager
from app.i18n import current_lang
from app.ratelimit import refused

bp = Blueprint("auth", __name__, template_folder="templates")
blueprints = [bp, admin.bp]
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"

# Session keys (seconds since the epoch): when the staff member signed in, and was last seen.
SIGNED_IN_AT, LAST_SEEN = "staff_signed_in_at", "staff_last_seen"
# A sign-in whose password was right, waiting for the authenticator's code: the account's id and
# session token, when the password was given, and where to go next. It lasts PENDING_MINUTES.
PENDING, PENDING_MINUTES = "staff_pending_sign_in", 5
# The secret of an authenticator being set up, with the account's id, until a first code confirms it.
# The member sees it on the page anyway; it leaves the cookie when the setup is done or the member
# signs out, and is never offered to another account (a shared branch PC after a timed-out session).
SETUP_SECRET = "staff_totp_setup"


@login_manager.user_loader
def load_user(session_id: str):
    """Flask-Login's loader: the account the session names, while the session has not timed out.

    A console session ends after STAFF_IDLE_MINUTES without a request and STAFF_SESSION_HOURS after
    sign-in (MLPS 2.0: sessions end on their own), and when its token is no longer the account's.
    The hook below ends a timed-out session first and audits it; the check here covers a request
    whose hooks were cut short (a CSRF or rate-limit refusal) before it ran.
    """
    now = int(time.time())
    timed_out = _timed_out(now)
    if timed_out:
        _end_session(_timeout_message(timed_out))
        return None
    user = user_for_session(session_id)
    if user is None:
        _end_session(_("Your password was changed or your account was deactivated; please sign in again."))
        return None
    if now - session.get(LAST_SEEN, 0) >= 60:  # rewrite the cookie at most once a minute
        session[LAST_SEEN] = now
    return user


def _timed_out(now: int) -> Optional[tuple[str, int]]:
    """Why and when (seconds since the epoch) the session's time ran out: ("idle" | "absolute", at), or None."""
    config = current_app.config
    idle_end = session.get(LAST_SEEN, 0) + config["STAFF_IDLE_MINUTES"] * 60
    absolute_end = session.get(SIGNED_IN_AT, 0) + config["STAFF_SESSION_HOURS"] * 3600
    if now <= min(idle_end, absolute_end):
        return None
    return ("absolute", absolute_end) if absolute_end <= idle_end else ("idle", idle_end)


def _timeout_message(timed_out: tuple[str, int]) -> str:
    config = current_app.config
    if timed_out[0] == "idle":
        return _("You were signed out after %(num)d minutes without activity.", num=config["STAFF_IDLE_MINUTES"])
    return _("You were signed out %(num)d hours after signing in.", num=config["STAFF_SESSION_HOURS"])


@bp.before_app_request
def _end_timed_out_session():
    """End a console session whose time ran out, and audit it when its browser comes back.

    Runs before anything else of the request has written, so its own commit carries the entry alone.
    A session whose browser never comes back leaves no entry: the cookie is the only copy of it.
    """
    if "_user_id" not in session:  # the clients' pages: one dict lookup
        return None
    timed_out = _timed_out(int(time.time()))
    if timed_out is None:
        return None
    user = user_for_session(session["_user_id"])  # None: already ended by a password change or reset
    _end_session(_timeout_message(timed_out))
    if user is not None:
        record(f"staff:{user.username}", "staff.session_expired", "staff_user", user.id,
               {"reason": timed_out[0], "ended_at": datetime.fromtimestamp(timed_out[1], timezone.utc).isoformat()},
               request.remote_addr)
        db.session.commit()
    return None


def _end_session(message: str) -> None:
    # Not logout_user(): it would ask for the current user, which is being loaded.
    for key in ("_user_id", "_fresh", "_id", SIGNED_IN_AT, LAST_SEEN):
        session.pop(key, None)
    flash(message, "info")


@bp.before_app_request
def _require_first_step():
    """Send a member to the page that must come first (a new password, an authenticator) before the console."""
    if request.path.startswith("/console") and "_user_id" in session and current_user.is_authenticated:
        step = first_step(current_user)
        if step:
            return redirect(url_for(step, next=request.full_path if request.method == "GET" else None))
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
    """Sign in with username and password; an account with an authenticator goes on to its code."""
    if current_user.is_authenticated:
        return redirect(url_for("console.index"))
    form = LoginForm()
    if form.validate_on_submit():
        outcome = sign_in(form.username.data, form.password.data)
        if outcome.user is None:
            _record_refusal(outcome, None, {"username": form.username.data[:64]})
            # One answer for every refusal, so the page tells nobody which usernames exist.
            flash(_("Wrong username or password."), "error")
            return render_template("auth/login.html", form=form, refused=True), 401
        if outcome.needs_code:
            db.session.commit()  # a rehashed password
            session[PENDING] = {"id": outcome.user.id, "token": outcome.user.session_token,
                                "at": int(time.time()), "next": request.args.get("next")}
            return redirect(url_for("auth.login_code"))
        return _complete_sign_in(outcome, request.args.get("next"))
    return render_template("auth/login.html", form=form), (422 if request.method == "POST" else 200)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], deduct_when=refused)  # wrong codes, per address
def login_code():
    """The second step of a sign-in: the six-digit code the member's authenticator app shows."""
    pending = session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_MINUTES * 60:
        session.pop(PENDING, None)
        if pending:
            flash(_("Sign in again: the code must follow the password within %(num)d minutes.",
                    num=PENDING_MINUTES), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        outcome = confirm_code(pending["id"], pending["token"], form.code.data)
        if outcome.refusal == "wrong_code":
            _record_refusal(outcome, pending["id"])
            form.code.errors.append(_("This is not the code your app shows now, or it was used already. "
                                      "Wait for the next code and type it."))
            return render_template("auth/login_code.html", form=form, refused=True), 401
        if outcome.user is None:  # locked, the account changed since the password was given, or its key is lost
            _record_refusal(outcome, pending["id"])
            session.pop(PENDING, None)
            flash(_code_step_ended(outcome.refusal), "error")
            return redirect(url_for("auth.login"), 303)
        session.pop(PENDING, None)
        return _complete_sign_in(outcome, pending.get("next"))
    return render_template("auth/login_code.html", form=form), (422 if request.method == "POST" else 200)


def _code_step_ended(refusal: str) -> str:
    if refusal == "locked":
        return _("Too many wrong tries: the account is locked for %(num)d minutes; an administrator can unlock it.",
                 num=current_app.config["STAFF_LOCKOUT_MINUTES"])
    if refusal == "unreadable_secret":
        return _("Your authenticator app's key can no longer be read on this server. "
                 "Ask an administrator to reset your two-step sign-in, then set up the app again.")
    return _("Please sign in again.")


def _record_refusal(outcome, user_id: Optional[int], details: Optional[dict] = None) -> None:
    record("anonymous", "staff.login_failed", "staff_user", user_id,
           {**(details or {}), "reason": outcome.refusal}, request.remote_addr)
    db.session.commit()


def _complete_sign_in(outcome, next_path: Optional[str]):
    """Begin the member's session, audit it, say when the last one was, and go on: first to a page
    that must come first."""
    user = outcome.user
    _begin_session(user)
    _tell_previous_sign_in(outcome.previous)
    record(f"staff:{user.username}", "staff.login", "staff_user", user.id,
           {"two_factor": user.has_two_factor}, request.remote_addr)
    db.session.commit()
    step = first_step(user)
    if step:
        return redirect(url_for(step, next=next_path))
    return redirect(_safe_next(next_path))


def _tell_previous_sign_in(previous) -> None:
    # Someone else's tries show to the one person who can tell they were not his own.
    if previous is None or previous.at is None:
        return
    flash(_("Your last sign-in was at %(when)s (UTC+8).", when=firm_time(previous.at)), "info")
    if previous.failures or previous.locked:
        parts = [_("Since then the account was locked after wrong passwords or codes.") if previous.locked else "",
                 ngettext("%(num)d wrong password or code was tried since then.",
                          "%(num)d wrong passwords or codes were tried since then.", previous.failures)
                 if previous.failures else "",
                 _("If that was not you, tell an administrator.")]
        # Chinese sentences follow each other without a space; English ones with one.
        flash(("" if current_lang() == "zh-CN" else " ").join(part for part in parts if part), "warning")


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


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Set up two-step sign-in: scan the QR code into an authenticator app and type its first code."""
    user = current_user._get_current_object()
    if password_due(user):
        return redirect(url_for("auth.password", next=url_for("auth.two_factor_setup")))
    if user.has_two_factor:
        return render_template("auth/two_factor.html", user=user)
    setup = session.get(SETUP_SECRET)
    if not setup or setup.get("id") != user.id:
        # Sealed in the cookie too: Flask's session is signed, not encrypted, and the cookie may be
        # kept (a proxy's log, a copied profile) after the key has become the account's second factor.
        setup = session[SETUP_SECRET] = {"id": user.id, "sealed": two_factor.seal(two_factor.new_secret())}
    secret = two_factor.unseal(setup.get("sealed"))
    if secret is None:  # sealed under a key since dropped from SECRET_KEYS: start again with a new one
        session.pop(SETUP_SECRET)
        return redirect(url_for("auth.two_factor_setup", next=request.args.get("next")), 303)
    form = CodeForm()
    if form.validate_on_submit():
        if two_factor.enable(user, secret, two_factor.normalized_code(form.code.data), request.remote_addr):
            db.session.commit()
            session.pop(SETUP_SECRET, None)
            _begin_session(user)  # enable() signed out every browser that got in on the password alone
            flash(_("Two-step sign-in is on: after your password, give the code your app shows."), "success")
            return redirect(_safe_next(request.args.get("next")), 303)
        form.code.errors.append(_("This is not the code your app shows now. Check that the phone's clock is right."))
    uri = two_factor.provisioning_uri(user, secret)
    return render_template("auth/two_factor.html", user=user, form=form, qr=Markup(two_factor.qr_svg(uri)),
                           secret=two_factor.grouped(secret)), (422 if request.method == "POST" else 200)


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF, so a link elsewhere cannot sign staff out)."""
    if current_user.is_authenticated:
        record(f"staff:{current_user.username}", "staff.logout", "staff_user", current_user.id, {}, request.remote_addr)
        db.session.commit()
    logout_user()
    for key in (SIGNED_IN_AT, LAST_SEEN, PENDING, SETUP_SECRET):
        session.pop(key, None)
    return redirect(url_for("auth.login"))
