"""Retention (8.2.4): review material is kept 20 years; the purge refuses anything younger, and is logged."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.audit.retention import earliest_allowed_cutoff
from app.extensions import db
from app.followup import service as followup
from app.reviews.models import Invitation, ReviewException, ReviewRegistration, Response
from tests.stats.builders import build_population


def count(model):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def actions():
    return db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)).all()


@pytest.fixture
def old_and_new(make_client, publish, make_invitation, make_staff):
    """10 reviews from 2001 (one exception followed up in 2001) and 10 from now."""
    build_population(make_client, publish, make_invitation, created_at=datetime(2001, 6, 1, tzinfo=timezone.utc))
    old = datetime(2001, 6, 2, tzinfo=timezone.utc)
    db.session.execute(sa.update(Invitation).values(completed_at=old).where(Invitation.completed_at.is_not(None)))
    db.session.execute(sa.update(ReviewException).values(created_at=old))
    db.session.commit()
    from app.auth.models import Role

    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    exc = db.session.scalars(sa.select(ReviewException)).first()
    followup.assign(exc, executor, "boss")
    db.session.execute(sa.text("UPDATE exception_events SET occurred_at = :t"), {"t": "2001-06-03 00:00:00"})
    db.session.commit()
    from app.definitions.models import Questionnaire

    db.session.execute(sa.update(Questionnaire).values(key=Questionnaire.key + "-old"))
    db.session.commit()
    build_population(make_client, publish, make_invitation)


def test_the_latest_cutoff_is_twenty_years_ago(app):
    assert earliest_allowed_cutoff(date(2026, 11, 24)) == date(2006, 11, 24)


def test_configuring_fewer_years_still_keeps_twenty(app):
    app.config["RETENTION_YEARS"] = 5
    assert earliest_allowed_cutoff(date(2026, 11, 24)) == date(2006, 11, 24)


@pytest.mark.parametrize("before", ["2026-01-01", "2010-01-01", "2007-01-01"])
def test_purge_under_retention_is_refused_changes_nothing_and_is_logged(runner, old_and_new, before):
    counts = (count(Invitation), count(Response), count(ReviewException))
    result = runner.invoke(args=["retention", "purge", "--before", before])
    assert result.exit_code == 1 and "refused" in result.output and "8.2.4" in result.output
    assert (count(Invitation), count(Response), count(ReviewException)) == counts
    assert actions()[-1] == "retention.purge_refused"


def test_purge_past_retention_deletes_only_old_material_with_its_dependents(runner, old_and_new):
    result = runner.invoke(args=["retention", "purge", "--before", "2005-01-01"])
    assert result.exit_code == 0, result.output
    assert count(Invitation) == 10 and count(Response) == 7 and count(ReviewRegistration) == 7
    assert count(ReviewException) == 5
    from app.followup.models import ExceptionEvent, ExceptionFollowup

    assert count(ExceptionEvent) == 0 and count(ExceptionFollowup) == 0
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retention.purge")).one()
    assert entry.details["counts"]["invitations"] == 10


def test_dry_run_counts_and_deletes_nothing(runner, old_and_new):
    result = runner.invoke(args=["retention", "purge", "--before", "2005-01-01", "--dry-run"])
    assert result.exit_code == 0 and "would delete" in result.output and "invitations 10" in result.output
    assert count(Invitation) == 20 and actions()[-1] == "retention.dry_run"


def test_material_followed_up_recently_is_kept(runner, old_and_new, days):
    db.session.execute(sa.text("UPDATE exception_events SET occurred_at = :t"), {"t": "2024-01-01 00:00:00"})
    db.session.commit()
    runner.invoke(args=["retention", "purge", "--before", "2005-01-01"])
    assert count(Invitation) == 11  # the followed-up review stays with the 10 recent ones


def test_bad_date_is_refused(runner, app):
    result = runner.invoke(args=["retention", "purge", "--before", "long ago"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_the_audit_log_survives_a_purge(runner, old_and_new):
    before = count(AuditEntry)
    runner.invoke(args=["retention", "purge", "--before", "2005-01-01"])
    assert count(AuditEntry) == before + 1
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
