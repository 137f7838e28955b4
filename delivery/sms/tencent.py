"""Tencent Cloud SMS (API 2021-01-11, SendSms) with TC3-HMAC-SHA256 request signing (Signature v3).

CanonicalRequest = "POST\n/\n\n" + CanonicalHeaders + "\n" + SignedHeaders + "\n" + hex(SHA256(body))
  CanonicalHeaders = "content-type:application/json; charset=utf-8\nhost:<host>\nx-tc-action:sendsms\n"
  SignedHeaders    = "content-type;host;x-tc-action"
StringToSign = "TC3-HMAC-SHA256\n" + timestamp + "\n" + "<date>/sms/tc3_request\n" + hex(SHA256(CanonicalRequest))
SecretSigning = HMAC(HMAC(HMAC("TC3" + SecretKey, date), "sms"), "tc3_request"); Signature = hex(HMAC(SecretSigning, StringToSign))
Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request, SignedHeaders=..., Signature=...
Answers: {"Response": {"SendStatusSet": [{"SerialNo", "Code": "Ok", ...}], "RequestId"}} or
{"Response": {"Error": {"Code", "Message"}, "RequestId"}}. SessionContext carries our key and
comes back in the delivery receipts; Tencent does not deduplicate on it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Optional

from delivery.outcome import Outcome, SendResult, TemporaryFailure
from delivery.sms.base import HttpSession, Receipt, SmsMessage, SmsProvider, http_request, json_or_none

SERVICE = "sms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"
INVALID_CODES = {"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist"}
TEMPORARY_PREFIXES = ("InternalError", "RequestLimitExceeded", "LimitExceeded", "ResourceUnavailable")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def canonical_request(host: str, action: str, payload: bytes) -> str:
    """The canonical request of a POST with a JSON body to '/'."""
    headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    return "\n".join(["POST", "/", "", headers, SIGNED_HEADERS, hashlib.sha256(payload).hexdigest()])


def authorization(secret_id: str, secret_key: str, host: str, action: str, payload: bytes, timestamp: int) -> str:
    """The Authorization header of TC3-HMAC-SHA256."""
    day = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    scope = f"{day}/{SERVICE}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                         hashlib.sha256(canonical_request(host, action, payload).encode()).hexdigest()])
    signing = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), day), SERVICE), "tc3_request")
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


class TencentSms(SmsProvider):
    """SendSms through TencentCloud API 3.0."""

    name = "tencent"
    deduplicates = False
    receipt_ack = {"result": 0, "errmsg": "OK"}

    def __init__(self, secret_id: Optional[str], secret_key: Optional[str], sdk_app_id: Optional[str],
                 sign_name: Optional[str], template_id: Optional[str],
                 endpoint: str = "https://sms.tencentcloudapi.com/", region: str = "ap-guangzhou", timeout: float = 10):
        missing = [n for n, v in (("TENCENT_SECRET_ID", secret_id), ("TENCENT_SECRET_KEY", secret_key),
                                  ("TENCENT_SMS_APP_ID", sdk_app_id), ("TENCENT_SMS_SIGN_NAME", sign_name),
                                  ("TENCENT_SMS_TEMPLATE_ID", template_id)) if not v]
        if missing:
            raise ValueError("Tencent Cloud SMS needs " + ", ".join(missing))
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sdk_app_id, self.sign_name, self.template_id = sdk_app_id, sign_name, template_id
        self.endpoint, self.region, self.timeout = endpoint, region, timeout
        self._http = HttpSession()  # keep-alive across a batch
        # The signed Host is the API's host, even when the endpoint is a proxy or a test server.
        self.host = urllib.parse.urlsplit(endpoint).netloc.split("@")[-1]

    def request(self, message: SmsMessage, timestamp: Optional[int] = None) -> tuple[bytes, dict]:
        """Body and headers of the signed SendSms request."""
        timestamp = timestamp or int(time.time())
        phone = message.to if message.to.startswith("+") else "+86" + message.to
        payload = json.dumps({
            "PhoneNumberSet": [phone], "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name,
            "TemplateId": self.template_id,
            "TemplateParamSet": [str(v) for v in message.template_params.values()],
            "SessionContext": message.idempotency_key,
        }, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Authorization": authorization(self.secret_id, self.secret_key, self.host, "SendSms", payload, timestamp),
            "Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp), "X-TC-Version": VERSION, "X-TC-Region": self.region,
        }
        return payload, headers

    def send(self, message: SmsMessage) -> SendResult:
        """POST the signed request; map the codes to an outcome."""
        payload, headers = self.request(message)
        status, raw = http_request(self.endpoint, payload, headers, self.timeout, session=self._http)
        response = (json_or_none(raw) or {}).get("Response") or {}
        error = response.get("Error")
        if error:
            code = str(error.get("Code"))
            if code.startswith(TEMPORARY_PREFIXES):
                raise TemporaryFailure(f"{code}: {error.get('Message', '')}")
            outcome = Outcome.INVALID if code in INVALID_CODES else Outcome.REFUSED
            return SendResult(outcome, code=code, message=str(error.get("Message") or "")[:300])
        statuses = response.get("SendStatusSet") or []
        if not statuses:
            raise TemporaryFailure(f"HTTP {status}: no SendStatusSet in the answer")
        item = statuses[0]
        code = str(item.get("Code"))
        if code == "Ok":
            return SendResult(Outcome.SENT, provider_id=str(item.get("SerialNo") or ""), code=code)
        if code.startswith(TEMPORARY_PREFIXES):
            raise TemporaryFailure(f"{code}: {item.get('Message', '')}")
        outcome = Outcome.INVALID if code in INVALID_CODES else Outcome.REFUSED
        return SendResult(outcome, code=code, message=str(item.get("Message") or "")[:300])

    def parse_receipts(self, body: bytes) -> list[Receipt]:
        """Status callback: [{"sid", "report_status": SUCCESS|FAIL, "errmsg", "description", ...}]."""
        data = json_or_none(body)
        if not isinstance(data, list):
            raise ValueError("the status callback body must be a JSON array")
        receipts = []
        for i, item in enumerate(data):
            if not isinstance(item, dict) or item.get("report_status") not in ("SUCCESS", "FAIL"):
                raise ValueError(f"report {i + 1}: 'report_status' must be SUCCESS or FAIL")
            receipts.append(Receipt(item.get("sid"), item.get("ext") or None, item["report_status"] == "SUCCESS",
                                    str(item.get("errmsg") or ""), str(item.get("description") or "")))
        return receipts
