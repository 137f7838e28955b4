"""SMS adapters against local HTTP servers that CHECK the documented signatures and answer the
providers' documented success and error bodies. The checks below re-derive each signature from the
providers' documentation independently of the adapters' code."""
import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import datetime, timezone

import pytest

from delivery.outcome import Outcome, TemporaryFailure
from delivery.sms.aliyun import AliyunSms
from delivery.sms.base import SEGMENT, SmsMessage, compose_sms
from delivery.sms.http_json import HttpJsonGateway
from delivery.sms.tencent import TencentSms

MSG = SmsMessage("13812341234", "【汇方证券】请完成回访：http://x/s/abc", "hf123", {"link": "http://x/s/abc"})


# ------------------------------------------------------------ Alibaba Cloud (RPC signature V1)

def aliyun_expected_signature(params: dict, secret: str) -> str:
    def enc(v):  # RFC 3986: the documented java URLEncoder + replacements
        return urllib.parse.quote_plus(str(v), safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    canonical = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params) if k != "Signature")
    to_sign = "POST&" + enc("/") + "&" + enc(canonical)
    return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def aliyun_server(answer):
    def respond(handler, body):
        params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
        required = {"AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce", "SignatureVersion",
                    "Timestamp", "Version", "PhoneNumbers", "SignName", "TemplateCode", "Signature"}
        if not required <= set(params) or params["SignatureMethod"] != "HMAC-SHA1" \
                or params["SignatureVersion"] != "1.0":
            return 400, {"Code": "MissingParameter", "Message": "missing", "RequestId": "r0"}
        datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        if params["Signature"] != aliyun_expected_signature(params, "sec*ret ~"):
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched",
                         "RequestId": "r1"}
        return answer(params)
    return respond


def make_aliyun(url, secret="sec*ret ~"):
    return AliyunSms("LTAIkey", secret, "汇方证券", "SMS_001", endpoint=url, timeout=5)


def test_aliyun_signed_request_is_accepted_and_returns_the_biz_id(http_receiver):
    server = http_receiver(aliyun_server(lambda p: (200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0",
                                                           "RequestId": "F655A8D5"})))
    result = make_aliyun(server.url).send(MSG)
    assert result.outcome is Outcome.SENT and result.provider_id == "900619746936498440^0"
    sent = {k: v[0] for k, v in urllib.parse.parse_qs(server.requests[0]["body"].decode()).items()}
    assert sent["OutId"] == "hf123" and json.loads(sent["TemplateParam"]) == {"link": "http://x/s/abc"}


def test_aliyun_wrong_secret_fails_the_servers_signature_check(http_receiver):
    server = http_receiver(aliyun_server(lambda p: (200, {"Code": "OK", "BizId": "1"})))
    result = make_aliyun(server.url, secret="wrong").send(MSG)
    assert result.outcome is Outcome.REFUSED and result.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("code, outcome", [
    ("isv.MOBILE_NUMBER_ILLEGAL", Outcome.INVALID),
    ("isv.SMS_SIGNATURE_ILLEGAL", Outcome.REFUSED),
    ("isv.AMOUNT_NOT_ENOUGH", Outcome.REFUSED),
])
def test_aliyun_error_codes_map_to_outcomes(http_receiver, code, outcome):
    server = http_receiver(aliyun_server(lambda p: (200, {"Code": code, "Message": "x", "RequestId": "r"})))
    assert make_aliyun(server.url).send(MSG).outcome is outcome


def test_aliyun_throttling_is_temporary(http_receiver):
    server = http_receiver(aliyun_server(lambda p: (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控"})))
    with pytest.raises(TemporaryFailure):
        make_aliyun(server.url).send(MSG)


def test_aliyun_delivery_report_is_parsed():
    body = json.dumps([{"phone_number": "13812341234", "send_time": "2026-03-02 10:00:00",
                        "report_time": "2026-03-02 10:00:05", "success": False, "err_code": "MK:0001",
                        "err_msg": "空号", "sms_size": "1", "biz_id": "9006^0", "out_id": "hf123"}]).encode()
    (receipt,) = make_aliyun("http://unused/").parse_receipts(body)
    assert (receipt.provider_id, receipt.idempotency_key, receipt.delivered, receipt.code) == ("9006^0", "hf123", False, "MK:0001")


# ------------------------------------------------------------ Tencent Cloud (TC3-HMAC-SHA256)

def tencent_check(headers: dict, body: bytes, secret_key: str) -> bool:
    auth = headers["authorization"]
    algorithm, rest = auth.split(" ", 1)
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    secret_id, day, service, term = parts["Credential"].split("/")
    ts = headers["x-tc-timestamp"]
    if algorithm != "TC3-HMAC-SHA256" or service != "sms" or term != "tc3_request":
        return False
    if datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%d") != day:
        return False
    signed = parts["SignedHeaders"].split(";")
    lower = headers
    canonical_headers = "".join(f"{h}:{lower[h].strip().lower() if h == 'x-tc-action' else lower[h].strip()}\n" for h in signed)
    canonical = "\n".join(["POST", "/", "", canonical_headers, parts["SignedHeaders"], hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join([algorithm, ts, f"{day}/sms/tc3_request", hashlib.sha256(canonical.encode()).hexdigest()])

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = h(h(h(("TC3" + secret_key).encode(), day), "sms"), "tc3_request")
    return hmac.compare_digest(parts["Signature"], hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())


def tencent_server(answer):
    def respond(handler, body):
        headers = {k.lower(): v for k, v in handler.headers.items()}  # HTTP header names are case-insensitive
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            return 200, {"Response": {"Error": {"Code": "InvalidAction", "Message": "x"}, "RequestId": "r"}}
        if not tencent_check(headers, body, "tc-secret"):
            return 200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure",
                                                "Message": "The provided credentials could not be validated."},
                                      "RequestId": "r"}}
        return answer(json.loads(body))
    return respond


def make_tencent(url, key="tc-secret"):
    return TencentSms("AKIDxyz", key, "1400006666", "汇方证券", "449739", endpoint=url, timeout=5)


def ok_status(payload, code="Ok", message="send success"):
    return 200, {"Response": {"SendStatusSet": [{"SerialNo": "5000:1045710669157053657849499619", "PhoneNumber":
                                                 payload["PhoneNumberSet"][0], "Fee": 1, "SessionContext":
                                                 payload["SessionContext"], "Code": code, "Message": message,
                                                 "IsoCode": "CN"}], "RequestId": "a0aabda6"}}


def test_tencent_signed_request_is_accepted_and_returns_the_serial_number(http_receiver):
    server = http_receiver(tencent_server(ok_status))
    result = make_tencent(server.url).send(MSG)
    assert result.outcome is Outcome.SENT and result.provider_id.startswith("5000:")
    sent = json.loads(server.requests[0]["body"])
    assert sent["PhoneNumberSet"] == ["+8613812341234"] and sent["SessionContext"] == "hf123"


def test_tencent_wrong_key_fails_the_servers_signature_check(http_receiver):
    server = http_receiver(tencent_server(ok_status))
    result = make_tencent(server.url, key="wrong").send(MSG)
    assert result.outcome is Outcome.REFUSED and result.code == "AuthFailure.SignatureFailure"


def test_tencent_incorrect_number_is_invalid(http_receiver):
    server = http_receiver(tencent_server(lambda p: ok_status(p, "InvalidParameterValue.IncorrectPhoneNumber",
                                                              "incorrect number")))
    assert make_tencent(server.url).send(MSG).outcome is Outcome.INVALID


def test_tencent_internal_error_is_temporary(http_receiver):
    server = http_receiver(tencent_server(lambda p: (200, {"Response": {"Error": {
        "Code": "InternalError.Timeout", "Message": "timeout"}, "RequestId": "r"}})))
    with pytest.raises(TemporaryFailure):
        make_tencent(server.url).send(MSG)


# ------------------------------------------------------------ generic gateway

@pytest.mark.parametrize("status, answer, outcome", [
    (200, {"id": "g-1"}, Outcome.SENT),
    (422, {"error": {"code": "invalid_number", "message": "no such number"}}, Outcome.INVALID),
    (403, {"error": {"code": "blocked", "message": "recipient blocked"}}, Outcome.REFUSED),
])
def test_generic_gateway_answers_map_to_outcomes(http_receiver, status, answer, outcome):
    server = http_receiver(lambda h, b: (status, answer))
    assert HttpJsonGateway(server.url, "tok").send(MSG).outcome is outcome
    assert server.requests[0]["headers"]["Idempotency-Key"] == "hf123"
    assert server.requests[0]["headers"]["Authorization"] == "Bearer tok"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_generic_gateway_5xx_and_429_are_temporary(http_receiver, status):
    server = http_receiver(lambda h, b: (status, {"error": {"code": "busy"}}))
    with pytest.raises(TemporaryFailure):
        HttpJsonGateway(server.url).send(MSG)


def test_unreachable_gateway_is_temporary():
    with pytest.raises(TemporaryFailure):
        HttpJsonGateway("http://127.0.0.1:9/", timeout=1).send(MSG)


# ------------------------------------------------------------ one segment

def test_sms_fits_one_segment_shortening_the_text_never_the_link():
    link = "https://review.example.com/s/23456789ab"
    text = compose_sms("【汇方证券】", "请于12月31日前完成您的年度适当性回访问卷，感谢您的配合与支持，祝您投资顺利：" * 2, link)
    assert len(text) <= SEGMENT and text.endswith(link)
