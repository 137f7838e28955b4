"""The SMS provider interface shared by every adapter."""
from __future__ import annotations

import http.client
import json
import select
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

from delivery.outcome import SendResult, TemporaryFailure

SEGMENT = 70  # one UCS-2 segment: a Chinese SMS longer than this is split and billed twice


@dataclass(frozen=True)
class SmsMessage:
    """One SMS: the number, the full text (file/HTTP gateways), template values (cloud providers).

    idempotency_key identifies the send attempt; providers that deduplicate on it make a resend
    after a crash harmless, the others echo it back in receipts.
    """

    to: str
    text: str
    idempotency_key: str
    template_params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A delivery report: which message (provider id or our key), delivered or not, the code."""

    provider_id: Optional[str]
    idempotency_key: Optional[str]
    delivered: bool
    code: str
    message: str = ""


class SmsProvider:
    """What every adapter implements."""

    name = "base"
    #: True when the provider deduplicates on the idempotency key, so a resend is harmless.
    deduplicates = False

    def send(self, message: SmsMessage) -> SendResult:  # pragma: no cover - interface
        """Send one message; TemporaryFailure for timeouts, 5xx and throttling."""
        raise NotImplementedError

    def lookup(self, idempotency_key: str) -> Optional[str]:
        """The provider id of a message already accepted under this key, if the provider can tell."""
        return None

    def parse_receipts(self, body: bytes) -> list[Receipt]:  # pragma: no cover - interface
        """Delivery reports posted by the provider to the status endpoint."""
        raise NotImplementedError

    #: The body the provider expects back from the status endpoint.
    receipt_ack: object = {"ok": True}

    def close(self) -> None:
        """Release the kept-open connections (adapters that speak HTTP keep an HttpSession)."""
        session = getattr(self, "_http", None)
        if session is not None:
            session.close()


def compose_sms(prefix: str, body: str, url: str, limit: int = SEGMENT) -> str:
    """prefix + body + url in one segment where possible: the body is shortened, never the link."""
    text = f"{prefix}{body}{url}"
    if len(text) <= limit:
        return text
    room = limit - len(prefix) - len(url) - 1
    if room > 0:
        return f"{prefix}{body[:room]}…{url}"
    return f"{prefix}{url}" if len(prefix) + len(url) <= limit else url


class HttpSession:
    """Keep-alive HTTP/1.1 connections, one per scheme and host, for one adapter in one thread:
    a batch of messages costs one TCP (and TLS) handshake, not one per message.

    Before a kept-open connection is reused it is checked: a connection the server closed while
    idle is replaced BEFORE the request is written, so a request is never written twice. Any
    failure once the request is on its way is a TemporaryFailure, as for a fresh connection.
    """

    def __init__(self):
        self._connections: dict[tuple, http.client.HTTPConnection] = {}

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        conn = self._connections.get(key)
        if conn is not None and (conn.sock is None or _dropped(conn.sock)):
            conn.close()
            conn = None
        if conn is None:
            host = netloc.split("@")[-1]
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, timeout=timeout, context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(host, timeout=timeout)
            self._connections[key] = conn
        return conn

    def request(self, url: str, data: Optional[bytes], headers: dict, timeout: float,
                method: str = "POST") -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.netloc)
        conn = self._connection(parts.scheme, parts.netloc, timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            status, body = response.status, response.read()
            if response.will_close:
                self._drop(key)
        except (OSError, http.client.HTTPException) as exc:
            self._drop(key)
            raise TemporaryFailure(f"connection failed: {exc}") from None
        return status, body

    def _drop(self, key: tuple) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)


def _dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed by the server (or sent junk)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def http_request(url: str, data: Optional[bytes], headers: dict, timeout: float,
                 method: str = "POST", session: Optional[HttpSession] = None) -> tuple[int, bytes]:
    """One HTTP request; (status, body) for any answer; TemporaryFailure for timeouts and 5xx.
    With a session the connection is kept open for the next request."""
    if session is not None:
        status, body = session.request(url, data, headers, timeout, method)
        if status >= 500 or status == 429:
            raise TemporaryFailure(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
        return status, body
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        exc.close()
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
        raise TemporaryFailure(f"connection failed: {getattr(exc, 'reason', exc)}") from None
    if status >= 500 or status == 429:
        raise TemporaryFailure(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
    return status, body


def json_or_none(body: bytes):
    """Parsed JSON or None."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
