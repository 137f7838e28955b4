"""Signed tokens of mandatory mode, plain Python (itsdangerous), one salt per purpose.

- Gate links carry only the session's opaque public id, signed with the app's keys.
- Result tokens tell the business system how a session ended. They are signed with the API
  key's webhook secret (the decoded bytes after "whsec_"), so the business system verifies them
  itself: HMAC-SHA256 with itsdangerous' "hmac" key derivation, documented in docs/mandatory-mode.md.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.webhooks.signing import secret_bytes

GATE_LINK_SALT = "huifang.mandatory-gate.v1"
RESULT_TOKEN_SALT = "huifang.mandatory-result.v1"
SIGNER_KWARGS = {"key_derivation": "hmac", "digest_method": hashlib.sha256}


class TokenError(Exception):
    """A token that does not verify; `reason` is 'tampered' or 'expired'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _loads(serializer: URLSafeTimedSerializer, token: str, max_age: Optional[int]):
    try:
        return serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError("expired") from exc
    except BadSignature as exc:
        raise TokenError("tampered") from exc


def gate_serializer(app_keys: Sequence[str]) -> URLSafeTimedSerializer:
    """Signs gate links with the app's keys (oldest first; the newest signs)."""
    return URLSafeTimedSerializer(list(app_keys), salt=GATE_LINK_SALT)


def sign_gate(app_keys: Sequence[str], public_id: str) -> str:
    """The token in a gate URL."""
    return gate_serializer(app_keys).dumps(public_id)


def verify_gate(app_keys: Sequence[str], token: str, max_age: int) -> str:
    """The session public id in a gate token, or TokenError."""
    value = _loads(gate_serializer(app_keys), token, max_age)
    if not isinstance(value, str):
        raise TokenError("tampered")
    return value


def result_serializer(webhook_secrets: Sequence[str]) -> URLSafeTimedSerializer:
    """Signs result tokens with the API key's whsec_ secrets (previous first, current last: it signs)."""
    keys = [secret_bytes(s) for s in webhook_secrets if s]
    return URLSafeTimedSerializer(keys, salt=RESULT_TOKEN_SALT, signer_kwargs=SIGNER_KWARGS)


def sign_result(webhook_secrets: Sequence[str], claims: dict) -> str:
    """A result token for {sid, status, receipt_no}; no personal data."""
    return result_serializer(webhook_secrets).dumps(claims)


def verify_result(webhook_secrets: Sequence[str], token: str, max_age: Optional[int] = None) -> dict:
    """The claims of a result token, or TokenError (what a Python business system would call)."""
    value = _loads(result_serializer(webhook_secrets), token, max_age)
    if not isinstance(value, dict):
        raise TokenError("tampered")
    return value
