"""The batch path of the queue: many outcomes in one transaction, lease checks, unreported jobs."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.clients.models import Client
from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job, JobStatus

SEEN: list[list[int]] = []


@jobs.handler("test.batched")
def _batched_single(payload, job):
    if payload.get("fail"):
        raise jobs.RetryLater(60, "single says later")


@jobs.batch_handler("test.batched")
def _batched(claimed, report):
    """Outcome by payload: ok → done, later → RetryLater, never → GiveUp, skip → not reported."""
    SEEN.append([job.id for job in claimed])
    decide = {"ok": None, "later": jobs.RetryLater(120, "later please"), "never": jobs.GiveUp("no way")}
    outcomes = {job.id: decide[job.payload["do"]] for job in claimed if job.payload["do"] in decide}

    def write(kept):
        db.session.add_all([Client(account=f"BATCH{i}", name="x") for i in sorted(kept)])

    report(outcomes, write)


@jobs.handler("test.batch_boom", max_attempts=3)
def _boom_single(payload, job):
    raise RuntimeError("single boom")


@jobs.batch_handler("test.batch_boom")
def _boom(claimed, report):
    report({claimed[0].id: None})  # the first one is recorded before the failure
    raise RuntimeError("batch boom")


SINGLE: list[int] = []


@jobs.handler("test.single_only")
def _single_only(payload, job):
    SINGLE.append(job.id)


@pytest.fixture(autouse=True)
def _clear():
    SEEN.clear()
    SINGLE.clear()
    yield
    SEEN.clear()
    SINGLE.clear()


def enqueue_many(kind, dos):
    made = [jobs.enqueue(kind, {"do": do}) for do in dos]
    db.session.commit()
    return [job.id for job in made]


def statuses(ids):
    db.session.expire_all()
    return [db.session.get(Job, i).status for i in ids]


def test_all_claimed_jobs_of_a_kind_reach_the_batch_handler_in_one_call(app):
    with app.app_context():
        ids = enqueue_many("test.batched", ["ok"] * 5)
        assert jobs.run_due_jobs(limit=10) == 5
        assert SEEN == [ids]


def test_each_outcome_of_a_batch_is_recorded_for_its_own_job(app):
    with app.app_context():
        ids = enqueue_many("test.batched", ["ok", "later", "never", "ok"])
        at = utcnow()
        jobs.run_due_jobs(now=at)
        assert statuses(ids) == [JobStatus.DONE, JobStatus.QUEUED, JobStatus.DEAD, JobStatus.DONE]
        later = db.session.get(Job, ids[1])
        assert later.run_at == at + timedelta(seconds=120) and later.last_error == "later please"
        assert db.session.get(Job, ids[2]).last_error == "no way" and db.session.get(Job, ids[0]).lease_owner is None


def test_handler_writes_commit_with_the_outcomes(app):
    with app.app_context():
        ids = enqueue_many("test.batched", ["ok", "never"])
        jobs.run_due_jobs()
        accounts = db.session.scalars(sa.select(Client.account).order_by(Client.account)).all()
        assert accounts == sorted(f"BATCH{i}" for i in ids)


def test_a_job_the_batch_handler_never_reports_is_retried_with_backoff(app):
    with app.app_context():
        ok, skipped = enqueue_many("test.batched", ["ok", "skip"])
        jobs.run_due_jobs()
        job = db.session.get(Job, skipped)
        assert statuses([ok, skipped]) == [JobStatus.DONE, JobStatus.QUEUED]
        assert "reported no outcome" in job.last_error and job.run_at > utcnow() + timedelta(seconds=7)


def test_a_failing_batch_keeps_what_it_reported_and_retries_the_rest(app):
    with app.app_context():
        ids = enqueue_many("test.batch_boom", ["x", "x", "x"])
        jobs.run_due_jobs()
        assert statuses(ids) == [JobStatus.DONE, JobStatus.QUEUED, JobStatus.QUEUED]
        assert db.session.get(Job, ids[1]).last_error == "RuntimeError: batch boom"


def test_outcomes_and_writes_of_jobs_whose_lease_was_lost_are_discarded(app):
    with app.app_context():
        ids = enqueue_many("test.batched", ["ok", "ok"])
        at = utcnow()
        claimed = jobs.claim_rows(10, "worker-a", at)
        # worker-a's lease on the second job ran out and worker-b took it over
        db.session.execute(sa.update(Job).where(Job.id == ids[1]).values(lease_owner="worker-b"))
        db.session.commit()
        written = []
        kept = jobs.finish_batch({j.id: j for j in claimed}, "worker-a", {ids[0]: None, ids[1]: None},
                                 lambda kept: written.append(sorted(kept)))
        assert kept == {ids[0]} and written == [[ids[0]]]
        assert statuses(ids) == [JobStatus.DONE, JobStatus.RUNNING]
        assert db.session.get(Job, ids[1]).lease_owner == "worker-b"


def test_a_failing_write_rolls_back_every_outcome_of_the_group(app):
    with app.app_context():
        ids = enqueue_many("test.batched", ["ok", "ok"])
        claimed = jobs.claim_rows(10, "worker-a", utcnow())

        def write(kept):
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError):
            jobs.finish_batch({j.id: j for j in claimed}, "worker-a", {i: None for i in ids}, write)
        assert statuses(ids) == [JobStatus.RUNNING, JobStatus.RUNNING]


def test_a_batch_job_whose_lease_expired_too_often_is_dead_without_running(app):
    with app.app_context():
        (job_id,) = enqueue_many("test.batched", ["ok"])
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(attempts=10, max_attempts=10))
        db.session.commit()
        jobs.run_due_jobs()
        assert statuses([job_id]) == [JobStatus.DEAD] and SEEN == []
        assert "lease expired" in db.session.get(Job, job_id).last_error


def test_per_job_kinds_still_run_one_by_one_beside_batch_kinds(app):
    with app.app_context():
        (batched,) = enqueue_many("test.batched", ["ok"])
        single = jobs.enqueue("test.single_only", {"n": 1})
        db.session.commit()
        assert jobs.run_due_jobs() == 2
        assert statuses([batched, single.id]) == [JobStatus.DONE, JobStatus.DONE]
        assert SINGLE == [single.id] and SEEN == [[batched]]
