"""Console pages of the followup area: each role gets what it may and 403 otherwise (7.4)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role, StaffUser
from app.extensions import db
from app.followup import service
from app.followup.models import ExceptionEvent, Objection, QcFinding
from app.reviews.models import ExceptionStatus, ReviewException
from tests.followup.conftest import post

ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR = (Role.ADMIN, Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR,
                                                 Role.REVIEW_EXECUTOR, Role.AUDITOR)
ALL = [ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR]


def count(model):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def worker(app):
    """An executor who does not serve the generated clients."""
    user = StaffUser(username="worker", display_name="Worker", role=EXECUTOR, staff_code="S900",
                     password_hash="!x")
    db.session.add(user)
    db.session.commit()
    return user


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER, INSPECTOR, EXECUTOR}) for r in ALL])
def test_exceptions_list_roles(client, sign_in, exceptions, role, allowed):
    sign_in(role)
    assert client.get("/console/exceptions").status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER, INSPECTOR}) for r in ALL])
def test_exception_detail_roles_when_not_assigned(client, sign_in, exception, role, allowed):
    sign_in(role)
    assert client.get(f"/console/exceptions/{exception.id}").status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER, INSPECTOR}) for r in ALL])
def test_qc_page_roles(client, sign_in, app, role, allowed):
    sign_in(role)
    assert client.get("/console/qc").status_code == (200 if allowed else 403)


def qc_form():
    return {"unit": "上海分公司", "period": "2026", **{k: "90" for k in service.APPENDIX_B_WEIGHTS}}


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, INSPECTOR}) for r in ALL])
def test_only_inspectors_record_qc_findings(client, sign_in, app, role, allowed):
    sign_in(role)
    response = post(client, "/console/qc", qc_form())
    assert response.status_code == (302 if allowed else 403)
    assert count(QcFinding) == (1 if allowed else 0)


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER}) for r in ALL])
def test_only_managers_assign(client, sign_in, exception, worker, role, allowed):
    sign_in(role)
    response = post(client, f"/console/exceptions/{exception.id}/assign", {"assignee_id": worker.id})
    assert response.status_code == (302 if allowed else 403)
    assert (db.session.get(ReviewException, exception.id).status is ExceptionStatus.ASSIGNED) is allowed


STEPS = [
    ("findings", {"note": "已联系客户"}),
    ("escalate", {"target": "business_department", "note": "需业务部门核实"}),
    ("close", {"outcome": "no_violation", "note": "核实无违规"}),
    ("objections", {"party": "branch", "raised_by": "上海分公司", "content": "有异议"}),
]


@pytest.mark.parametrize("step, data", STEPS)
@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER}) for r in ALL])
def test_steps_by_role_on_an_exception_not_assigned_to_them(client, sign_in, exception, worker, step, data,
                                                           role, allowed):
    service.assign(exception, worker, "boss")
    db.session.commit()
    before = count(ExceptionEvent)
    sign_in(role)
    response = post(client, f"/console/exceptions/{exception.id}/{step}", data)
    assert response.status_code == (302 if allowed else 403)
    assert count(ExceptionEvent) == before + (1 if allowed else 0)


@pytest.mark.parametrize("step, data", STEPS)
def test_the_assigned_executor_takes_every_step(client, sign_in, exception, step, data):
    me = sign_in(EXECUTOR)
    service.assign(exception, me, "boss")
    db.session.commit()
    response = post(client, f"/console/exceptions/{exception.id}/{step}", data)
    assert response.status_code == 302
    assert client.get(f"/console/exceptions/{exception.id}").status_code == 200


def test_executor_list_shows_only_their_tasks(client, sign_in, exceptions):
    me = sign_in(EXECUTOR)
    service.assign(exceptions[0], me, "boss")
    db.session.commit()
    page = client.get("/console/exceptions?status=all").get_data(as_text=True)
    assert f'href="/console/exceptions/{exceptions[0].id}"' in page
    assert f'href="/console/exceptions/{exceptions[1].id}"' not in page


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER}) for r in ALL])
def test_only_managers_answer_objections(client, sign_in, exception, role, allowed):
    objection = service.record_objection(exception, "branch", "上海分公司", "异议", "exec")
    db.session.commit()
    sign_in(role)
    response = post(client, f"/console/objections/{objection.id}/answer", {"answer": "维持原结论"})
    assert response.status_code == (302 if allowed else 403)
    assert (db.session.get(Objection, objection.id).answered_at is not None) is allowed


def test_assigning_the_servicing_staff_is_refused_with_the_field_named(client, sign_in, exception):
    conflicted = StaffUser(username="svc", display_name="Servicing", role=EXECUTOR, staff_code="S001",
                           password_hash="!x")
    db.session.add(conflicted)
    db.session.commit()
    sign_in(MANAGER)
    audit_before = count(AuditEntry)
    response = post(client, f"/console/exceptions/{exception.id}/assign", {"assignee_id": conflicted.id})
    assert response.status_code == 422
    assert 'data-field="assignee"' in response.get_data(as_text=True)
    assert db.session.get(ReviewException, exception.id).status is ExceptionStatus.OPEN
    assert count(AuditEntry) == audit_before


def test_list_masks_personal_data(client, sign_in, exceptions):
    sign_in(MANAGER)
    page = client.get("/console/exceptions").get_data(as_text=True)
    assert "张*丰" in page and "张三丰" not in page


@pytest.mark.parametrize("query, expected", [
    ("severity=high", 2), ("severity=low", 2), ("severity=medium", 1), ("status=closed", 0), ("overdue=1", 0),
])
def test_list_filters(client, sign_in, exceptions, query, expected):
    sign_in(MANAGER)
    page = client.get(f"/console/exceptions?{query}").get_data(as_text=True)
    assert page.count('href="/console/exceptions/') == expected


def test_overdue_rows_are_highlighted(client, sign_in, exceptions, days):
    exceptions[0].created_at = days(-30)
    db.session.commit()
    sign_in(MANAGER)
    page = client.get("/console/exceptions?overdue=1").get_data(as_text=True)
    assert page.count('class="overdue"') == 1


def test_empty_filter_result_says_so(client, sign_in, exceptions):
    sign_in(MANAGER)
    assert "No exceptions match" in client.get("/console/exceptions?status=closed").get_data(as_text=True)


def test_bad_status_filter_is_422(client, sign_in, app):
    sign_in(MANAGER)
    assert client.get("/console/exceptions?status=nope").status_code == 422


@pytest.mark.parametrize("role, allowed", [(r, r in {ADMIN, MANAGER}) for r in ALL])
def test_unmask_roles_and_reason_logged(client, sign_in, exception, role, allowed):
    sign_in(role)
    response = post(client, f"/console/exceptions/{exception.id}/unmask", {"reason": "核实身份需回拨客户"})
    assert response.status_code == (200 if allowed else 403)
    page = response.get_data(as_text=True)
    assert ("13812341234" in page) is allowed
    logged = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "client.unmask")).all()
    assert len(logged) == (1 if allowed else 0)
    if allowed:
        assert logged[0].details["reason"] == "核实身份需回拨客户"


def test_assigned_executor_may_unmask_their_client(client, sign_in, exception):
    me = sign_in(EXECUTOR)
    service.assign(exception, me, "boss")
    db.session.commit()
    response = post(client, f"/console/exceptions/{exception.id}/unmask", {"reason": "回拨客户"})
    assert response.status_code == 200 and "13812341234" in response.get_data(as_text=True)


def test_unmask_without_a_reason_is_refused_and_not_shown(client, sign_in, exception):
    sign_in(MANAGER)
    response = post(client, f"/console/exceptions/{exception.id}/unmask", {"reason": " "})
    assert response.status_code == 422
    assert "13812341234" not in response.get_data(as_text=True)
    assert count(AuditEntry) == count(AuditEntry)  # nothing appended below
    assert not db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "client.unmask")).all()


def test_detail_shows_the_timeline_with_durations(client, sign_in, exception, worker):
    service.assign(exception, worker, "staff:boss")
    service.add_finding(exception, "客户称由子女代操作", "staff:worker")
    db.session.commit()
    sign_in(MANAGER)
    page = client.get(f"/console/exceptions/{exception.id}").get_data(as_text=True)
    assert "客户称由子女代操作" in page and " h</span>" in page


def test_unknown_exception_is_404(client, sign_in, app):
    sign_in(MANAGER)
    assert client.get("/console/exceptions/999").status_code == 404


def _assign_first(exceptions, staff: StaffUser, how_many: int) -> list:
    for exception in exceptions[:how_many]:
        service.assign(exception, staff, "boss")
    db.session.commit()
    return exceptions[:how_many]


def test_a_manager_lists_one_members_exceptions(client, sign_in, exceptions, worker):
    other = StaffUser(username="other", display_name="Other", role=EXECUTOR, password_hash="!x")
    db.session.add(other)
    theirs = _assign_first(exceptions, worker, 2)
    service.assign(exceptions[2], other, "boss")
    db.session.commit()
    sign_in(MANAGER)
    page = client.get(f"/console/exceptions?assignee={worker.id}").get_data(as_text=True)
    shown = {e.id for e in exceptions if f'href="/console/exceptions/{e.id}"' in page}
    assert shown == {e.id for e in theirs} and "assigned to Worker" in page
    assert client.get("/console/exceptions?assignee=999999").status_code == 422


def test_the_account_page_says_when_a_deactivated_member_still_holds_exceptions(client, sign_in, exceptions, worker):
    _assign_first(exceptions, worker, 2)
    sign_in(ADMIN)
    before = client.get(f"/console/staff/{worker.id}").get_data(as_text=True)
    assert "2 exceptions not closed are assigned to this account." in before and "can no longer" not in before
    assert post(client, f"/console/staff/{worker.id}/deactivate").status_code == 303
    after = client.get(f"/console/staff/{worker.id}").get_data(as_text=True)
    assert "can no longer follow them up" in after and f"/console/exceptions?assignee={worker.id}" in after
