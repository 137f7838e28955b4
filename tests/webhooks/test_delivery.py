"""Signed callbacks: Standard Webhooks signatures, the retry schedule, 410, timeouts, replay."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.api.service import rotate_webhook_secret
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.webhooks import service, signing
from app.webhooks.models import AttemptOutcome, DeliveryAttempt, DisabledEndpoint, EventStatus
from tests.webhooks.receiver import Receiver, Reply


def emit(hook_key, url, data=None):
    event = service.emit("mandatory_session.completed", data or {"session_id": "ms_x", "status": "completed"},
                         api_key_id=hook_key[0].id, callback_url=url)
    db.session.commit()
    return event


def run_attempts(event, count, start=None):
    """Run `count` delivery attempts, each at the event's next attempt time (fake clock)."""
    at = start or utcnow()
    for _ in range(count):
        jobs.run_due_jobs(now=at)
        db.session.refresh(event)
        if event.next_attempt_at is None:
            break
        at = event.next_attempt_at + timedelta(milliseconds=1)
    return event


def test_callback_is_signed_so_a_standard_webhooks_library_verifies_it(app, hook_key, receiver):
    event = emit(hook_key, receiver.url)
    jobs.run_due_jobs()
    got = receiver.wait_for(1)
    assert got[0].verified
    assert got[0].webhook_id == event.message_id
    assert got[0].payload["type"] == "mandatory_session.completed"
    db.session.refresh(event)
    assert event.status is EventStatus.DELIVERED


def test_signature_is_hmac_sha256_of_id_timestamp_and_body(app, hook_key, receiver):
    emit(hook_key, receiver.url)
    jobs.run_due_jobs()
    got = receiver.wait_for(1)[0]
    assert signing.verify(hook_key[0].webhook_secret, got.headers["webhook-id"], got.headers["webhook-timestamp"],
                          got.body.decode(), got.headers["webhook-signature"])
    assert got.headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize("which", ["old", "new"])
def test_during_rotation_receivers_with_either_secret_verify(app, hook_key, which):
    old = hook_key[0].webhook_secret
    rotate_webhook_secret(hook_key[0].name)
    db.session.commit()
    new = hook_key[0].webhook_secret
    receiver = Receiver(old if which == "old" else new)
    try:
        emit(hook_key, receiver.url)
        jobs.run_due_jobs()
        got = receiver.wait_for(1)[0]
        assert got.verified and len(got.headers["webhook-signature"].split()) == 2
    finally:
        receiver.close()


def test_a_wrong_secret_does_not_verify(app, hook_key):
    receiver = Receiver(signing.SECRET_PREFIX + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    try:
        emit(hook_key, receiver.url)
        jobs.run_due_jobs()
        assert receiver.wait_for(1)[0].verified is False
    finally:
        receiver.close()


def test_receiver_failing_the_first_attempts_gets_it_later_with_the_same_webhook_id(app, hook_key, receiver):
    receiver.script = lambda n: Reply(500) if n <= 3 else Reply(200)
    event = emit(hook_key, receiver.url)
    run_attempts(event, 4)
    got = receiver.wait_for(4)
    assert [r.webhook_id for r in got] == [event.message_id] * 4 and all(r.verified for r in got)
    assert event.status is EventStatus.DELIVERED and event.attempt_count == 4
    codes = db.session.scalars(sa.select(DeliveryAttempt.status_code).order_by(DeliveryAttempt.id)).all()
    assert codes == [500, 500, 500, 200]


def test_retries_follow_the_schedule_with_jitter(app, hook_key, receiver):
    receiver.script = lambda n: Reply(503)
    event = emit(hook_key, receiver.url)
    at = utcnow()
    waits = []
    for n in range(1, 10):
        jobs.run_due_jobs(now=at)
        db.session.refresh(event)
        waits.append((event.next_attempt_at - at).total_seconds())
        at = event.next_attempt_at + timedelta(milliseconds=1)
    for wait, planned in zip(waits, service.SCHEDULE[1:]):
        assert planned * 0.9 - 0.01 <= wait <= planned * 1.1 + 0.01


def test_after_the_last_scheduled_attempt_the_event_is_dead_lettered(app, hook_key, receiver):
    receiver.script = lambda n: Reply(500)
    event = emit(hook_key, receiver.url)
    run_attempts(event, 12)
    assert event.status is EventStatus.DEAD and event.attempt_count == len(service.SCHEDULE) == 10
    assert len(receiver.wait_for(10)) == 10


def test_retry_after_is_honoured(app, hook_key, receiver):
    receiver.script = lambda n: Reply(503, {"Retry-After": "900"})
    event = emit(hook_key, receiver.url)
    at = utcnow()
    jobs.run_due_jobs(now=at)
    db.session.refresh(event)
    assert (event.next_attempt_at - at).total_seconds() >= 900
    assert jobs.run_due_jobs(now=at + timedelta(seconds=899)) == 0


def test_410_disables_the_endpoint_and_stops_delivery(app, hook_key, receiver):
    receiver.script = lambda n: Reply(410)
    first = emit(hook_key, receiver.url)
    jobs.run_due_jobs()
    db.session.refresh(first)
    assert first.status is EventStatus.DEAD
    assert db.session.scalars(sa.select(DisabledEndpoint.url)).all() == [receiver.url]
    second = emit(hook_key, receiver.url)
    jobs.run_due_jobs()
    db.session.refresh(second)
    assert second.status is EventStatus.DEAD and second.attempt_count == 0
    assert len(receiver.wait_for(2, timeout=0.5)) == 1


def test_slow_receiver_times_out_and_is_retried(app, hook_key, receiver):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.3
    receiver.script = lambda n: Reply(200, delay=1.0) if n == 1 else Reply(200)
    event = emit(hook_key, receiver.url)
    run_attempts(event, 2)
    outcomes = db.session.scalars(sa.select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)).all()
    assert outcomes == [AttemptOutcome.TIMEOUT, AttemptOutcome.SUCCESS]
    assert event.status is EventStatus.DELIVERED


def test_receiver_down_for_a_while_gets_the_event_when_it_is_back(app, hook_key):
    receiver = Receiver(hook_key[0].webhook_secret)
    port, url = receiver.port, receiver.url
    receiver.close()  # down: connection refused
    event = emit(hook_key, url)
    at = utcnow()
    for _ in range(2):
        jobs.run_due_jobs(now=at)
        db.session.refresh(event)
        at = event.next_attempt_at + timedelta(milliseconds=1)
    assert event.status is EventStatus.PENDING and event.last_error.startswith("ConnectionRefusedError")
    back = Receiver(hook_key[0].webhook_secret, port=port)
    try:
        jobs.run_due_jobs(now=at)
        got = back.wait_for(1)
        assert got[0].webhook_id == event.message_id and got[0].verified
    finally:
        back.close()


def test_api_replays_a_dead_event_with_the_same_webhook_id(app, client, hook_key, receiver):
    receiver.script = lambda n: Reply(500) if n <= 10 else Reply(200)
    event = emit(hook_key, receiver.url)
    run_attempts(event, 10)
    assert event.status is EventStatus.DEAD
    response = client.post(f"/api/v1/webhooks/events/{event.message_id}/replay", headers=hook_key[2])
    assert response.status_code == 202 and response.json["status"] == "pending"
    jobs.run_due_jobs()
    got = receiver.wait_for(11)
    assert got[-1].webhook_id == event.message_id
    db.session.refresh(event)
    assert event.status is EventStatus.DELIVERED and event.replays == 1


def test_api_lists_an_events_attempts_with_code_and_latency(app, client, hook_key, receiver):
    receiver.script = lambda n: Reply(502) if n == 1 else Reply(200)
    event = emit(hook_key, receiver.url)
    run_attempts(event, 2)
    body = client.get(f"/api/v1/webhooks/events/{event.message_id}", headers=hook_key[2]).json
    assert [(a["number"], a["status_code"], a["outcome"]) for a in body["attempts"]] == \
        [(1, 502, "http_error"), (2, 200, "success")]
    assert all(isinstance(a["latency_ms"], int) for a in body["attempts"])
    listed = client.get("/api/v1/webhooks/events?status=delivered", headers=hook_key[2]).json["items"]
    assert [e["id"] for e in listed] == [event.message_id]


@pytest.mark.parametrize("path,method,status", [
    ("/api/v1/webhooks/events/msg_unknown", "get", 404),
    ("/api/v1/webhooks/events/msg_unknown/replay", "post", 404),
    ("/api/v1/webhooks/events?status=lost", "get", 422),
    ("/api/v1/webhooks/events?limit=many", "get", 422),
])
def test_event_api_bad_input(app, client, hook_key, path, method, status):
    assert getattr(client, method)(path, headers=hook_key[2]).status_code == status


def test_replaying_a_pending_event_is_refused(app, client, hook_key, receiver):
    event = emit(hook_key, receiver.url)
    response = client.post(f"/api/v1/webhooks/events/{event.message_id}/replay", headers=hook_key[2])
    assert response.status_code == 409
    db.session.refresh(event)
    assert event.replays == 0


def test_another_keys_events_are_not_visible(app, client, hook_key, receiver):
    from app.api.service import create_api_key

    event = emit(hook_key, receiver.url)
    _row, other = create_api_key("other-system")
    db.session.commit()
    response = client.get(f"/api/v1/webhooks/events/{event.message_id}", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404


def test_wrong_api_key_is_401(client):
    assert client.get("/api/v1/webhooks/events", headers={"Authorization": "Bearer hf_nope_nope"}).status_code == 401


def test_enabling_a_disabled_endpoint_lets_replays_through(app, client, hook_key, receiver):
    receiver.script = lambda n: Reply(410) if n == 1 else Reply(200)
    event = emit(hook_key, receiver.url)
    jobs.run_due_jobs()
    assert client.post(f"/api/v1/webhooks/events/{event.message_id}/replay", headers=hook_key[2]).status_code == 409
    enabled = client.post("/api/v1/webhooks/endpoints/enable", json={"url": receiver.url}, headers=hook_key[2])
    assert enabled.json == {"url": receiver.url, "enabled": True, "changed": True}
    assert client.post(f"/api/v1/webhooks/events/{event.message_id}/replay", headers=hook_key[2]).status_code == 202
    jobs.run_due_jobs()
    db.session.refresh(event)
    assert event.status is EventStatus.DELIVERED


@pytest.mark.parametrize("url,reason", [
    ("http://10.0.0.5/hook", "prefix"),
    ("ftp://127.0.0.1:1/x", "absolute"),
    ("http://user:pw@127.0.0.1:1/x", "credentials"),
    (12, "URL string"),
])
def test_callback_urls_outside_the_keys_prefixes_are_refused(app, hook_key, url, reason):
    with pytest.raises(service.CallbackUrlError, match=reason):
        service.check_callback_url(hook_key[0], url)


def test_body_is_identical_on_every_attempt(app, hook_key, receiver):
    receiver.script = lambda n: Reply(500) if n == 1 else Reply(200)
    event = emit(hook_key, receiver.url, {"session_id": "ms_1", "status": "completed", "名": "汉字"})
    run_attempts(event, 2)
    got = receiver.wait_for(2)
    assert got[0].body == got[1].body and json.loads(got[0].body)["data"]["名"] == "汉字"


def test_revoked_key_dead_letters_its_events_without_sending(app, hook_key, receiver):
    from app.api.service import revoke_api_key

    event = emit(hook_key, receiver.url)
    revoke_api_key(hook_key[0].name)
    db.session.commit()
    jobs.run_due_jobs()
    db.session.refresh(event)
    assert event.status is EventStatus.DEAD and receiver.wait_for(1, timeout=0.3) == []
