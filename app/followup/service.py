"""Following an exception to closure (8.4), objections (8.3.3) and QC findings (Appendix B).

Every function here changes data, records an audit entry and flushes; the route commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Optional, TypeVar

import sqlalchemy as sa
from flask import current_app

from app.audit.service import record
from app.auth.models import Role, StaffUser
from app.db_types import utcnow
from app.extensions import db
from app.followup.models import (
    EscalationTarget, EventKind, ExceptionEvent, ExceptionFollowup, Objection, ObjectionParty,
    Outcome, QcFinding,
)
from app.mandatory.service import session_for_invitation
from app.phrases import phrase
from app.reviews.models import ExceptionStatus, ReviewException, Severity
from app.webhooks.service import emit

ChoiceT = TypeVar("ChoiceT", bound=Enum)

# Days a flagged answer may stay open, by severity (config EXCEPTION_SLA_DAYS overrides).
# 5.1.3 asks abnormal situations to be taken up within 2 trading days; high severity follows that.
DEFAULT_SLA_DAYS = {"high": 2, "medium": 5, "low": 10}

# Appendix B (表 B.1) indicators and their weights in per cent; config QC_WEIGHTS overrides.
APPENDIX_B_WEIGHTS = {
    "policy_process": 10,  # 制度与流程
    "post_requirements": 10,  # 岗位要求
    "confidentiality": 10,  # 信息保密
    "task_completion": 20,  # 任务完成率
    "registration": 10,  # 执行登记
    "exception_handling": 20,  # 异常情形处理
    "reporting": 10,  # 编写回访报告
    "records": 10,  # 管理回访资料
}
# The three groups of Appendix B with their weights (30 / 50 / 20).
APPENDIX_B_GROUPS = {
    "compliance": ("policy_process", "post_requirements", "confidentiality"),
    "execution": ("task_completion", "registration", "exception_handling"),
    "results": ("reporting", "records"),
}
MAX_NOTE = 4000


class FollowupError(ValueError):
    """A step that cannot be taken; names the field and why (422, nothing changed)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- rules --------------------------------------------------------------------------------------


def sla_days() -> dict[str, int]:
    """Days allowed per severity before an open exception is overdue."""
    return {**DEFAULT_SLA_DAYS, **(current_app.config.get("EXCEPTION_SLA_DAYS") or {})}


def due_at(exception: ReviewException) -> datetime:
    """When the exception must be closed."""
    return exception.created_at + timedelta(days=sla_days()[exception.severity.value])


def is_overdue(exception: ReviewException, now: Optional[datetime] = None) -> bool:
    """Open past its due time."""
    return exception.status is not ExceptionStatus.CLOSED and (now or utcnow()) > due_at(exception)


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    """SQL: not closed and created longer ago than its severity allows."""
    days = sla_days()
    return sa.and_(
        ReviewException.status != ExceptionStatus.CLOSED,
        sa.or_(*[
            sa.and_(ReviewException.severity == Severity(level),
                    ReviewException.created_at < now - timedelta(days=n))
            for level, n in days.items()
        ]),
    )


def qc_weights() -> dict[str, float]:
    """The Appendix B weights in force; they must name known indicators and add up to 100."""
    weights = dict(current_app.config.get("QC_WEIGHTS") or APPENDIX_B_WEIGHTS)
    unknown = set(weights) - set(APPENDIX_B_WEIGHTS)
    if unknown or abs(sum(weights.values()) - 100) > 1e-9 or any(w < 0 for w in weights.values()):
        raise FollowupError("QC_WEIGHTS", phrase("weights must be Appendix B indicators, non-negative, adding up to 100"))
    return weights


def conflict_of_interest(exception: ReviewException, staff: StaffUser) -> bool:
    """True when the staff member serves the client (6.3, 5.1.7): he or she may not follow it up."""
    code = exception.client.servicing_staff_code
    return bool(code) and staff.staff_code is not None and staff.staff_code.strip().lower() == code.strip().lower()


def eligible_assignees(exception: ReviewException) -> list[StaffUser]:
    """Active executors and managers who do not serve the client."""
    staff = db.session.scalars(
        sa.select(StaffUser).where(StaffUser.active.is_(True),
                                   StaffUser.role.in_([Role.REVIEW_EXECUTOR, Role.REVIEW_MANAGER]))
        .order_by(StaffUser.display_name)
    ).all()
    return [s for s in staff if not conflict_of_interest(exception, s)]


def followup_of(exception: ReviewException) -> Optional[ExceptionFollowup]:
    """The follow-up row, if the exception was ever assigned."""
    return db.session.scalars(
        sa.select(ExceptionFollowup).where(ExceptionFollowup.exception_id == exception.id)
    ).one_or_none()


def may_work_on(exception: ReviewException, user: StaffUser) -> bool:
    """Managers (and admins) act on every exception; an executor only on those assigned to him or her."""
    if user.has_role(Role.REVIEW_MANAGER):
        return True
    followup = followup_of(exception)
    return (user.role is Role.REVIEW_EXECUTOR and followup is not None
            and followup.assignee_id == user.id)


def _note(note: Optional[str], field: str = "note", required: bool = True) -> Optional[str]:
    text = (note or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise FollowupError(field, phrase("please write what was found or decided"))
    if len(text) > MAX_NOTE:
        raise FollowupError(field, phrase("at most %(most)d characters", most=MAX_NOTE))
    return text or None


def _event(exception: ReviewException, kind: EventKind, actor: str, note: Optional[str] = None,
           **details) -> ExceptionEvent:
    event = ExceptionEvent(exception_id=exception.id, kind=kind, actor=actor, note=note,
                           details={k: v for k, v in details.items() if v is not None}, occurred_at=utcnow())
    db.session.add(event)
    return event


def _chosen(kind: type[ChoiceT], value: str, field: str, message: str) -> ChoiceT:
    """The enum member a form's value names; 422 on `field` with `message` otherwise."""
    try:
        return kind(value)
    except ValueError:
        raise FollowupError(field, message) from None


def _require_open(exception: ReviewException) -> None:
    if exception.status is ExceptionStatus.CLOSED:
        raise FollowupError("status", phrase("the exception is closed"))


# --- steps --------------------------------------------------------------------------------------


def open_exceptions_assigned_to(staff_id: int) -> int:
    """How many exceptions not closed are assigned to this member (to reassign when he or she leaves)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(ExceptionFollowup)
        .join(ReviewException, ReviewException.id == ExceptionFollowup.exception_id)
        .where(ExceptionFollowup.assignee_id == staff_id, ReviewException.status != ExceptionStatus.CLOSED))


def can_follow_up(staff: StaffUser) -> bool:
    """Whether the member may be given exceptions: an active review executor or review manager."""
    return staff.active and staff.role in (Role.REVIEW_EXECUTOR, Role.REVIEW_MANAGER)


def assign(exception: ReviewException, assignee: StaffUser, actor: str,
           remote_addr: Optional[str] = None) -> ExceptionFollowup:
    """Give the exception to an executor or manager; never to the client's servicing staff (6.3)."""
    _require_open(exception)
    if not can_follow_up(assignee):
        raise FollowupError("assignee", phrase("choose an active review executor or review manager"))
    if conflict_of_interest(exception, assignee):
        raise FollowupError("assignee", phrase("%(name)s serves this client and may not follow it up (6.3)",
                                                 name=assignee.display_name))
    followup = followup_of(exception)
    if followup is None:
        followup = ExceptionFollowup(exception_id=exception.id)
        db.session.add(followup)
    previous = followup.assignee.username if followup.assignee else None
    followup.assignee_id = assignee.id
    followup.assignee = assignee
    followup.assigned_at = utcnow()
    followup.assigned_by = actor
    if exception.status is ExceptionStatus.OPEN:
        exception.status = ExceptionStatus.ASSIGNED
    _event(exception, EventKind.ASSIGNED, actor, assignee=assignee.username, previous=previous)
    db.session.flush()
    record(actor, "exception.assign", "review_exception", exception.id,
           {"assignee": assignee.username, "previous": previous}, remote_addr)
    return followup


def assigned_followup(exception: ReviewException, unassigned: str) -> ExceptionFollowup:
    """The exception's follow-up record; 422 on 'status' with the reason `unassigned` when nobody was assigned yet."""
    followup = followup_of(exception)
    if followup is None:
        raise FollowupError("status", unassigned)
    return followup


def add_finding(exception: ReviewException, note: str, actor: str, remote_addr: Optional[str] = None) -> ExceptionEvent:
    """Record what the follow-up found."""
    _require_open(exception)
    text = _note(note)
    event = _event(exception, EventKind.FINDING, actor, text)
    db.session.flush()
    record(actor, "exception.finding", "review_exception", exception.id, {"event": event.id}, remote_addr)
    return event


def escalate(exception: ReviewException, target: str, note: str, actor: str,
             remote_addr: Optional[str] = None) -> ExceptionEvent:
    """Report the suspected violation to risk management or the business department (8.4 b)."""
    _require_open(exception)
    to = _chosen(EscalationTarget, target, "target", phrase("choose risk management or the business department"))
    text = _note(note)
    followup = assigned_followup(exception, phrase("assign the exception before escalating it"))
    followup.escalated_to = to
    followup.escalated_at = utcnow()
    exception.status = ExceptionStatus.ESCALATED
    event = _event(exception, EventKind.ESCALATED, actor, text, to=to.value)
    db.session.flush()
    record(actor, "exception.escalate", "review_exception", exception.id, {"to": to.value}, remote_addr)
    return event


def close(exception: ReviewException, outcome: str, note: str, actor: str,
          remote_addr: Optional[str] = None) -> ExceptionFollowup:
    """Close with an outcome; a review from a mandatory session tells the business system (callback)."""
    _require_open(exception)
    result = _chosen(Outcome, outcome, "outcome", phrase("choose an outcome"))
    text = _note(note)
    followup = assigned_followup(exception, phrase("assign the exception before closing it"))
    now = utcnow()
    followup.outcome = result
    followup.outcome_note = text
    followup.closed_at = now
    followup.closed_by = actor
    exception.status = ExceptionStatus.CLOSED
    _event(exception, EventKind.CLOSED, actor, text, outcome=result.value)
    db.session.flush()
    callback = notify_business_system(exception, followup)
    record(actor, "exception.close", "review_exception", exception.id,
           {"outcome": result.value, "callback_event": callback}, remote_addr)
    return followup


def notify_business_system(exception: ReviewException, followup: ExceptionFollowup) -> Optional[int]:
    """Emit `mandatory_session.exception_closed` when the review came from a mandatory session.

    Writes the event to the webhook outbox in the caller's transaction (flush only), so the
    closing and its callback commit together or not at all; returns the event id, or None for an
    ordinary invitation or a session opened without a callback URL. The session's status stays
    `exception`: the event reports the follow-up (8.4), it does not unblock the business flow.
    The payload names no person beyond the client account the business system sent (7.3.5).
    """
    session = session_for_invitation(exception.response.invitation_id)
    if session is None or not session.callback_url:
        return None
    still_open = db.session.scalar(
        sa.select(sa.func.count()).select_from(ReviewException)
        .where(ReviewException.response_id == exception.response_id,
               ReviewException.status != ExceptionStatus.CLOSED)
    ) or 0
    event = emit("mandatory_session.exception_closed", {
        "session_id": session.public_id,
        "business_ref": session.business_ref,
        "client_account": exception.client.account,
        "receipt_no": exception.response.receipt_no,
        "exception_id": exception.id,
        "question_id": exception.question_id,
        "severity": exception.severity.value,
        "label": exception.label,
        "outcome": followup.outcome.value,
        "closed_at": followup.closed_at.isoformat(),
        "open_exceptions": still_open,  # flagged answers of this response not yet closed
    }, api_key_id=session.api_key_id, callback_url=session.callback_url)
    return event.id


def record_objection(exception: ReviewException, party: str, raised_by: str, content: str, actor: str,
                     remote_addr: Optional[str] = None) -> Objection:
    """Record an objection to the review result (8.3.3); the review manager answers it."""
    who = _chosen(ObjectionParty, party, "party", phrase("choose who objects"))
    name = (raised_by or "").strip()
    if not name or len(name) > 100:
        raise FollowupError("raised_by", phrase("name the unit or person objecting (at most 100 characters)"))
    objection = Objection(exception_id=exception.id, party=who, raised_by=name,
                          content=_note(content, "content"), recorded_by=actor, recorded_at=utcnow())
    db.session.add(objection)
    db.session.flush()
    _event(exception, EventKind.OBJECTION, actor, objection.content, objection=objection.id, party=who.value)
    db.session.flush()
    record(actor, "objection.record", "result_objection", objection.id,
           {"exception": exception.id, "party": who.value}, remote_addr)
    return objection


def answer_objection(objection: Objection, answer: str, upheld: bool, actor: str,
                     remote_addr: Optional[str] = None) -> Objection:
    """Answer with the verification result and handling suggestion (8.3.3); upheld reopens a closed exception."""
    if objection.answered_at is not None:
        raise FollowupError("objection", phrase("this objection was answered already"))
    exception = db.session.get(ReviewException, objection.exception_id)
    objection.answer = _note(answer, "answer")
    objection.upheld = bool(upheld)
    objection.answered_by = actor
    objection.answered_at = utcnow()
    _event(exception, EventKind.OBJECTION_ANSWERED, actor, objection.answer,
           objection=objection.id, upheld=bool(upheld))
    if upheld and exception.status is ExceptionStatus.CLOSED:
        followup = followup_of(exception)
        exception.status = ExceptionStatus.ASSIGNED if followup and followup.assignee_id else ExceptionStatus.OPEN
        if followup is not None:
            followup.outcome = None
            followup.closed_at = None
            followup.closed_by = None
        _event(exception, EventKind.REOPENED, actor, None, objection=objection.id)
    db.session.flush()
    record(actor, "objection.answer", "result_objection", objection.id,
           {"exception": exception.id, "upheld": bool(upheld)}, remote_addr)
    return objection


# --- quality inspection -------------------------------------------------------------------------


@dataclass(frozen=True)
class QcScore:
    """A weighted total and the weights it was computed with."""

    total: float
    weights: dict


def weighted_total(scores: dict[str, float], weights: dict[str, float]) -> float:
    """Σ score × weight / 100, rounded to 0.01 (Appendix B)."""
    return round(sum(scores[key] * weight for key, weight in weights.items()) / 100, 2)


def record_qc_finding(unit: str, period: str, raw_scores: dict[str, object], remarks: Optional[str],
                      actor: str, exception_id: Optional[int] = None,
                      remote_addr: Optional[str] = None) -> QcFinding:
    """Score a unit on every Appendix B indicator (0–100) with the configured weights."""
    weights = qc_weights()
    unit = (unit or "").strip()
    if not unit or len(unit) > 100:
        raise FollowupError("unit", phrase("name the unit evaluated (at most 100 characters)"))
    period = (period or "").strip()
    if not period or len(period) > 20:
        raise FollowupError("period", phrase("give the evaluation period, e.g. 2026 or 2026-H2"))
    scores: dict[str, float] = {}
    for key in weights:
        value = raw_scores.get(key)
        try:
            number = float(str(value).strip())
        except (TypeError, ValueError):
            raise FollowupError(key, phrase("enter a score from 0 to 100")) from None
        if not 0 <= number <= 100:
            raise FollowupError(key, phrase("enter a score from 0 to 100"))
        scores[key] = number
    if exception_id is not None and db.session.get(ReviewException, exception_id) is None:
        raise FollowupError("exception_id", phrase("no such exception"))
    finding = QcFinding(unit=unit, period=period, exception_id=exception_id, scores=scores, weights=weights,
                        total=weighted_total(scores, weights), remarks=_note(remarks, "remarks", required=False),
                        inspector=actor, created_at=utcnow())
    db.session.add(finding)
    db.session.flush()
    record(actor, "qc.finding", "qc_finding", finding.id,
           {"unit": unit, "period": period, "total": finding.total}, remote_addr)
    return finding
