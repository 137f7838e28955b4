"""The worker's batch path for callbacks: concurrent sends, each outcome recorded, kept-alive connections."""
from __future__ import annotations

import signal
import time

import pytest
import sqlalchemy as sa

from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job, JobStatus
from app.webhooks import service
from app.webhooks.models import AttemptOutcome, DeliveryAttempt, DisabledEndpoint, EventStatus, WebhookEvent
from tests.webhooks.receiver import Receiver, Reply


def emit(hook_key, url, n=0):
    return service.emit("mandatory_session.completed", {"session_id": f"ms_{n}", "status": "completed"},
                        api_key_id=hook_key[0].id, callback_url=url)


def attempts_of(event_id):
    return db.session.execute(
        sa.select(DeliveryAttempt.number, DeliveryAttempt.outcome, DeliveryAttempt.status_code)
        .where(DeliveryAttempt.event_id == event_id)
    ).all()


@pytest.fixture
def receivers(hook_key):
    made = []

    def make(script):
        rec = Receiver(hook_key[0].webhook_secret)
        rec.script = script
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()


def test_a_batch_with_one_failing_receiver_records_each_outcome(app, hook_key, receivers):
    good = receivers(lambda n: Reply(200))
    bad = receivers(lambda n: Reply(503, {"Retry-After": "120"}))
    gone = receivers(lambda n: Reply(410))
    events = [emit(hook_key, good.url, 1), emit(hook_key, bad.url, 2), emit(hook_key, gone.url, 3),
              emit(hook_key, good.url, 4)]
    db.session.commit()
    ids = [e.id for e in events]
    at = utcnow()
    assert jobs.run_due_jobs(now=at) == 4
    db.session.expire_all()
    rows = [db.session.get(WebhookEvent, i) for i in ids]
    assert [e.status for e in rows] == [EventStatus.DELIVERED, EventStatus.PENDING, EventStatus.DEAD,
                                        EventStatus.DELIVERED]
    assert [attempts_of(i) for i in ids] == [
        [(1, AttemptOutcome.SUCCESS, 200)], [(1, AttemptOutcome.HTTP_ERROR, 503)],
        [(1, AttemptOutcome.HTTP_ERROR, 410)], [(1, AttemptOutcome.SUCCESS, 200)]]
    assert (rows[1].next_attempt_at - at).total_seconds() >= 120 and rows[1].last_error == "HTTP 503"
    assert db.session.scalars(sa.select(DisabledEndpoint.url)).all() == [gone.url]
    job_status = {j.payload["event_id"]: j.status
                  for j in db.session.scalars(sa.select(Job).where(Job.kind == service.DELIVER_KIND))}
    assert [job_status[i] for i in ids] == [JobStatus.DONE, JobStatus.QUEUED, JobStatus.DEAD, JobStatus.DONE]


def test_a_batch_is_sent_concurrently(app, hook_key, receivers):
    app.config["WEBHOOK_CONCURRENCY"] = 8
    slow = receivers(lambda n: Reply(200, delay=0.4))
    for n in range(8):
        emit(hook_key, slow.url, n)
    db.session.commit()
    jobs.run_due_jobs()
    assert len(slow.wait_for(8, timeout=1)) == 8
    # Each answer waits 0.4 s: sent one after the other, never more than one would be out at once.
    # Counted at the receiver rather than timed, so a loaded machine cannot fail it. Not "all 8":
    # the delivery threads are the process's, and one may still be out to an earlier test's
    # receiver (seen: 7).
    assert slow.most_in_flight > 1
    delivered = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)
                                  .where(WebhookEvent.status == EventStatus.DELIVERED))
    assert delivered == 8


def test_connections_are_kept_alive_across_events_and_batches(app, hook_key, receivers):
    app.config["WEBHOOK_CONCURRENCY"] = 4
    fast = receivers(lambda n: Reply(200))
    for batch in range(3):
        for n in range(20):
            emit(hook_key, fast.url, batch * 100 + n)
        db.session.commit()
        jobs.run_due_jobs(limit=20)
    assert len(fast.wait_for(60)) == 60 and all(r.verified for r in fast.received)
    assert fast.connections <= 4


def test_the_per_job_handler_records_the_same_as_the_batch(app, hook_key, receivers):
    rec = receivers(lambda n: Reply(500))
    event = emit(hook_key, rec.url)
    db.session.commit()
    at = utcnow()
    (job_id,) = jobs.claim(1, "solo", at)
    with jobs.frozen_time(at):
        assert jobs.run_job(db.session.get(Job, job_id), "solo") == "queued"
    db.session.expire_all()
    event = db.session.get(WebhookEvent, event.id)
    assert attempts_of(event.id) == [(1, AttemptOutcome.HTTP_ERROR, 500)]
    assert event.status is EventStatus.PENDING and 4.4 <= (event.next_attempt_at - at).total_seconds() <= 5.6


def test_one_event_in_two_jobs_of_a_batch_is_sent_once(app, hook_key, receivers):
    rec = receivers(lambda n: Reply(200))
    event = emit(hook_key, rec.url)
    jobs.enqueue(service.DELIVER_KIND, {"event_id": event.id}, dedupe_key="extra")
    db.session.commit()
    jobs.run_due_jobs()
    assert len(rec.wait_for(2, timeout=0.5)) == 1
    db.session.refresh(event)
    assert event.status is EventStatus.DELIVERED and event.attempt_count == 1


@pytest.mark.slow
def test_worker_killed_mid_batch_redelivers_only_what_was_not_recorded(app, hook_key, receiver, start_worker):
    receiver.script = lambda n: Reply(200, delay=60) if n == 1 else Reply(200)  # hold whichever comes first
    ids = [emit(hook_key, receiver.url, n).id for n in range(6)]
    db.session.commit()
    doomed = start_worker(leases={"webhooks.deliver": 2}, name="doomed")
    assert len(receiver.wait_for(6, timeout=20)) == 6, "the worker did not send the batch"
    held = receiver.received[0].webhook_id
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the five fast ones are recorded while the held one is out
        db.session.expire_all()
        if db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)
                             .where(WebhookEvent.status == EventStatus.DELIVERED)) == 5:
            break
        time.sleep(0.05)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    start_worker(leases={"webhooks.deliver": 2}, name="rescuer")
    got = receiver.wait_for(7, timeout=30)
    assert len(got) == 7 and got[6].webhook_id == held and got[6].verified
    assert len(receiver.wait_for(8, timeout=2)) == 7  # nothing recorded was sent again
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        db.session.expire_all()
        events = [db.session.get(WebhookEvent, i) for i in ids]
        if all(e.status is EventStatus.DELIVERED for e in events):
            break
        time.sleep(0.1)
    assert all(e.status is EventStatus.DELIVERED for e in events)
    assert sorted(e.attempt_count for e in events) == [1] * 6  # the killed attempt was never recorded
