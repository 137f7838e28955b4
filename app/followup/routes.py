"""Console pages of the followup area: exceptions to closure (8.4), objections (8.3.3), QC (Appendix B)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role, StaffUser
from app.clients.models import Client
from app.console.nav import nav_item
from app.db_types import utcnow
from app.extensions import db
from app.params import optional_row_id, row_id
from app.phrases import phrase
from app.followup import privacy, service
from app.followup.models import (
    EscalationTarget, ExceptionEvent, ExceptionFollowup, Objection, ObjectionParty, Outcome, QcFinding,
)
from app.reviews.models import ExceptionStatus, ReviewException, Severity

bp = Blueprint("followup", __name__, url_prefix="/console", template_folder="templates")

# 7.4: executors see their tasks, inspectors read everything, managers assign and monitor.
READERS = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR)
WORKERS = (Role.REVIEW_MANAGER, Role.REVIEW_EXECUTOR)
PAGE_SIZE = 50

nav_item("Exceptions", "followup.exceptions", READERS, order=20)
nav_item("Quality inspection", "followup.qc", (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR), order=40)


@bp.context_processor
def _tz():
    from app.stats.population import local_tz

    return {"tz": local_tz()}


def get_exception_or_404(exception_id: int) -> ReviewException:
    """The exception, or 404."""
    return db.get_or_404(ReviewException, exception_id)


def _may_read(exception: ReviewException) -> bool:
    if current_user.has_role(Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR):
        return True
    return service.may_work_on(exception, current_user)


def _require_worker(exception: ReviewException) -> None:
    if not service.may_work_on(exception, current_user):
        abort(403, _("Only the assignee or a review manager may do this."))


@bp.get("/exceptions")
@roles_required(*READERS)
def exceptions():
    """Exceptions with filters; executors see only those assigned to them."""
    args = request.args
    now = utcnow()
    query = (sa.select(ReviewException, Client, ExceptionFollowup)
             .join(Client, Client.id == ReviewException.client_id)
             .outerjoin(ExceptionFollowup, ExceptionFollowup.exception_id == ReviewException.id))
    status = args.get("status", "active")
    if status == "active":
        query = query.where(ReviewException.status != ExceptionStatus.CLOSED)
    elif status in {s.value for s in ExceptionStatus}:
        query = query.where(ReviewException.status == ExceptionStatus(status))
    elif status != "all":
        abort(422, _("Unknown status filter."))
    severity = args.get("severity", "")
    if severity:
        if severity not in {s.value for s in Severity}:
            abort(422, _("Unknown severity filter."))
        query = query.where(ReviewException.severity == Severity(severity))
    if args.get("overdue") == "1":
        query = query.where(service.overdue_clause(now))
    mine_only = current_user.role is Role.REVIEW_EXECUTOR or args.get("mine") == "1"
    assignee = None
    if mine_only:
        query = query.where(ExceptionFollowup.assignee_id == current_user.id)
    elif args.get("assignee"):
        # One member's exceptions: what a manager reassigns when someone leaves or changes post.
        assignee = db.session.get(StaffUser, optional_row_id(args.get("assignee")) or 0)
        if assignee is None:
            abort(422, _("Unknown assignee filter."))
        query = query.where(ExceptionFollowup.assignee_id == assignee.id)
    page = optional_row_id(args.get("page")) or 1
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.order_by(ReviewException.created_at.desc(), ReviewException.id.desc())
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    items = [{"exception": e, "client": privacy.masked(c), "followup": f, "due_at": service.due_at(e),
              "overdue": service.is_overdue(e, now)} for e, c, f in rows]
    return render_template("followup/exceptions.html", items=items, total=total, page=page,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), status=status,
                           severity=severity, overdue=args.get("overdue") == "1", mine_only=mine_only, assignee=assignee,
                           statuses=ExceptionStatus, severities=Severity)


def _detail(exception: ReviewException, status: int = 200, error=None, unmasked=None):
    followup = service.followup_of(exception)
    events = db.session.scalars(sa.select(ExceptionEvent).where(ExceptionEvent.exception_id == exception.id)
                                .order_by(ExceptionEvent.occurred_at, ExceptionEvent.id)).all()
    objections = db.session.scalars(sa.select(Objection).where(Objection.exception_id == exception.id)
                                    .order_by(Objection.recorded_at)).all()
    can_work = service.may_work_on(exception, current_user)
    return render_template(
        "followup/exception.html", exception=exception, followup=followup, events=events,
        objections=objections, client=privacy.masked(exception.client), unmasked=unmasked,
        due_at=service.due_at(exception), overdue=service.is_overdue(exception),
        can_work=can_work, can_assign=current_user.has_role(Role.REVIEW_MANAGER),
        can_unmask=privacy.may_unmask(current_user, exception),
        assignees=service.eligible_assignees(exception) if current_user.has_role(Role.REVIEW_MANAGER) else [],
        targets=EscalationTarget, outcomes=Outcome, parties=ObjectionParty, error=error,
        now=utcnow(),
    ), status


@bp.get("/exceptions/<int:exception_id>")
@roles_required(*READERS)
def exception_detail(exception_id: int):
    """One exception: the flagged answer, its timeline, objections and the next steps."""
    exception = get_exception_or_404(exception_id)
    if not _may_read(exception):
        abort(403, _("This exception is not assigned to you."))
    return _detail(exception)


def _step(exception_id: int, roles_check, action):
    exception = get_exception_or_404(exception_id)
    roles_check(exception)
    try:
        action(exception)
    except service.FollowupError as exc:
        db.session.rollback()
        return _detail(db.session.get(ReviewException, exception_id), 422, exc)
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("followup.exception_detail", exception_id=exception_id))


def _manager_only(_exception):
    if not current_user.has_role(Role.REVIEW_MANAGER):
        abort(403, _("Only a review manager may do this."))


@bp.post("/exceptions/<int:exception_id>/assign")
@roles_required(Role.REVIEW_MANAGER)
def assign(exception_id: int):
    """Assign to an executor or manager who does not serve the client (6.3)."""
    def act(exception):
        assignee = db.session.get(StaffUser, optional_row_id(request.form.get("assignee_id")) or 0)
        if assignee is None:
            raise service.FollowupError("assignee", phrase("choose who follows this up"))
        service.assign(exception, assignee, actor_name(), request.remote_addr)
    return _step(exception_id, _manager_only, act)


@bp.post("/exceptions/<int:exception_id>/findings")
@roles_required(*WORKERS)
def add_finding(exception_id: int):
    """Record a finding."""
    return _step(exception_id, _require_worker, lambda e: service.add_finding(
        e, request.form.get("note", ""), actor_name(), request.remote_addr))


@bp.post("/exceptions/<int:exception_id>/escalate")
@roles_required(*WORKERS)
def escalate(exception_id: int):
    """Report upward to risk management or the business department (8.4 b)."""
    return _step(exception_id, _require_worker, lambda e: service.escalate(
        e, request.form.get("target", ""), request.form.get("note", ""), actor_name(), request.remote_addr))


@bp.post("/exceptions/<int:exception_id>/close")
@roles_required(*WORKERS)
def close(exception_id: int):
    """Close with an outcome."""
    return _step(exception_id, _require_worker, lambda e: service.close(
        e, request.form.get("outcome", ""), request.form.get("note", ""), actor_name(), request.remote_addr))


@bp.post("/exceptions/<int:exception_id>/objections")
@roles_required(*WORKERS)
def record_objection(exception_id: int):
    """Record an objection to the result (8.3.3)."""
    return _step(exception_id, _require_worker, lambda e: service.record_objection(
        e, request.form.get("party", ""), request.form.get("raised_by", ""), request.form.get("content", ""),
        actor_name(), request.remote_addr))


@bp.post("/objections/<int:objection_id>/answer")
@roles_required(Role.REVIEW_MANAGER)
def answer_objection(objection_id: int):
    """The review manager's verification result and handling suggestion (8.3.3)."""
    objection = db.get_or_404(Objection, objection_id)
    return _step(objection.exception_id, _manager_only, lambda e: service.answer_objection(
        db.session.get(Objection, objection_id), request.form.get("answer", ""),
        request.form.get("upheld") == "1", actor_name(), request.remote_addr))


@bp.post("/exceptions/<int:exception_id>/unmask")
@roles_required(*WORKERS)
def unmask(exception_id: int):
    """Show the client's contact data in full, with the reason logged (7.3.5)."""
    exception = get_exception_or_404(exception_id)
    if not privacy.may_unmask(current_user, exception):
        abort(403, _("Your role does not allow seeing personal data in full."))
    try:
        shown = privacy.unmask(exception, current_user, actor_name(), request.form.get("reason"),
                               request.remote_addr)
    except service.FollowupError as exc:
        db.session.rollback()
        return _detail(exception, 422, exc)
    db.session.commit()
    response, status = _detail(exception, unmasked=shown)
    return response, status, {"Cache-Control": "no-store"}


def _typed_exception_id(text: str | None) -> int | None:
    """The optional exception number of a QC finding; FollowupError when it is typed but no number."""
    if not (text or "").strip():
        return None
    try:
        return row_id(text)
    except ValueError:
        raise service.FollowupError("exception_id", phrase("no such exception")) from None


@bp.route("/qc", methods=["GET", "POST"])
@roles_required(Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR)
def qc():
    """QC findings scored on Appendix B's indicators; inspectors record, managers read."""
    error, status = None, 200
    can_record = current_user.has_role(Role.QUALITY_INSPECTOR)  # managers read; admins hold every role
    if request.method == "POST":
        if not can_record:
            abort(403, _("Only a quality inspector records QC findings."))
        try:
            service.record_qc_finding(
                request.form.get("unit", ""), request.form.get("period", ""), request.form,
                request.form.get("remarks"), actor_name(),
                exception_id=_typed_exception_id(request.form.get("exception_id")),
                remote_addr=request.remote_addr)
        except service.FollowupError as exc:
            db.session.rollback()
            error, status = exc, 422
        else:
            db.session.commit()
            flash(_("QC finding saved."), "success")
            return redirect(url_for("followup.qc"))
    findings = db.session.scalars(sa.select(QcFinding).order_by(QcFinding.created_at.desc()).limit(200)).all()
    try:
        weights = service.qc_weights()
    except service.FollowupError as exc:
        weights, error = {}, exc
    return render_template("followup/qc.html", findings=findings, weights=weights, error=error,
                           can_record=can_record, groups=service.APPENDIX_B_GROUPS, form=request.form), status
