"""Creating staff accounts and checking passwords (argon2)."""
from __future__ import annotations

import re
import secrets
from typing import Optional

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from app.audit.service import record
from app.auth.models import Role, StaffUser
from app.db_types import utcnow
from app.extensions import db
from app.inputs import is_plain_name
from app.reviews.service import InvalidRequest

from functools import lru_cache

from flask import current_app


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
    username, display_name = username.strip(), display_name.strip()
    staff_code = staff_code.strip() if staff_code is not None else None
    if not USERNAME.fullmatch(username):
        raise InvalidRequest("username", "give 1 to 64 letters, digits, '.', '_' or '-'")
    if not is_plain_name(display_name, 100):
        raise InvalidRequest("display_name", "give 1 to 100 characters, without control characters")
    if staff_code is not None and not STAFF_CODE.fullmatch(staff_code):
        raise InvalidRequest("staff_code", "give 1 to 32 letters, digits, '.', '_' or '-'")
    if db.session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise InvalidRequest("username", f"'{username}' is taken")
    if staff_code is not None and db.session.scalar(
            sa.select(StaffUser.id).where(StaffUser.staff_code == staff_code)) is not None:
        raise InvalidRequest("staff_code", f"'{staff_code}' belongs to another account")
    return username, display_name, staff_code


def create_staff(username: str, display_name: str, role: Role, password: Optional[str] = None,
                 staff_code: Optional[str] = None, actor: str = "system") -> tuple[StaffUser, str]:
    """Create a staff account; returns it with the password (generated when not given).

    InvalidRequest, before anything is written, for a name that is taken or not a name.
    """
    username, display_name, staff_code = check_new_staff(username, display_name, staff_code)
    password = password or secrets.token_urlsafe(12)
    user = StaffUser(username=username, display_name=display_name, role=role,
                     password_hash=hash_password(password), staff_code=staff_code)
    db.session.add(user)
    db.session.flush()
    record(actor, "staff.create", "staff_user", user.id, {"username": username, "role": role.value})
    return user, password


def authenticate(username: str, password: str) -> Optional[StaffUser]:
    """The active user with these credentials, or None."""
    user = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == username)).one_or_none()
    try:
        hasher = _hasher()
        hasher.verify(user.password_hash if user else _dummy_hash(hasher.time_cost, hasher.memory_cost), password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def find_admin() -> Optional[StaffUser]:
    """Any admin account (to know whether a first one must be created)."""
    return db.session.scalars(sa.select(StaffUser).where(StaffUser.role == Role.ADMIN).limit(1)).first()
