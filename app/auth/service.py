"""Creating staff accounts and checking passwords (argon2)."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from app.audit.service import record
from app.auth import two_factor
from app.auth.models import Role, StaffUser
from app.db_types import utcnow
from app.extensions import db
from app.inputs import is_plain_name
from app.locking import lock_for_update
from app.phrases import phrase
from app.reviews.service import InvalidRequest

from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l


@lru_cache(maxsize=4)
def _hasher_for(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)


def _hasher() -> PasswordHasher:
    """argon2id with the configured cost (the library's defaults; tests lower them for speed)."""
    cfg = current_app.config
    return _hasher_for(cfg.get("ARGON2_TIME_COST", 3), cfg.get("ARGON2_MEMORY_COST", 65536))


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    # Verified against when the username is unknown, so both cases take the same time.
    return _hasher_for(time_cost, memory_cost).hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher().hash(password)


# A user name is typed at the sign-in page: letters, digits and . _ - only, so that no two look alike
# ("wang wu" and "wang  wu") and none hides a control character.
USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A staff code links clients to the staff who serve them (Client.servicing_staff_code).
STAFF_CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")


def check_new_staff(username: str, display_name: str, staff_code: Optional[str]) -> tuple[str, str, Optional[str]]:
    """The new account's names, stripped and checked; InvalidRequest naming the field otherwise."""
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise InvalidRequest("username", phrase("give 1 to 64 letters, digits, '.', '_' or '-'"))
    display_name, staff_code = _checked_names(display_name, staff_code)
    if db.session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise InvalidRequest("username", phrase("'%(name)s' is taken", name=username))
    _require_free_staff_code(staff_code)
    return username, display_name, staff_code


def _checked_names(display_name: str, staff_code: Optional[str]) -> tuple[str, Optional[str]]:
    """The display name and staff code, stripped, each in its form."""
    display_name = display_name.strip()
    staff_code = staff_code.strip() if staff_code is not None else None
    if not is_plain_name(display_name, 100):
        raise InvalidRequest("display_name", phrase("give 1 to 100 characters, without control characters"))
    if staff_code is not None and not STAFF_CODE.fullmatch(staff_code):
        raise InvalidRequest("staff_code", phrase("give 1 to 32 letters, digits, '.', '_' or '-'"))
    return display_name, staff_code


def _require_free_staff_code(staff_code: Optional[str], owner_id: Optional[int] = None) -> None:
    if staff_code is not None and db.session.scalar(sa.select(StaffUser.id).where(
            StaffUser.staff_code == staff_code, StaffUser.id != (owner_id or 0))) is not None:
        raise InvalidRequest("staff_code", phrase("'%(code)s' belongs to another account", code=staff_code))


def _acts_on_own_account(actor: str, user: StaffUser) -> bool:
    return actor == f"staff:{user.username}"


def create_staff(username: str, display_name: str, role: Role, password: Optional[str] = None,
                 staff_code: Optional[str] = None, actor: str = "system",
                 remote_addr: Optional[str] = None) -> tuple[StaffUser, str]:
    """Create a staff account; returns it with the password (generated when not given).

    A generated password has been seen by whoever created the account, so its holder must replace it
    at the first sign-in. InvalidRequest, before anything is written, for a name that is taken or
    not a name.
    """
    username, display_name, staff_code = check_new_staff(username, display_name, staff_code)
    generated = password is None
    password = password or one_time_password()
    user = StaffUser(username=username, display_name=display_name, role=role,
                     password_hash=hash_password(password), staff_code=staff_code,
                     must_change_password=generated)
    db.session.add(user)
    db.session.flush()
    record(actor, "staff.create", "staff_user", user.id, {"username": username, "role": role.value}, remote_addr)
    return user, password


def one_time_password() -> str:
    """A random password for someone else to hand over (16 URL-safe characters, 96 bits)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user when it succeeded, else why not (for the audit log)."""

    user: Optional[StaffUser]
    # unknown_user, wrong_password, locked, inactive, wrong_code, expired, unreadable_secret
    refusal: Optional[str] = None
    # The password was right and the account asks for its authenticator's code next: not signed in yet.
    needs_code: bool = False
    # On success: the account's sign-in before this one, and the wrong passwords or codes since.
    previous: Optional["PreviousSignIn"] = None


@dataclass(frozen=True)
class PreviousSignIn:
    """What the member is told on signing in, so that someone else's tries do not go unnoticed."""

    at: Optional[datetime]  # None at the first sign-in
    failures: int  # wrong passwords or codes since then, as counted towards the lock
    locked: bool  # the account was locked in between


def sign_in(username: str, password: str) -> SignIn:
    """Check a sign-in; counts wrong passwords and locks the account after STAFF_LOCKOUT_TRIES in a row.

    The password is checked against a hash every time, the account's or a dummy one, so an unknown
    or locked account answers as slowly as a known one. A locked account is refused even with the
    right password, until the lock ends or an administrator unlocks it.
    """
    user = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == username)).one_or_none()
    hasher = _hasher()
    now = utcnow()
    locked = user is not None and user.is_locked(now)
    try:
        hasher.verify(_dummy_hash(hasher.time_cost, hasher.memory_cost) if user is None or locked
                      else user.password_hash, password)
        verified = user is not None and not locked
    except (VerifyMismatchError, InvalidHashError):
        verified = False
    if user is None:
        return SignIn(None, "unknown_user")
    if locked:
        return SignIn(None, "locked")
    if not verified:
        _count_failure(user, now)
        return SignIn(None, "wrong_password")
    if not user.active:
        return SignIn(None, "inactive")
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.has_two_factor:
        # The count of failures goes on until the code is right too: a guesser who has the password
        # gets STAFF_LOCKOUT_TRIES codes per lock, not that many per right password.
        return SignIn(user, needs_code=True)
    return SignIn(user, previous=_signed_in(user, now))


def confirm_code(user_id: int, session_token: str, code: Optional[str]) -> SignIn:
    """The second step of a sign-in: the authenticator's code for the account whose password was right.

    Refused when the account changed in between (password, reset, deactivation: a new session
    token), is locked, or the code is wrong or used before; a wrong code counts towards the lockout
    like a wrong password.
    """
    user = db.session.get(StaffUser, user_id)
    now = utcnow()
    if user is None or not user.active or not user.has_two_factor or not user.holds_session(session_token):
        return SignIn(None, "expired")
    if user.is_locked(now):
        return SignIn(None, "locked")
    secret = two_factor.secret_of(user)
    if secret is None:  # sealed under a key no longer in SECRET_KEYS: no code can be checked
        return SignIn(None, "unreadable_secret")
    code = two_factor.normalized_code(code)
    if code is None or not two_factor.use_code(user, secret, code):
        _count_failure(user, now)
        return SignIn(None, "wrong_code")
    return SignIn(user, previous=_signed_in(user, now))


def _signed_in(user: StaffUser, now) -> PreviousSignIn:
    previous = PreviousSignIn(user.last_login_at, user.failed_sign_ins, user.locked_until is not None)
    user.failed_sign_ins, user.locked_until, user.last_login_at = 0, None, now
    return previous


def _count_failure(user: StaffUser, now) -> None:
    # A wrong password or a wrong code. One UPDATE adds to the count, so two at the same moment both count.
    tries = db.session.scalar(
        sa.update(StaffUser).where(StaffUser.id == user.id)
        .values(failed_sign_ins=StaffUser.failed_sign_ins + 1).returning(StaffUser.failed_sign_ins),
        execution_options={"synchronize_session": False})
    if tries < current_app.config["STAFF_LOCKOUT_TRIES"]:
        return
    until = now + timedelta(minutes=current_app.config["STAFF_LOCKOUT_MINUTES"])
    db.session.execute(sa.update(StaffUser).where(StaffUser.id == user.id)
                       .values(failed_sign_ins=0, locked_until=until),
                       execution_options={"synchronize_session": False})
    record("system", "staff.locked", "staff_user", user.id, {"username": user.username, "tries": tries,
                                                             "until": until.isoformat()})


def password_problems(user: StaffUser, new_password: str) -> list:
    """What is wrong with a new password for this user (translated messages); empty when it will do."""
    problems = []
    minimum = current_app.config["STAFF_PASSWORD_MIN_LENGTH"]
    if len(new_password) < minimum:
        problems.append(_l("Use at least %(num)d characters.", num=minimum))
    if len(new_password) > 128:
        problems.append(_l("Use at most 128 characters."))
    if user.username.lower() in new_password.lower():
        problems.append(_l("Do not put your username in the password."))
    if len(set(new_password)) < 5:
        problems.append(_l("Use more different characters."))
    if not problems and check_password(user, new_password):
        problems.append(_l("Choose a password other than the current one."))
    return problems


def password_due(user: StaffUser) -> Optional[str]:
    """Why the user must change the password before anything else ("given", "old"), or None."""
    return user.password_due(utcnow(), current_app.config["STAFF_PASSWORD_MAX_AGE_DAYS"])


def first_step(user: StaffUser) -> Optional[str]:
    """The page a signed-in member must finish before any other: a new password, then an authenticator."""
    if password_due(user):
        return "auth.password"
    if two_factor.setup_due(user):
        return "auth.two_factor_setup"
    return None


def check_password(user: StaffUser, password: str) -> bool:
    """True when the password is the user's current one."""
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def change_password(user: StaffUser, new_password: str, remote_addr: Optional[str] = None) -> None:
    """Set the user's own new password (checked by the caller); other browsers are signed out."""
    _set_password(user, new_password, must_change=False)
    record(f"staff:{user.username}", "staff.password_change", "staff_user", user.id, {}, remote_addr)


def reset_password(user: StaffUser, actor: str, remote_addr: Optional[str] = None) -> str:
    """Give the user a one-time password, to be changed at the next sign-in; returns it.

    Also ends the user's sessions and any lock (resetting is how a locked-out member gets back in).
    InvalidRequest for administrators' own accounts: they change their passwords themselves.
    """
    if _acts_on_own_account(actor, user):
        raise InvalidRequest("password", phrase("change your own password on the password page"))
    password = one_time_password()
    _set_password(user, password, must_change=True)
    record(actor, "staff.password_reset", "staff_user", user.id, {"username": user.username}, remote_addr)
    return password


def reset_two_factor(user: StaffUser, actor: str, remote_addr: Optional[str] = None) -> None:
    """Forget the account's authenticator (a lost or new phone) and end its sessions.

    Its holder sets up an app again at the next sign-in. InvalidRequest for an administrator's own
    account: whoever holds his password alone must not be able to drop the second step.
    """
    if _acts_on_own_account(actor, user):
        raise InvalidRequest("two_factor", phrase("another administrator must reset your two-step sign-in"))
    if not user.has_two_factor:
        raise InvalidRequest("two_factor", phrase("this account has not set up two-step sign-in"))
    user.totp_secret_sealed = user.totp_enabled_at = user.totp_last_step = None
    user.end_sessions()
    db.session.flush()
    record(actor, "staff.two_factor_reset", "staff_user", user.id, {"username": user.username}, remote_addr)


def _set_password(user: StaffUser, password: str, must_change: bool) -> None:
    user.password_hash = hash_password(password)
    user.must_change_password = must_change
    user.password_changed_at = utcnow()
    user.failed_sign_ins, user.locked_until = 0, None
    user.end_sessions()
    db.session.flush()


def unlock(user: StaffUser, actor: str, remote_addr: Optional[str] = None) -> None:
    """End a lock after wrong passwords."""
    user.failed_sign_ins, user.locked_until = 0, None
    db.session.flush()
    record(actor, "staff.unlock", "staff_user", user.id, {"username": user.username}, remote_addr)


def update_staff(user: StaffUser, actor: str, *, display_name: str, role: Role, staff_code: Optional[str],
                 remote_addr: Optional[str] = None) -> None:
    """Change an account's name, role (rotation of posts, standard 7.4) and staff code.

    InvalidRequest naming the field, before anything changes, for a bad name, a code in use, or an
    administrator changing his or her own role (another administrator must, so one always remains).
    """
    # The form's blank staff code means "none".
    display_name, staff_code = _checked_names(display_name, (staff_code or "").strip() or None)
    _require_free_staff_code(staff_code, owner_id=user.id)
    if role is not user.role and _acts_on_own_account(actor, user):
        raise InvalidRequest("role", phrase("another administrator must change your own role"))
    if user.role is Role.ADMIN and role is not Role.ADMIN:
        _require_another_administrator(user, "role")
    changes = {name: {"from": old, "to": new} for name, old, new in (
        ("display_name", user.display_name, display_name), ("role", user.role.value, role.value),
        ("staff_code", user.staff_code, staff_code)) if old != new}
    if not changes:
        return
    user.display_name, user.role, user.staff_code = display_name, role, staff_code
    db.session.flush()
    record(actor, "staff.update", "staff_user", user.id, {"username": user.username, **changes}, remote_addr)


def set_active(user: StaffUser, active: bool, actor: str, remote_addr: Optional[str] = None) -> None:
    """Deactivate (signing the user out everywhere at once) or reactivate an account.

    InvalidRequest when administrators try it on their own account.
    """
    if _acts_on_own_account(actor, user):
        raise InvalidRequest("active", phrase("another administrator must deactivate your own account"))
    if user.active == active:
        return
    if not active:
        _require_another_administrator(user, "active")
    user.active = active
    user.end_sessions()
    db.session.flush()
    record(actor, "staff.activate" if active else "staff.deactivate", "staff_user", user.id,
           {"username": user.username}, remote_addr)


def _require_another_administrator(user: StaffUser, field: str) -> None:
    """Refuse to take away the firm's last active administrator.

    No one can demote or deactivate himself, but two administrators can each do it to the other at
    the same moment. So the active administrators' rows are locked first, in id order (PostgreSQL:
    FOR UPDATE, and the second of two such requests waits, then sees the first one's change;
    SQLite: a write takes the database's single write lock, and what is read after it is current).
    """
    if user.role is not Role.ADMIN or not user.active:
        return
    if db.session.get_bind().dialect.name == "sqlite":
        lock_for_update(StaffUser, user.id)
    admins = db.session.scalars(sa.select(StaffUser.id).where(StaffUser.role == Role.ADMIN, StaffUser.active)
                                .order_by(StaffUser.id).with_for_update()).all()
    if not any(admin_id != user.id for admin_id in admins):
        raise InvalidRequest(field, phrase("the firm must keep an active administrator: make another account one first"))


def user_for_session(session_id: str) -> Optional[StaffUser]:
    """The account a session's id ("<row id>:<session token>") still names, or None.

    None for an id from before the account's last password change, reset or deactivation.
    """
    row, _sep, token = (session_id or "").partition(":")
    if not row.isascii() or not row.isdigit() or not token:
        return None
    user = db.session.get(StaffUser, int(row))
    return user if user is not None and user.holds_session(token) else None


def find_admin() -> Optional[StaffUser]:
    """Any admin account (to know whether a first one must be created)."""
    return db.session.scalars(sa.select(StaffUser).where(StaffUser.role == Role.ADMIN).limit(1)).first()
