"""Two-step sign-in of staff: time-based codes from an authenticator app (RFC 6238, through pyotp).

MLPS 2.0 (level 3, which securities firms' systems are assessed against) asks for two kinds of proof
at sign-in, one of them cryptographic. The password is the first; a TOTP code from the member's
phone is the second. An administrator resets a lost phone (app.auth.service.reset_two_factor:
the console's staff page and `flask users reset-two-factor`).

The app's secret is kept sealed under SECRET_KEYS (app.sealing), never as it is: unlike a
password it cannot be hashed, since the server must compute the codes.
"""
from __future__ import annotations

import hmac
import logging
import re
import unicodedata
from datetime import datetime
from typing import Optional

import pyotp
import qrcode
import qrcode.image.svg
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from app import sealing
from app.audit.service import record
from app.auth.models import StaffUser
from app.db_types import utcnow
from app.extensions import db

# Codes one step either side of now are accepted too: a phone's clock a little off, or a code
# typed just as it changed (RFC 6238, 5.2 and 6).
DRIFT_STEPS = 1
CODE = re.compile(r"[0-9]{6}")  # ASCII only: \d would take other scripts' digits
log = logging.getLogger(__name__)


def seal(secret: str) -> str:
    """The secret sealed for storage (app.sealing)."""
    return sealing.seal(secret, sealing.STAFF_TOTP)


def unseal(sealed: Optional[str]) -> Optional[str]:
    """The secret inside a sealed one, or None when no key of SECRET_KEYS opens it (or it is None)."""
    return sealing.unseal(sealed, sealing.STAFF_TOTP)


def secret_of(user: StaffUser) -> Optional[str]:
    """The account's authenticator secret, or None (logged, without the value) when it cannot be opened."""
    secret = user.totp_secret
    if secret is None and user.totp_secret_sealed is not None:
        log.error("The TOTP secret of staff account %s opens with none of SECRET_KEYS: was a key dropped "
                  "before `flask secrets reseal`? Its two-step sign-in must be reset.", user.id)
    return secret


def reseal_all(actor: str) -> tuple[int, list[str]]:
    """Seal every account's secret anew under the newest key, before an old key leaves SECRET_KEYS.

    Returns how many were sealed anew and the usernames whose secrets no key opens (their two-step
    sign-in must be reset).
    """
    resealed, unreadable = sealing.reseal_rows(
        db.session.scalars(sa.select(StaffUser).where(StaffUser.totp_secret_sealed.is_not(None))
                           .order_by(StaffUser.id).with_for_update()),
        ("totp_secret_sealed",), sealing.STAFF_TOTP, lambda user: user.username)
    db.session.flush()
    record(actor, "staff.two_factor_resealed", "staff_user", None,
           {"resealed": resealed, "unreadable": unreadable})
    return resealed, unreadable


def new_secret() -> str:
    """A new random TOTP secret (160 bits, base32, the length RFC 4226 recommends)."""
    return pyotp.random_base32()


def provisioning_uri(user: StaffUser, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code; it names no client."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username,
                                              issuer_name=current_app.config["STAFF_TOTP_ISSUER"])


def qr_svg(uri: str) -> str:
    """The address as an inline SVG QR code (no image file, no data: URL for the CSP to allow)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    return svg[svg.index("<svg"):]


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def normalized_code(code: Optional[str]) -> Optional[str]:
    """The six digits of a typed code, or None when it is not six digits.

    Spaces and dashes, as apps show codes, are dropped, and full-width digits (a Chinese input
    method's) become ASCII ones (NFKC); any other digit is refused, not compared.
    """
    digits = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", code or ""))
    return digits if CODE.fullmatch(digits) else None


def matching_step(secret: str, code: str, now: datetime, after: Optional[int] = None) -> Optional[int]:
    """The time step whose code this is (within DRIFT_STEPS of now and later than `after`), or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # pyotp's own verify() says only yes or no; the step is needed to refuse a code used before.
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def use_code(user: StaffUser, secret: str, code: str) -> bool:
    """Check a sign-in code and spend it: True once per code, even for two requests at the same moment.

    The step is recorded by a conditional UPDATE, so of two requests carrying the same code only
    one finds the row still before that step.
    """
    step = matching_step(secret, code, utcnow(), user.totp_last_step)
    if step is None:
        return False
    spent = db.session.execute(
        sa.update(StaffUser).where(StaffUser.id == user.id,
                                   sa.or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
        .values(totp_last_step=step), execution_options={"synchronize_session": False}).rowcount
    if spent:  # the row has it already: keep the object in step without a second UPDATE
        set_committed_value(user, "totp_last_step", step)
    return bool(spent)


def enable(user: StaffUser, secret: str, code: Optional[str], remote_addr: Optional[str] = None) -> bool:
    """Turn on two-step sign-in with the secret the member's app holds, proved by one of its codes.

    False, and nothing written, when the code is not the secret's. Every other browser signed in as
    the member is signed out: it got in on the password alone.
    """
    step = matching_step(secret, code, utcnow()) if code else None
    if step is None:
        return False
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = secret, utcnow(), step
    user.end_sessions()
    db.session.flush()
    record(f"staff:{user.username}", "staff.two_factor_enabled", "staff_user", user.id, {}, remote_addr)
    return True


def setup_due(user: StaffUser) -> bool:
    """True when the firm requires two-step sign-in and this member has not set it up."""
    return current_app.config["STAFF_TWO_FACTOR_REQUIRED"] and not user.has_two_factor
