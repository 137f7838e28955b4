"""Real `flask worker` processes: delivery, SIGKILL in the middle of a delivery, clean stop."""
from __future__ import annotations

import signal
import time

import pytest

from app.extensions import db
from app.webhooks import service
from app.webhooks.models import EventStatus, WebhookEvent
from tests.webhooks.receiver import Reply

pytestmark = pytest.mark.slow  # each test starts real worker processes (a few seconds apiece)


def wait_status(event_id, status, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        event = db.session.get(WebhookEvent, event_id)
        if event.status is status:
            return event
        time.sleep(0.1)
    return db.session.get(WebhookEvent, event_id)


def test_worker_process_delivers_an_event(app, hook_key, receiver, start_worker):
    start_worker()
    event = service.emit("invitation.completed", {"invitation_id": "x"}, api_key_id=hook_key[0].id,
                         callback_url=receiver.url)
    db.session.commit()
    got = receiver.wait_for(1, timeout=20)
    assert got and got[0].webhook_id == event.message_id and got[0].verified
    assert wait_status(event.id, EventStatus.DELIVERED).status is EventStatus.DELIVERED


def test_worker_killed_mid_delivery_still_delivers_with_the_same_webhook_id(app, hook_key, receiver, start_worker):
    receiver.script = lambda n: Reply(200, delay=60) if n == 1 else Reply(200)  # hold the first request
    event = service.emit("mandatory_session.completed", {"session_id": "ms_k"}, api_key_id=hook_key[0].id,
                         callback_url=receiver.url)
    db.session.commit()
    first = start_worker(leases={"webhooks.deliver": 2}, name="doomed")
    assert receiver.wait_for(1, timeout=20), "the first worker never started delivering"
    first.send_signal(signal.SIGKILL)  # mid-delivery: the request is in flight, nothing recorded
    first.wait(timeout=10)
    start_worker(leases={"webhooks.deliver": 2}, name="rescuer")
    got = receiver.wait_for(2, timeout=30)
    assert len(got) == 2 and got[0].webhook_id == got[1].webhook_id == event.message_id
    assert all(r.verified for r in got)
    delivered = wait_status(event.id, EventStatus.DELIVERED)
    assert delivered.status is EventStatus.DELIVERED and delivered.delivered_at is not None


def test_worker_stops_cleanly_on_sigterm(app, start_worker):
    proc = start_worker()
    deadline = time.monotonic() + 20
    while "worker started" not in proc.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
