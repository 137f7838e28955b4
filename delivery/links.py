"""Signed, expiring links that carry only an opaque invitation id (no personal data)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Sequence

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

# One salt per purpose, so a token signed for one use never verifies for another.
INVITATION_LINK_SALT = "huifang.invitation-link.v1"

# Alphabet for short codes: no 0/O/1/l/I, so a code typed from paper is not misread.
SHORT_CODE_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


class LinkError(Exception):
    """A link that cannot be used; `reason` is 'tampered' or 'expired'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkSigner:
    """Signs and verifies invitation links; keys oldest first, the newest signs, all verify."""

    secret_keys: Sequence[str]
    max_age_seconds: int

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(list(self.secret_keys), salt=INVITATION_LINK_SALT)

    def sign(self, public_id: str) -> str:
        """A URL-safe token for the invitation's public id."""
        return self._serializer().dumps(public_id)

    def verify(self, token: str) -> str:
        """The public id inside a valid token; LinkError('tampered'|'expired') otherwise."""
        try:
            value = self._serializer().loads(token, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            raise LinkError("expired") from exc
        except BadSignature as exc:
            raise LinkError("tampered") from exc
        if not isinstance(value, str):
            raise LinkError("tampered")
        return value


def new_public_id() -> str:
    """A random opaque id (128 bits) for an invitation."""
    return secrets.token_urlsafe(16)


def new_short_code(length: int = 10) -> str:
    """A random short code for SMS links (~58 bits with the default length)."""
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(length))
