"""Exceptions followed to closure (8.4), objections (8.3.3), conflicts of interest (6.3), QC (Appendix B)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from app.followup import service
from app.followup.models import EventKind, ExceptionEvent, ExceptionFollowup, Objection, QcFinding
from app.reviews.models import ExceptionStatus, ReviewException


def audit_actions():
    return db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)).all()


def events(exception):
    return db.session.scalars(sa.select(ExceptionEvent.kind).where(ExceptionEvent.exception_id == exception.id)
                              .order_by(ExceptionEvent.id)).all()


def test_every_flagged_answer_opened_an_exception(exceptions):
    assert len(exceptions) == 5 and all(e.status is ExceptionStatus.OPEN for e in exceptions)


def test_assign_sets_assignee_status_event_and_audit(exception, make_staff):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR, staff_code="S900")
    service.assign(exception, executor, "staff:boss")
    db.session.commit()
    assert service.followup_of(exception).assignee_id == executor.id
    assert exception.status is ExceptionStatus.ASSIGNED
    assert events(exception) == [EventKind.ASSIGNED]
    assert audit_actions()[-1] == "exception.assign"


@pytest.mark.parametrize("code", ["S001", "s001 "])
def test_never_assigned_to_the_clients_servicing_staff(exception, make_staff, code):
    conflicted, _ = make_staff(Role.REVIEW_EXECUTOR, staff_code=code)
    with pytest.raises(service.FollowupError) as info:
        service.assign(exception, conflicted, "staff:boss")
    assert info.value.field == "assignee" and "6.3" in info.value.message


def test_servicing_staff_are_not_offered_as_assignees(exception, make_staff):
    conflicted, _ = make_staff(Role.REVIEW_EXECUTOR, staff_code="S001")
    other, _ = make_staff(Role.REVIEW_EXECUTOR, staff_code="S777")
    offered = service.eligible_assignees(exception)
    assert other in offered and conflicted not in offered


@pytest.mark.parametrize("role", [Role.QUALITY_INSPECTOR, Role.AUDITOR, Role.ADMIN])
def test_only_executors_and_managers_can_be_assignees(exception, make_staff, role):
    user, _ = make_staff(role)
    with pytest.raises(service.FollowupError):
        service.assign(exception, user, "staff:boss")


def test_full_path_to_closure_is_timed_and_logged(exception, make_staff):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, executor, "staff:boss")
    service.add_finding(exception, "客户称账户由其子女操作", "staff:exec")
    service.escalate(exception, "risk_management", "疑似他人代操作", "staff:exec")
    assert exception.status is ExceptionStatus.ESCALATED
    service.close(exception, "violation_confirmed", "已移交风险管理部", "staff:exec")
    db.session.commit()
    followup = service.followup_of(exception)
    assert exception.status is ExceptionStatus.CLOSED
    assert followup.outcome.value == "violation_confirmed" and followup.closed_at is not None
    assert followup.escalated_to.value == "risk_management"
    assert events(exception) == [EventKind.ASSIGNED, EventKind.FINDING, EventKind.ESCALATED, EventKind.CLOSED]
    times = db.session.scalars(sa.select(ExceptionEvent.occurred_at).where(
        ExceptionEvent.exception_id == exception.id).order_by(ExceptionEvent.id)).all()
    assert times == sorted(times)
    assert audit_actions()[-4:] == ["exception.assign", "exception.finding", "exception.escalate", "exception.close"]


@pytest.mark.parametrize("step", ["escalate", "close"])
def test_unassigned_exception_cannot_be_escalated_or_closed(exception, step):
    call = (lambda: service.escalate(exception, "risk_management", "x", "a")) if step == "escalate" else \
        (lambda: service.close(exception, "no_violation", "x", "a"))
    with pytest.raises(service.FollowupError, match="assign"):
        call()


@pytest.mark.parametrize("kwargs, field", [
    ({"outcome": "whatever", "note": "x"}, "outcome"),
    ({"outcome": "no_violation", "note": "   "}, "note"),
    ({"outcome": "no_violation", "note": "x" * 4001}, "note"),
])
def test_close_refuses_bad_input_and_changes_nothing(exception, make_staff, kwargs, field):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, executor, "boss")
    db.session.commit()
    before = audit_actions()
    with pytest.raises(service.FollowupError) as info:
        service.close(exception, kwargs["outcome"], kwargs["note"], "exec")
    db.session.rollback()
    assert info.value.field == field
    assert db.session.get(ReviewException, exception.id).status is ExceptionStatus.ASSIGNED
    assert audit_actions() == before


def test_closed_exception_takes_no_more_steps(exception, make_staff):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, executor, "boss")
    service.close(exception, "no_violation", "核实无误", "exec")
    with pytest.raises(service.FollowupError, match="closed"):
        service.add_finding(exception, "late", "exec")


def test_objection_is_recorded_and_answered(exception, make_staff):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, executor, "boss")
    objection = service.record_objection(exception, "branch", "上海分公司", "客户本人确认系本人操作", "exec")
    service.answer_objection(objection, "经回访录音核实，维持原结论", False, "boss")
    db.session.commit()
    stored = db.session.get(Objection, objection.id)
    assert stored.answer and stored.upheld is False and stored.answered_by == "boss"
    assert events(exception)[-2:] == [EventKind.OBJECTION, EventKind.OBJECTION_ANSWERED]


def test_upheld_objection_reopens_a_closed_exception(exception, make_staff):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, executor, "boss")
    service.close(exception, "violation_confirmed", "属实", "exec")
    objection = service.record_objection(exception, "department", "合规部", "客户后续说明为误操作", "exec")
    service.answer_objection(objection, "异议成立，重新核实", True, "boss")
    db.session.commit()
    assert exception.status is ExceptionStatus.ASSIGNED
    assert service.followup_of(exception).outcome is None
    assert events(exception)[-1] is EventKind.REOPENED


def test_an_objection_is_answered_once(exception):
    objection = service.record_objection(exception, "executor", "王五", "结论有误", "exec")
    service.answer_objection(objection, "维持", False, "boss")
    with pytest.raises(service.FollowupError, match="answered already"):
        service.answer_objection(objection, "again", True, "boss")


@pytest.mark.parametrize("severity, days_old, overdue", [
    ("high", 1, False), ("high", 3, True), ("medium", 4, False), ("medium", 6, True), ("low", 11, True),
])
def test_overdue_follows_the_severity_deadline(exceptions, days, severity, days_old, overdue):
    exc = next(e for e in exceptions if e.severity.value == severity)
    exc.created_at = days(-days_old)
    db.session.commit()
    assert service.is_overdue(exc) is overdue
    in_sql = db.session.scalars(sa.select(ReviewException.id).where(service.overdue_clause(days(0)))).all()
    assert (exc.id in in_sql) is overdue


def test_closed_exception_is_never_overdue(exception, make_staff, days):
    executor, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, executor, "boss")
    service.close(exception, "no_violation", "ok", "exec")
    exception.created_at = days(-30)
    db.session.commit()
    assert not service.is_overdue(exception)


def test_sla_days_are_configurable(app, exception, days):
    app.config["EXCEPTION_SLA_DAYS"] = {"high": 10}
    exception.created_at = days(-5)
    assert not service.is_overdue(exception)
    assert service.due_at(exception) - exception.created_at == timedelta(days=10)


def test_qc_finding_uses_appendix_b_weights(app):
    scores = {k: 100 for k in service.APPENDIX_B_WEIGHTS} | {"task_completion": 50, "exception_handling": 0}
    finding = service.record_qc_finding("上海分公司", "2026", scores, "异常处理不及时", "staff:qi")
    db.session.commit()
    assert finding.total == 100 - 10 - 20  # 20 % weight at half, 20 % weight at zero
    assert db.session.get(QcFinding, finding.id).weights == service.APPENDIX_B_WEIGHTS


def test_qc_weights_may_be_configured(app):
    app.config["QC_WEIGHTS"] = {"task_completion": 50, "exception_handling": 50}
    finding = service.record_qc_finding("北京分公司", "2026-H2", {"task_completion": 80, "exception_handling": 60},
                                        None, "staff:qi")
    assert finding.total == 70.0


def test_qc_weights_that_do_not_add_up_are_refused(app):
    app.config["QC_WEIGHTS"] = {"task_completion": 50}
    with pytest.raises(service.FollowupError, match="100"):
        service.qc_weights()


@pytest.mark.parametrize("field, value", [("task_completion", "101"), ("records", "abc"), ("policy_process", "")])
def test_qc_scores_must_be_0_to_100(app, field, value):
    scores = {k: "90" for k in service.APPENDIX_B_WEIGHTS} | {field: value}
    with pytest.raises(service.FollowupError) as info:
        service.record_qc_finding("U", "2026", scores, None, "qi")
    db.session.rollback()
    assert info.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcFinding)) == 0


def test_followup_row_is_one_per_exception(exception, make_staff):
    a, _ = make_staff(Role.REVIEW_EXECUTOR)
    b, _ = make_staff(Role.REVIEW_EXECUTOR)
    service.assign(exception, a, "boss")
    service.assign(exception, b, "boss")
    db.session.commit()
    rows = db.session.scalars(sa.select(ExceptionFollowup)).all()
    assert len(rows) == 1 and rows[0].assignee_id == b.id
    last = db.session.scalars(sa.select(ExceptionEvent).order_by(ExceptionEvent.id.desc())).first()
    assert last.details == {"assignee": b.username, "previous": a.username}
