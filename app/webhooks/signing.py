"""Standard Webhooks v1 signatures (https://www.standardwebhooks.com), plain Python.

signature = base64(HMAC-SHA256(key, f"{webhook_id}.{webhook_timestamp}.{body}")) where key is
the base64-decoded part of the secret after "whsec_". The header lists one "v1,<sig>" per active
secret, space-separated: during a rotation receivers holding either secret verify.

Why not the `standardwebhooks` package's Webhook.sign: it signs with one secret, while a rotation
needs both signatures in one header. The tests verify what this module sends with that package.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable, Optional

SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The HMAC key inside a whsec_ secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One "v1,<base64>" signature."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Iterable[Optional[str]], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every given secret (current first)."""
    signatures = [sign(s, message_id, timestamp, body) for s in secrets if s]
    if not signatures:
        raise ValueError("no webhook secret to sign with: none set, or none that SECRET_KEYS opens (flask secrets reseal)")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def verify(secret: str, message_id: str, timestamp: str, body: str, signature_header: str) -> bool:
    """True when one of the header's v1 signatures matches (for docs and tests; receivers use a library)."""
    expected = sign(secret, message_id, int(timestamp), body).split(",", 1)[1]
    for item in signature_header.split():
        version, _, value = item.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):  # bytes: any header text
            return True
    return False
