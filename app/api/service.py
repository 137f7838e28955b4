"""Issuing, checking and revoking API keys."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Optional
from urllib.parse import urlsplit

import sqlalchemy as sa

from app import sealing
from app.api.models import ApiKey
from app.audit.service import record
from app.db_types import utcnow
from app.extensions import db
from app.inputs import is_plain_name
from app.phrases import phrase
from app.reviews.service import InvalidRequest

KEY_PREFIX = "hf_"
WEBHOOK_SECRET_PREFIX = "whsec_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: "whsec_" + base64 of 24 random bytes."""
    import base64

    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


# Characters no URL prefix or origin holds: a space, ';' or ',' in an origin would add to the gate page's
# CSP (frame-ancestors is a space-separated list), a control character would break the header.
NOT_IN_URLS = re.compile(r"[\s;,'\"<>\\\x00-\x1f\x7f]")


def check_key_name(name: str) -> str:
    """The name of a new key, stripped: 1 to 64 characters, not taken by another key."""
    name = name.strip()
    if not is_plain_name(name, 64):
        raise InvalidRequest("name", phrase("give 1 to 64 characters, without control characters"))
    if db.session.scalar(sa.select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise InvalidRequest("name", phrase("an API key named '%(name)s' exists already", name=name))
    return name


def _web_url(value: str, field: str):
    """The parts of an http(s) URL with a host, or InvalidRequest naming the field."""
    refused = InvalidRequest(field, phrase("'%(value)s' is not an http(s) URL with a host (no credentials, query, "
                                           "spaces or quotes)", value=value[:80]))
    if len(value) > 500 or NOT_IN_URLS.search(value):
        raise refused
    parts = urlsplit(value)
    try:
        parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        raise refused from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None \
            or parts.password is not None or parts.query or parts.fragment:
        raise refused
    return parts


def check_callback_prefix(prefix: str) -> str:
    """A callback URL prefix: http(s), a host, and the host complete.

    'https://crm.example.com' alone would also admit https://crm.example.com.evil.example/ (and
    ':8443' also ':84430'), so a path ('/') must follow; 'http://127.0.0.1:' admits any port.
    """
    parts = _web_url(prefix, "callback_prefixes")
    if not parts.path and not prefix.endswith(":"):
        raise InvalidRequest("callback_prefixes", phrase("'%(prefix)s' must end its host with '/' or ':' "
                                                         "(e.g. https://crm.example.com/hooks/)", prefix=prefix[:80]))
    return prefix


def check_frame_origin(origin: str) -> str:
    """An origin allowed to frame the gate page: scheme://host[:port], nothing after it."""
    parts = _web_url(origin.rstrip("/"), "frame_origins")
    if parts.path:
        raise InvalidRequest("frame_origins", phrase("'%(origin)s' is an origin: scheme://host[:port], no path",
                                                      origin=origin[:80]))
    return origin.rstrip("/")


def create_api_key(name: str, actor: str = "system", callback_prefixes: Optional[list[str]] = None,
                   frame_origins: Optional[list[str]] = None) -> tuple[ApiKey, str]:
    """Create a key for a calling system; the clear key is returned once and never stored.

    InvalidRequest, before anything is written, for a taken name or a prefix or origin that is not one.
    """
    name = check_key_name(name)
    callback_prefixes = [check_callback_prefix(p) for p in callback_prefixes or []]
    frame_origins = [check_frame_origin(o) for o in frame_origins or []]
    lookup = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, key_prefix=lookup, key_hash=_digest(key),
                 callback_prefixes=list(callback_prefixes or []), frame_origins=list(frame_origins or []),
                 webhook_secret=new_webhook_secret())
    db.session.add(row)
    db.session.flush()
    record(actor, "api_key.create", "api_key", row.id, {"name": name})
    return row, key


def find_api_key(presented: str) -> Optional[ApiKey]:
    """The active key matching what the caller presented, compared in constant time."""
    if not presented.startswith(KEY_PREFIX) or presented.count("_") < 2:
        return None
    lookup = presented[len(KEY_PREFIX):].split("_", 1)[0]
    row = db.session.scalars(sa.select(ApiKey).where(ApiKey.key_prefix == lookup)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _digest(presented)):
        return None
    return row


def revoke_api_key(name: str, actor: str = "system") -> bool:
    """Revoke a key by name; False when there is no such active key."""
    row = db.session.scalars(sa.select(ApiKey).where(ApiKey.name == name)).one_or_none()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    db.session.flush()
    record(actor, "api_key.revoke", "api_key", row.id, {"name": name})
    return True


def rotate_webhook_secret(name: str, actor: str = "system") -> Optional[ApiKey]:
    """Give the key NAME a new whsec_ secret; the old one keeps signing beside it until the next
    rotation (receivers accept either). None when there is no such active key."""
    row = db.session.scalars(sa.select(ApiKey).where(ApiKey.name == name)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    # The current secret goes on signing beside the new one, unless no key of SECRET_KEYS opens it.
    row.webhook_secret_previous_sealed = row.webhook_secret_sealed if row.webhook_secret else None
    row.webhook_secret = new_webhook_secret()
    row.webhook_secret_rotated_at = utcnow()
    db.session.flush()
    record(actor, "api_key.rotate_webhook_secret", "api_key", row.id, {"name": name})
    return row


def end_webhook_secret_rotation(name: str, actor: str = "system") -> Optional[ApiKey]:
    """Stop signing with the previous secret (once every receiver uses the new one)."""
    row = db.session.scalars(sa.select(ApiKey).where(ApiKey.name == name)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    row.webhook_secret_previous = None
    db.session.flush()
    record(actor, "api_key.end_webhook_secret_rotation", "api_key", row.id, {"name": name})
    return row


def reseal_webhook_secrets(actor: str) -> tuple[int, list[str]]:
    """Seal every key's webhook secrets anew under the newest of SECRET_KEYS (app.sealing).

    Returns how many secrets were sealed anew and the names of the keys with a secret no key opens
    (rotate theirs: `flask api-keys rotate-secret NAME`, and tell the business system).
    """
    resealed, unreadable = sealing.reseal_rows(
        db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id).with_for_update()),
        ("webhook_secret_sealed", "webhook_secret_previous_sealed"), sealing.WEBHOOK, lambda row: row.name)
    db.session.flush()
    record(actor, "api_key.webhook_secrets_resealed", "api_key", None, {"resealed": resealed, "unreadable": unreadable})
    return resealed, unreadable
