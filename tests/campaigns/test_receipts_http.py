"""Delivery receipts over HTTP (the `delivery_receipts` blueprint) with each provider's documented
body: Alibaba Cloud SmsReport (HTTP batch push) and Tencent Cloud's SMS status callback. The SMS went
out through the real adapters to local HTTP servers answering the providers' documented success bodies.

Alibaba: [{"phone_number", "send_time", "report_time", "success", "err_code", "err_msg", "sms_size",
"biz_id", "out_id"}] → {"code": 0, "msg": "成功"}. Tencent: [{"user_receive_time", "nationcode",
"mobile", "report_status": SUCCESS|FAIL, "errmsg", "description", "sid"}] → {"result": 0, "errmsg": "OK"}.
"""
import itertools
import json
import urllib.parse

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.campaigns.models import AttemptStatus, CampaignTarget, SendAttempt, TargetState
from app.extensions import db

TOKEN = "rcpt-4f1c9a7e2b"
_numbers = itertools.count(1)


def aliyun_answer(handler, body):
    """SendSms success body (dysmsapi 2017-05-25)."""
    params = urllib.parse.parse_qs(body.decode())
    assert params["Action"] == ["SendSms"]
    return 200, {"Code": "OK", "Message": "OK", "BizId": f"90061974693649{next(_numbers):04d}^0",
                 "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}


def tencent_answer(handler, body):
    """SendSms success body (API 3.0, 2021-01-11)."""
    payload = json.loads(body)
    return 200, {"Response": {"SendStatusSet": [{
        "SerialNo": f"5000:10457106691570536578494{next(_numbers):05d}", "PhoneNumber": payload["PhoneNumberSet"][0],
        "Fee": 1, "SessionContext": payload["SessionContext"], "Code": "Ok", "Message": "send success",
        "IsoCode": "CN"}], "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}


def aliyun_report(attempt, delivered):
    return [{"phone_number": "13812341234", "send_time": "2026-11-25 10:00:00", "report_time": "2026-11-25 10:00:05",
             "success": delivered, "err_code": "DELIVERED" if delivered else "MK:0001",
             "err_msg": "用户接收成功" if delivered else "空号", "sms_size": "1",
             "biz_id": attempt.provider_id, "out_id": attempt.idempotency_key}]


def tencent_report(attempt, delivered):
    return [{"user_receive_time": "2026-11-25 10:00:05", "nationcode": "86", "mobile": "13812341234",
             "report_status": "SUCCESS" if delivered else "FAIL", "errmsg": "DELIVRD" if delivered else "MK:0001",
             "description": "用户短信送达成功" if delivered else "用户短信送达失败", "sid": attempt.provider_id}]


PROVIDERS = {
    "aliyun": dict(
        answer=aliyun_answer, report=aliyun_report, ack={"code": 0, "msg": "成功"}, delivered_code="DELIVERED",
        endpoint="ALIYUN_SMS_ENDPOINT", config=dict(
            ALIYUN_ACCESS_KEY_ID="LTAIkey", ALIYUN_ACCESS_KEY_SECRET="secret", ALIYUN_SMS_SIGN_NAME="汇方证券",
            ALIYUN_SMS_TEMPLATE_CODE="SMS_001")),
    "tencent": dict(
        answer=tencent_answer, report=tencent_report, ack={"result": 0, "errmsg": "OK"}, delivered_code="DELIVRD",
        endpoint="TENCENT_SMS_ENDPOINT", config=dict(
            TENCENT_SECRET_ID="AKIDxyz", TENCENT_SECRET_KEY="tc-secret", TENCENT_SMS_APP_ID="1400006666",
            TENCENT_SMS_SIGN_NAME="汇方证券", TENCENT_SMS_TEMPLATE_ID="449739")),
}


@pytest.fixture(params=sorted(PROVIDERS))
def sent(request, app, http_receiver, smtp_server, make_client, make_campaign, add_targets, start, run):
    """A sms → email campaign whose SMS went out through the provider's adapter; yields
    (provider, spec, mailbox, campaign). Quiet hours off: receipts use the real time."""
    provider, spec = request.param, PROVIDERS[request.param]
    mailbox, port = smtp_server
    gateway = http_receiver(spec["answer"])
    app.config.update(SMS_PROVIDER=provider, DELIVERY_RECEIPT_TOKEN=TOKEN, EMAIL_HOST="127.0.0.1", EMAIL_PORT=port,
                      **{spec["endpoint"]: gateway.url}, **spec["config"])
    campaign = make_campaign(channel_plan=["sms", "email"], attempts_per_channel={"sms": 1},
                             quiet_start="00:00", quiet_end="00:00")
    add_targets(campaign, [make_client(), make_client()])
    start(campaign)
    run(campaign)
    assert len(gateway.requests) == 2 and all(a.provider_id for a in sms_attempts())
    return provider, spec, mailbox, campaign


def sms_attempts():
    return db.session.scalars(sa.select(SendAttempt).where(SendAttempt.channel == "sms").order_by(SendAttempt.id)).all()


def snapshot():
    """Everything a receipt may change."""
    db.session.expire_all()
    attempts = db.session.execute(sa.select(SendAttempt.id, SendAttempt.status, SendAttempt.receipt_at,
                                            SendAttempt.code, SendAttempt.error).order_by(SendAttempt.id)).all()
    targets = db.session.execute(sa.select(CampaignTarget.id, CampaignTarget.state, CampaignTarget.channel_index,
                                           CampaignTarget.next_action_at).order_by(CampaignTarget.id)).all()
    audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    return attempts, targets, audit


def post(client, provider, body, token=TOKEN):
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post(f"/delivery/receipts/{provider}/{token}", data=data, content_type="application/json")


def test_delivered_receipts_mark_the_attempts_delivered_and_answer_what_the_provider_expects(client, sent):
    provider, spec, _mailbox, _campaign = sent
    first, second = sms_attempts()
    response = post(client, provider, spec["report"](first, True) + spec["report"](second, True))
    assert response.status_code == 200 and response.json == spec["ack"]
    db.session.expire_all()
    assert [(a.status, a.code) for a in sms_attempts()] == [(AttemptStatus.DELIVERED, spec["delivered_code"])] * 2
    assert all(a.receipt_at is not None for a in sms_attempts())
    assert set(db.session.scalars(sa.select(CampaignTarget.state))) == {TargetState.SENT}


def test_a_failure_receipt_moves_the_client_to_the_next_channel_of_the_plan(client, sent, run):
    provider, spec, mailbox, campaign = sent
    failed, other = sms_attempts()
    response = post(client, provider, spec["report"](failed, False))
    assert response.status_code == 200 and response.json == spec["ack"]
    db.session.expire_all()
    target = db.session.get(CampaignTarget, failed.target_id)
    assert failed.status is AttemptStatus.FAILED and failed.error
    assert target.state is TargetState.QUEUED and target.channel_index == 1 and target.temporary_state == "empty_number"
    run(campaign)
    attempts = db.session.scalars(sa.select(SendAttempt).where(SendAttempt.target_id == failed.target_id)
                                  .order_by(SendAttempt.id)).all()
    assert [(a.channel, a.status) for a in attempts] == [("sms", AttemptStatus.FAILED), ("email", AttemptStatus.SENT)]
    (message,) = mailbox.messages
    assert message["To"] == target_email(target)
    assert db.session.get(SendAttempt, other.id).status is AttemptStatus.SENT  # the other client is untouched


def target_email(target):
    from app.clients.models import Client

    return db.session.get(Client, target.client_id).email


def test_a_repeated_failure_receipt_changes_nothing_more(client, sent):
    provider, spec, _mailbox, _campaign = sent
    failed = sms_attempts()[0]
    body = spec["report"](failed, False)
    assert post(client, provider, body).status_code == 200
    before = snapshot()
    assert post(client, provider, body).status_code == 200
    assert snapshot() == before


@pytest.mark.parametrize("token, configured", [("wrong-token", TOKEN), (TOKEN[:-1], TOKEN), (TOKEN, None),
                                               ("令牌", TOKEN)])
def test_an_unknown_token_is_404_and_changes_nothing(client, app, sent, token, configured):
    provider, spec, _mailbox, _campaign = sent
    app.config["DELIVERY_RECEIPT_TOKEN"] = configured
    before = snapshot()
    response = post(client, provider, spec["report"](sms_attempts()[0], False), token=token)
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("body", [b"{", b'{"success": true}', b'[{"biz_id": "1"}]'])
def test_a_malformed_receipt_body_is_400_and_changes_nothing(client, sent, body):
    provider, _spec, _mailbox, _campaign = sent
    before = snapshot()
    response = post(client, provider, body)
    assert response.status_code == 400
    assert snapshot() == before


def test_a_receipt_arriving_before_the_send_outcome_is_recorded_is_refused_for_a_retry(
        client, app, make_client, make_campaign, add_targets, start, http_receiver):
    """Alibaba's report carries our key (out_id) and can beat the end of a large batch: answered 503
    (the provider re-pushes), nothing changes, and the re-pushed report is applied afterwards."""
    from app.campaigns import dispatch
    from app.db_types import utcnow

    spec = PROVIDERS["aliyun"]
    app.config.update(SMS_PROVIDER="aliyun", ALIYUN_SMS_ENDPOINT=http_receiver(aliyun_answer).url,
                      DELIVERY_RECEIPT_TOKEN=TOKEN, **spec["config"])
    campaign = make_campaign(channel_plan=["sms"], quiet_start="00:00", quiet_end="00:00")
    add_targets(campaign, [make_client()])
    start(campaign)
    now = utcnow()
    _stats, prepared = dispatch._claim(campaign.id, now, 100)  # phase 1 committed: the attempt is 'sending'
    db.session.commit()
    (attempt,) = sms_attempts()
    report = spec["report"](attempt, True)  # biz_id unknown yet (None): matched by out_id, our key
    before = snapshot()
    early = post(client, "aliyun", report)
    assert early.status_code == 503 and early.headers["Retry-After"] == "60"
    assert snapshot() == before
    senders = dispatch.ch.Senders()
    results = dispatch._send_all(prepared, senders)  # phases 2 and 3 finish the batch
    senders.close()
    dispatch._apply(campaign.id, prepared, results, now)
    db.session.commit()
    assert post(client, "aliyun", report).status_code == 200
    db.session.expire_all()
    assert sms_attempts()[0].status is AttemptStatus.DELIVERED
