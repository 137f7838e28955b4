"""Models of the followup area: an exception's follow-up (8.4), objections (8.3.3), QC findings.

Why tables of our own instead of columns on ReviewException: the core row stays what the submit
transaction wrote (the flagged answer, untouched), the follow-up state lives in one 1:1 row, and
every step is an append-only event with its own time — so "each step is timed" is a query, and
reassignments or a reopen after an upheld objection keep their full history.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import JSONType, UTCDateTime, str_enum, utcnow
from app.extensions import db


class EscalationTarget(enum.Enum):
    """Where a suspected violation is reported upward (8.4 b)."""

    RISK_MANAGEMENT = "risk_management"  # 风险管理部门
    BUSINESS_DEPARTMENT = "business_department"  # 相关业务管理部门


class Outcome(enum.Enum):
    """How an exception was closed."""

    VIOLATION_CONFIRMED = "violation_confirmed"  # 违规属实，已移交处理
    RECTIFIED = "rectified"  # 问题属实，已整改
    NO_VIOLATION = "no_violation"  # 经核实无违规
    CLIENT_MISUNDERSTANDING = "client_misunderstanding"  # 客户误解，已解释


class EventKind(enum.Enum):
    """A step in an exception's follow-up; each is timed and logged."""

    ASSIGNED = "assigned"
    FINDING = "finding"
    ESCALATED = "escalated"
    CLOSED = "closed"
    REOPENED = "reopened"
    OBJECTION = "objection"
    OBJECTION_ANSWERED = "objection_answered"


class ExceptionFollowup(db.Model):
    """The current follow-up state of one exception (created when it is first assigned)."""

    __tablename__ = "exception_followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    exception_id: Mapped[int] = mapped_column(sa.ForeignKey("review_exceptions.id"), unique=True)
    assignee_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    assigned_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    assigned_by: Mapped[Optional[str]] = mapped_column(sa.String(100))
    escalated_to: Mapped[Optional[EscalationTarget]] = mapped_column(str_enum(EscalationTarget))
    escalated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    outcome: Mapped[Optional[Outcome]] = mapped_column(str_enum(Outcome))
    outcome_note: Mapped[Optional[str]] = mapped_column(sa.Text)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    closed_by: Mapped[Optional[str]] = mapped_column(sa.String(100))

    assignee = relationship("StaffUser")


class ExceptionEvent(db.Model):
    """One timed step of an exception's follow-up, never changed afterwards."""

    __tablename__ = "exception_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    exception_id: Mapped[int] = mapped_column(sa.ForeignKey("review_exceptions.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[Optional[str]] = mapped_column(sa.Text)
    # What the step set, for the timeline: {"assignee": "alice", "to": "risk_management", ...}
    details: Mapped[dict] = mapped_column(JSONType, default=dict)


class ObjectionParty(enum.Enum):
    """Who objects to a review result (8.3.3)."""

    BRANCH = "branch"  # 客户所属分支机构
    DEPARTMENT = "department"  # 证券公司相关部门
    EXECUTOR = "executor"  # 客户回访执行人员


class Objection(db.Model):
    """An objection to a review result and the review management's answer (8.3.3)."""

    __tablename__ = "result_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    exception_id: Mapped[int] = mapped_column(sa.ForeignKey("review_exceptions.id"), index=True)
    party: Mapped[ObjectionParty] = mapped_column(str_enum(ObjectionParty, 16))
    raised_by: Mapped[str] = mapped_column(sa.String(100))  # the unit or person objecting
    content: Mapped[str] = mapped_column(sa.Text)
    recorded_by: Mapped[str] = mapped_column(sa.String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 核实结果及处理建议 (8.3.3): what was verified and what is suggested
    answer: Mapped[Optional[str]] = mapped_column(sa.Text)
    upheld: Mapped[Optional[bool]]  # True: the objection stands, a closed exception is reopened
    answered_by: Mapped[Optional[str]] = mapped_column(sa.String(100))
    answered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class QcFinding(db.Model):
    """A quality inspector's scored evaluation of a review unit (7.4.2, Appendix B)."""

    __tablename__ = "qc_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit: Mapped[str] = mapped_column(sa.String(100), index=True)  # 参评单位: the executing unit
    period: Mapped[str] = mapped_column(sa.String(20))  # 评价周期, e.g. "2026" or "2026-H2"
    exception_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("review_exceptions.id"), index=True)
    scores: Mapped[dict] = mapped_column(JSONType)  # indicator key -> 0..100
    weights: Mapped[dict] = mapped_column(JSONType)  # the weights in force when scored (a snapshot)
    total: Mapped[float] = mapped_column(sa.Float)  # weighted score 0..100
    remarks: Mapped[Optional[str]] = mapped_column(sa.Text)  # 评价简述
    inspector: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    exception = relationship("ReviewException")
