"""App link: a signed POST to the firm's app-push endpoint, signed like the callbacks.

Signing follows Standard Webhooks v1 (webhook-id, webhook-timestamp, webhook-signature:
"v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>", secret given as "whsec_<base64>"), which is
exactly what app/webhooks signs callbacks with: app.webhooks.signing does the signing, so the two
stay one implementation. The secret is a "whsec_…" secret as for callbacks.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from delivery.outcome import Outcome, SendResult, TemporaryFailure
from delivery.sms.base import HttpSession, http_request, json_or_none


def sign_headers(secret: str, msg_id: str, body: bytes, timestamp: Optional[int] = None) -> dict:
    """Standard Webhooks v1 headers for a body, by the callbacks' own signing module."""
    from app.webhooks.signing import headers

    return headers([secret], msg_id, int(timestamp or time.time()), body.decode("utf-8"))


class AppPush:
    """POSTs {"type": "review.invitation", ...} to APP_PUSH_URL, signed with APP_PUSH_SECRET."""

    name = "app"
    #: Receivers deduplicate on webhook-id (Standard Webhooks), so a resend with the same id is harmless.
    deduplicates = True

    def __init__(self, url: Optional[str], secret: Optional[str], timeout: float = 10):
        if not url or not secret:
            raise ValueError("APP_PUSH_URL and APP_PUSH_SECRET are required for the app channel")
        self.url, self.secret, self.timeout = url, secret, timeout
        self._http = HttpSession()  # keep-alive across a batch

    def send(self, payload: dict, idempotency_key: str) -> SendResult:
        """2xx sent; 404/410 the client has no app (invalid); other 4xx refused; 5xx/timeout temporary."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", **sign_headers(self.secret, idempotency_key, body)}
        status, raw = http_request(self.url, body, headers, self.timeout, session=self._http)
        data = json_or_none(raw) or {}
        if 200 <= status < 300:
            return SendResult(Outcome.SENT, provider_id=str(data.get("id") or idempotency_key), code=str(status))
        if status in (404, 410):
            return SendResult(Outcome.INVALID, code=str(status), message=str(data.get("message") or "")[:300])
        if status == 408:
            raise TemporaryFailure("HTTP 408")
        return SendResult(Outcome.REFUSED, code=str(status), message=str(data.get("message") or "")[:300])

    def close(self) -> None:
        """Release the kept-open connection."""
        self._http.close()
