"""Issuing, checking and revoking API keys."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Optional

import sqlalchemy as sa

from app.api.models import ApiKey
from app.audit.service import record
from app.db_types import utcnow
from app.extensions import db

KEY_PREFIX = "hf_"
WEBHOOK_SECRET_PREFIX = "whsec_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: "whsec_" + base64 of 24 random bytes."""
    import base64

    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def create_api_key(name: str, actor: str = "system", callback_prefixes: Optional[list[str]] = None,
                   frame_origins: Optional[list[str]] = None) -> tuple[ApiKey, str]:
    """Create a key for a calling system; the clear key is returned once and never stored."""
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
    row.webhook_secret_previous = row.webhook_secret
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
