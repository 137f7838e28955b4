"""A generic HTTP JSON SMS gateway (the contract many in-house gateways follow).

Request:  POST {url}  Authorization: Bearer <token>, Idempotency-Key: <key>
          {"to": "+8613800000000", "text": "...", "idempotency_key": "..."}
Answers:  2xx {"id": "<message id>"}                        → sent
          4xx {"error": {"code": "invalid_number", ...}}    → invalid (invalid_number, empty_number, wrong_number)
          4xx {"error": {"code": "<other>", ...}}           → refused
          429, 5xx, timeouts                                → temporary (retried, then fallback)
The gateway deduplicates on Idempotency-Key: a resend with the same key returns the same id.
Receipts: POST [{"id": "...", "idempotency_key": "...", "status": "delivered"|"failed", "code": "..."}]
"""
from __future__ import annotations

import json
from typing import Optional

from delivery.outcome import Outcome, SendResult, TemporaryFailure
from delivery.sms.base import HttpSession, Receipt, SmsMessage, SmsProvider, http_request, json_or_none

INVALID_CODES = {"invalid_number", "empty_number", "wrong_number"}


class HttpJsonGateway(SmsProvider):
    """Adapter for the generic gateway contract above."""

    name = "http"
    deduplicates = True

    def __init__(self, url: Optional[str], token: str = "", timeout: float = 10):
        if not url:
            raise ValueError("SMS_HTTP_URL: the gateway URL is required")
        self.url, self.token, self.timeout = url, token, timeout
        self._http = HttpSession()  # keep-alive across a batch

    def send(self, message: SmsMessage) -> SendResult:
        """POST the message; map the answer to an outcome."""
        body = json.dumps({"to": "+86" + message.to if not message.to.startswith("+") else message.to,
                           "text": message.text, "idempotency_key": message.idempotency_key},
                          ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": message.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        status, raw = http_request(self.url, body, headers, self.timeout, session=self._http)
        data = json_or_none(raw) or {}
        if 200 <= status < 300:
            if not data.get("id"):
                raise TemporaryFailure("gateway answered without a message id")
            return SendResult(Outcome.SENT, provider_id=str(data["id"]), code="accepted")
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = str(error.get("code") or f"http_{status}")
        outcome = Outcome.INVALID if code in INVALID_CODES else Outcome.REFUSED
        return SendResult(outcome, code=code, message=str(error.get("message") or "")[:300])

    def parse_receipts(self, body: bytes) -> list[Receipt]:
        return parse_generic_receipts(body)


def parse_generic_receipts(body: bytes) -> list[Receipt]:
    """[{"id", "idempotency_key", "status": delivered|failed, "code"}] (a single object is accepted too)."""
    data = json_or_none(body)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("the receipt body must be a JSON array of reports")
    receipts = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or item.get("status") not in ("delivered", "failed"):
            raise ValueError(f"report {i + 1}: 'status' must be 'delivered' or 'failed'")
        if not item.get("id") and not item.get("idempotency_key"):
            raise ValueError(f"report {i + 1}: give 'id' or 'idempotency_key'")
        receipts.append(Receipt(item.get("id"), item.get("idempotency_key"), item["status"] == "delivered",
                                str(item.get("code") or item["status"]), str(item.get("message") or "")))
    return receipts
