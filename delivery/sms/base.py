"""The SMS provider interface shared by every adapter."""
from __future__ import annotations

import json
import socket
import urllib.error
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
        """Release connections (nothing by default)."""


def compose_sms(prefix: str, body: str, url: str, limit: int = SEGMENT) -> str:
    """prefix + body + url in one segment where possible: the body is shortened, never the link."""
    text = f"{prefix}{body}{url}"
    if len(text) <= limit:
        return text
    room = limit - len(prefix) - len(url) - 1
    if room > 0:
        return f"{prefix}{body[:room]}…{url}"
    return f"{prefix}{url}" if len(prefix) + len(url) <= limit else url


def http_request(url: str, data: Optional[bytes], headers: dict, timeout: float,
                 method: str = "POST") -> tuple[int, bytes]:
    """One HTTP request; (status, body) for any answer; TemporaryFailure for timeouts and 5xx."""
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
