"""Secrets the server must use again, kept sealed (encrypted and authenticated) in the database.

A password is hashed because the server only compares it. Some secrets must be read back: the
staff authenticator apps' TOTP keys (the server computes their codes) and the API keys' webhook
secrets (the server signs callbacks and result tokens with them). Those are sealed with Fernet
(the `cryptography` library: AES-128-CBC and HMAC-SHA256, a random IV each time) under keys derived
with HKDF-SHA256 from SECRET_KEYS, one derived key per purpose. A copy of the database, a backup or
a replica then holds neither a second factor nor what forges a completed review's callback.
MLPS 2.0 level 3 asks that authentication data and important data be kept confidential in storage.

Rotation follows SECRET_KEYS (oldest first): the newest key seals, every key opens. Before an old
key leaves the list, `flask secrets reseal` seals everything anew under the newest.
"""
from __future__ import annotations

import base64
from functools import lru_cache
from typing import Callable, Iterable, Optional

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

# HKDF's "info" per purpose: a key derived for one never opens what another sealed. Never change
# them: the migrations that sealed the values made before (c5a8f3d1e207, d7e2b4c9f018) hold them too.
STAFF_TOTP = b"huifang staff TOTP secrets"
WEBHOOK = b"huifang webhook secrets"


@lru_cache(maxsize=16)
def _sealer(secret_keys: tuple[str, ...], purpose: bytes) -> MultiFernet:
    # Cached: the webhook worker opens a secret for every callback it sends.
    def derived(secret_key: str) -> Fernet:
        key = HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
        return Fernet(base64.urlsafe_b64encode(key))

    # SECRET_KEYS lists the oldest first; MultiFernet seals with its first key and opens with any.
    return MultiFernet([derived(key) for key in reversed(secret_keys)])


def _current(purpose: bytes) -> MultiFernet:
    return _sealer(tuple(current_app.config["SECRET_KEYS"]), purpose)


def seal(value: str, purpose: bytes) -> str:
    """The value sealed under the newest of SECRET_KEYS for this purpose."""
    return _current(purpose).encrypt(value.encode()).decode()


def unseal(sealed: Optional[str], purpose: bytes) -> Optional[str]:
    """The value inside a sealed one, or None when it is None or no key of SECRET_KEYS opens it."""
    if sealed is None:
        return None
    try:
        return _current(purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def reseal(sealed: str, purpose: bytes) -> Optional[str]:
    """The same value sealed anew under the newest key, or None when no key opens it."""
    try:
        return _current(purpose).rotate(sealed.encode()).decode()
    except InvalidToken:
        return None


class Sealed:
    """A model attribute that reads and writes, as it is, the secret a sealed column holds.

    Reading gives None when the column is None or no key of SECRET_KEYS opens it.
    """

    def __init__(self, column: str, purpose: bytes):
        self.column, self.purpose = column, purpose

    def __get__(self, row, owner=None):
        return self if row is None else unseal(getattr(row, self.column), self.purpose)

    def __set__(self, row, secret: Optional[str]) -> None:
        setattr(row, self.column, None if secret is None else seal(secret, self.purpose))


def reseal_rows(rows: Iterable, columns: tuple[str, ...], purpose: bytes,
                label: Callable[[object], str]) -> tuple[int, list[str]]:
    """Seal anew, in place, the given sealed columns of each row (None ones skipped).

    Returns how many values were sealed anew and the labels of the rows holding one that no key
    opens (left as they are).
    """
    resealed, unreadable = 0, []
    for row in rows:
        for column in columns:
            value = getattr(row, column)
            sealed = None if value is None else reseal(value, purpose)
            if sealed is not None:
                setattr(row, column, sealed)
                resealed += 1
            elif value is not None and label(row) not in unreadable:
                unreadable.append(label(row))
    return resealed, unreadable
