"""The job queue: enqueue in the caller's transaction, leases, retries, dead letters, dedupe."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job, JobStatus

RAN: list[dict] = []


@jobs.handler("test.record")
def _record(payload, job):
    RAN.append(dict(payload, attempts=job.attempts))


@jobs.handler("test.retry_later")
def _retry_later(payload, job):
    raise jobs.RetryLater(payload.get("delay", 30), "not yet")


@jobs.handler("test.give_up")
def _give_up(payload, job):
    raise jobs.GiveUp("cannot ever work")


@jobs.handler("test.boom", max_attempts=3)
def _boom(payload, job):
    from app.clients.models import Client

    db.session.add(Client(account=f"BOOM{job.attempts}", name="x"))  # must be rolled back
    db.session.flush()
    raise RuntimeError("kaboom")


@jobs.handler("test.slow", lease_seconds=30)
def _slow(payload, job):
    RAN.append({"slow": job.lease_owner})


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()
    yield
    RAN.clear()


def job_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Job))


def test_enqueued_job_exists_only_if_the_transaction_commits(app):
    with app.app_context():
        jobs.enqueue("test.record", {"n": 1})
        db.session.rollback()
        assert job_count() == 0
        jobs.enqueue("test.record", {"n": 2})
        db.session.commit()
        assert job_count() == 1


def test_same_dedupe_key_returns_the_existing_job(app):
    with app.app_context():
        first = jobs.enqueue("test.record", {"n": 1}, dedupe_key="k1")
        second = jobs.enqueue("test.record", {"n": 2}, dedupe_key="k1")
        db.session.commit()
        assert first.id == second.id and job_count() == 1


def test_due_job_runs_once_and_is_done(app):
    with app.app_context():
        job = jobs.enqueue("test.record", {"n": 7})
        db.session.commit()
        assert jobs.run_due_jobs() == 1
        assert jobs.run_due_jobs() == 0
        db.session.refresh(job)
        assert RAN == [{"n": 7, "attempts": 1}] and job.status is JobStatus.DONE and job.lease_owner is None


def test_job_scheduled_later_waits_for_its_time(app):
    with app.app_context():
        jobs.enqueue("test.record", {"n": 1}, run_at=utcnow() + timedelta(hours=2))
        db.session.commit()
        assert jobs.run_due_jobs() == 0
        assert jobs.run_due_jobs(now=utcnow() + timedelta(hours=2, seconds=1)) == 1


def test_retry_later_reschedules_from_the_pass_time(app):
    with app.app_context():
        job = jobs.enqueue("test.retry_later", {"delay": 600})
        db.session.commit()
        at = utcnow()
        jobs.run_due_jobs(now=at)
        db.session.refresh(job)
        assert job.status is JobStatus.QUEUED and job.attempts == 1 and job.last_error == "not yet"
        assert job.run_at == at.replace(microsecond=at.microsecond) + timedelta(seconds=600)
        assert jobs.run_due_jobs(now=at + timedelta(seconds=599)) == 0


def test_give_up_dead_letters_at_once_with_the_reason(app):
    with app.app_context():
        job = jobs.enqueue("test.give_up", {})
        db.session.commit()
        jobs.run_due_jobs()
        db.session.refresh(job)
        assert job.status is JobStatus.DEAD and job.last_error == "cannot ever work" and job.attempts == 1


def test_failing_handler_is_retried_with_backoff_then_dead_and_its_writes_rolled_back(app):
    from app.clients.models import Client

    with app.app_context():
        job = jobs.enqueue("test.boom", {})
        db.session.commit()
        at = utcnow()
        for i in range(3):
            assert jobs.run_due_jobs(now=at) == 1
            db.session.refresh(job)
            at = job.run_at if job.status is JobStatus.QUEUED else at
        assert job.status is JobStatus.DEAD and job.attempts == 3
        assert "RuntimeError: kaboom" in job.last_error
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Client)) == 0


@pytest.mark.parametrize("attempts,low,high", [(1, 8, 12), (2, 16, 24), (4, 64, 96), (20, 2880, 4320)])
def test_backoff_doubles_with_jitter_and_is_capped(attempts, low, high):
    assert all(low <= jobs.backoff_seconds(attempts) <= high for _ in range(50))


def test_expired_lease_lets_another_worker_run_the_job(app):
    with app.app_context():
        job = jobs.enqueue("test.slow", {})
        db.session.commit()
        at = utcnow()
        claimed = jobs.claim(10, "worker-a", at)  # worker A claims, then dies without finishing
        assert claimed == [job.id]
        assert jobs.run_due_jobs(worker_id="worker-b", now=at + timedelta(seconds=29)) == 0
        assert jobs.run_due_jobs(worker_id="worker-b", now=at + timedelta(seconds=31)) == 1
        db.session.refresh(job)
        assert RAN == [{"slow": "worker-b"}] and job.status is JobStatus.DONE and job.attempts == 2


def test_outcome_of_a_worker_that_lost_its_lease_is_discarded(app):
    with app.app_context():
        job = jobs.enqueue("test.record", {"n": 1})
        db.session.commit()
        at = utcnow()
        stale = db.session.get(Job, jobs.claim(10, "worker-a", at)[0])
        jobs.claim(10, "worker-b", at + timedelta(seconds=61))  # A's lease ran out; B holds it now
        assert jobs.run_job(stale, "worker-a") == "done"  # A finishes late …
        db.session.expire_all()
        assert db.session.get(Job, job.id).status is JobStatus.RUNNING  # … but B's lease stands
        assert db.session.get(Job, job.id).lease_owner == "worker-b"


def test_retry_puts_a_dead_job_back_with_fresh_attempts(app):
    with app.app_context():
        job = jobs.enqueue("test.give_up", {})
        db.session.commit()
        jobs.run_due_jobs()
        jobs.retry_job(db.session.get(Job, job.id))
        db.session.commit()
        db.session.refresh(job)
        assert job.status is JobStatus.QUEUED and job.attempts == 0 and job.finished_at is None


def test_jobs_without_a_registered_handler_are_left_alone(app):
    with app.app_context():
        jobs.enqueue("test.nobody-handles-this", {})
        db.session.commit()
        assert jobs.run_due_jobs() == 0


def test_periodic_jobs_are_enqueued_once_per_period_whoever_asks(app):
    with app.app_context():
        at = utcnow()
        jobs.schedule_periodic(at)
        jobs.schedule_periodic(at)
        kinds = db.session.scalars(sa.select(Job.kind)).all()
        assert sorted(kinds) == sorted(jobs.PERIODIC)


def test_payload_must_be_an_object(app):
    with app.app_context(), pytest.raises(TypeError):
        jobs.enqueue("test.record", ["not", "a", "dict"])


def test_purge_removes_old_done_jobs_only(app):
    with app.app_context():
        old = jobs.enqueue("test.record", {"n": 1})
        dead = jobs.enqueue("test.give_up", {})
        db.session.commit()
        old_id, dead_id = old.id, dead.id
        jobs.run_due_jobs()
        assert jobs.purge_finished(timedelta(days=7)) == 0
        with jobs.frozen_time(utcnow() + timedelta(days=8)):
            assert jobs.purge_finished(timedelta(days=7)) == 1
        db.session.commit()
        assert db.session.get(Job, old_id) is None and db.session.get(Job, dead_id) is not None


def test_concurrent_workers_claim_disjoint_jobs(app):
    with app.app_context():
        for n in range(60):
            jobs.enqueue("test.record", {"n": n})
        db.session.commit()
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(3)

    def work(name):
        with app.app_context():
            barrier.wait()
            ids = []
            while True:
                batch = jobs.claim(7, name, utcnow())
                if not batch:
                    break
                ids.extend(batch)
            claimed[name] = ids
            db.session.remove()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for ids in claimed.values() for i in ids]
    assert len(everything) == 60 and len(set(everything)) == 60
