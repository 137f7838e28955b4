"""Alibaba Cloud SMS (dysmsapi, API version 2017-05-25) with the RPC signature V1.

Signature (Alibaba Cloud "Signature mechanism" for RPC APIs):
1. every request parameter except Signature, sorted by name;
2. names and values percent-encoded as UTF-8 with RFC 3986 rules: A–Z a–z 0–9 - _ . ~ kept,
   space as %20 (not +), '*' as %2A, '~' kept;
3. CanonicalizedQueryString = "k=v" pairs joined by '&';
4. StringToSign = HTTPMethod + "&" + percentEncode("/") + "&" + percentEncode(CanonicalizedQueryString);
5. Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
Common parameters: AccessKeyId, Action, Format=JSON, RegionId, SignatureMethod=HMAC-SHA1,
SignatureNonce (unique per request), SignatureVersion=1.0, Timestamp (ISO 8601 UTC), Version.
SendSms answers {"Code": "OK", "Message": "OK", "BizId": "...", "RequestId": "..."}; errors carry
another Code (isv.MOBILE_NUMBER_ILLEGAL, isv.BUSINESS_LIMIT_CONTROL, isp.SYSTEM_ERROR, …).
OutId carries our idempotency key and comes back in the SmsReport delivery receipts; Alibaba does
not deduplicate on it, so a crashed send is never repeated blindly (see app/campaigns/dispatch.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import Optional

from delivery.outcome import Outcome, SendResult, TemporaryFailure
from delivery.sms.base import HttpSession, Receipt, SmsMessage, SmsProvider, http_request, json_or_none

INVALID_CODES = {"isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT"}
TEMPORARY_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY",
                   "Throttling.User", "ServiceUnavailable"}


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the signature requires."""
    return urllib.parse.quote(str(value), safe="~")


def canonicalized_query(params: dict) -> str:
    """Sorted, encoded k=v pairs joined by '&' (Signature excluded)."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                    for k, v in sorted(params.items()) if k != "Signature")


def string_to_sign(method: str, params: dict) -> str:
    """HTTPMethod & encode('/') & encode(canonicalized query)."""
    return f"{method}&{percent_encode('/')}&{percent_encode(canonicalized_query(params))}"


def sign(secret: str, method: str, params: dict) -> str:
    """Base64(HMAC-SHA1(secret + '&', StringToSign))."""
    digest = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms(SmsProvider):
    """SendSms through the RPC API."""

    name = "aliyun"
    deduplicates = False
    receipt_ack = {"code": 0, "msg": "成功"}

    def __init__(self, access_key_id: Optional[str], access_key_secret: Optional[str], sign_name: Optional[str],
                 template_code: Optional[str], endpoint: str = "https://dysmsapi.aliyuncs.com/",
                 region: str = "cn-hangzhou", timeout: float = 10):
        missing = [n for n, v in (("ALIYUN_ACCESS_KEY_ID", access_key_id), ("ALIYUN_ACCESS_KEY_SECRET", access_key_secret),
                                  ("ALIYUN_SMS_SIGN_NAME", sign_name), ("ALIYUN_SMS_TEMPLATE_CODE", template_code)) if not v]
        if missing:
            raise ValueError("Alibaba Cloud SMS needs " + ", ".join(missing))
        self.key_id, self.secret = access_key_id, access_key_secret
        self.sign_name, self.template_code = sign_name, template_code
        self.endpoint, self.region, self.timeout = endpoint, region, timeout
        self._http = HttpSession()  # keep-alive across a batch

    def signed_params(self, message: SmsMessage, now: Optional[datetime] = None) -> dict:
        """Every parameter of the SendSms request, Signature included."""
        now = now or datetime.now(timezone.utc)
        params = {
            "AccessKeyId": self.key_id, "Action": "SendSms", "Format": "JSON", "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": str(uuid.uuid4()), "SignatureVersion": "1.0",
            "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25",
            "PhoneNumbers": message.to, "SignName": self.sign_name, "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(message.template_params, ensure_ascii=False, separators=(",", ":")),
            "OutId": message.idempotency_key,
        }
        params["Signature"] = sign(self.secret, "POST", params)
        return params

    def send(self, message: SmsMessage) -> SendResult:
        """POST the form-encoded, signed parameters; map Code to an outcome."""
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                        for k, v in self.signed_params(message).items()).encode()
        status, raw = http_request(self.endpoint, body, {"Content-Type": "application/x-www-form-urlencoded"},
                                   self.timeout, session=self._http)
        data = json_or_none(raw) or {}
        code = str(data.get("Code") or f"http_{status}")
        if code == "OK":
            return SendResult(Outcome.SENT, provider_id=str(data.get("BizId") or ""), code=code)
        if code in TEMPORARY_CODES:
            raise TemporaryFailure(f"{code}: {data.get('Message', '')}")
        outcome = Outcome.INVALID if code in INVALID_CODES else Outcome.REFUSED
        return SendResult(outcome, code=code, message=str(data.get("Message") or "")[:300])

    def parse_receipts(self, body: bytes) -> list[Receipt]:
        """SmsReport: [{"biz_id", "out_id", "success": bool, "err_code", "err_msg", ...}]."""
        data = json_or_none(body)
        if not isinstance(data, list):
            raise ValueError("SmsReport body must be a JSON array")
        receipts = []
        for i, item in enumerate(data):
            if not isinstance(item, dict) or "success" not in item:
                raise ValueError(f"report {i + 1}: 'success' is missing")
            receipts.append(Receipt(item.get("biz_id"), item.get("out_id"), bool(item["success"]),
                                    str(item.get("err_code") or ""), str(item.get("err_msg") or "")))
        return receipts
