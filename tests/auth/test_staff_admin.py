"""Administrators manage staff accounts: create, change role, reset a password, unlock, deactivate."""
from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from app.auth.models import Role, StaffUser
from app.db_types import utcnow
from app.extensions import db
from tests.auth.conftest import post_form
from tests.conftest import csrf_from

WRONG = "not the password at all"


@pytest.fixture
def admin(make_staff, browser):
    """An administrator signed in in a browser of its own; returns (browser, user)."""
    user, password = make_staff(Role.ADMIN)
    signed_in, _answer = browser(user.username, password)
    return signed_in, user


def one_time_password(html: str) -> str:
    """The one-time password an answer page shows."""
    return re.search(r'id="one-time-password">([^<]+)<', html).group(1)


@pytest.mark.parametrize("role", [Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR, Role.AUDITOR])
def test_only_administrators_reach_any_staff_page_or_action(app, make_staff, browser, role):
    """Every route of the staff area, found in the URL map, so a new one cannot be left open."""
    user, password = make_staff(role)
    signed_in, _answer = browser(user.username, password)
    token = csrf_from(signed_in.get("/account/password").get_data(as_text=True))
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("auth_admin.")]
    answers = {}
    for rule in rules:
        path = rule.rule.replace("<int:staff_id>", str(user.id))
        for method in sorted(rule.methods & {"GET", "POST"}):
            answers[(method, path)] = signed_in.open(path, method=method, data={"csrf_token": token}).status_code
    assert len(rules) >= 6 and set(answers.values()) == {403}, answers
    db.session.refresh(user)
    assert (user.role, user.active, user.must_change_password) == (role, True, False)
    assert 'href="/console/staff/"' not in signed_in.get("/console/").get_data(as_text=True)


def test_an_administrator_creates_an_account_whose_password_is_shown_once(admin, browser, audit_actions):
    signed_in, _user = admin
    answer = post_form(signed_in, "/console/staff/new", username="zhao.liu", display_name="赵六",
                       role="review_executor", staff_code="E042")
    password = one_time_password(answer.get_data(as_text=True))
    created = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == "zhao.liu")).one()
    assert (created.role, created.staff_code, created.must_change_password) == (Role.REVIEW_EXECUTOR, "E042", True)
    assert audit_actions()[-1] == "staff.create"
    _new_browser, first = browser("zhao.liu", password)
    assert first.headers["Location"].startswith("/account/password")
    assert password not in signed_in.get(f"/console/staff/{created.id}").get_data(as_text=True)


@pytest.mark.parametrize(("fields", "message"), [
    ({"username": "wang wu"}, "give 1 to 64 letters"),
    ({"username": "taken"}, "'taken' is taken"),
    ({"staff_code": "E 1"}, "give 1 to 32 letters"),
    ({"display_name": ""}, "Enter the name."),
])
def test_a_refused_new_account_names_the_field_and_writes_nothing(admin, make_staff, fields, message):
    make_staff(Role.AUDITOR, username="taken")
    signed_in, _user = admin
    before = db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser))
    answer = post_form(signed_in, "/console/staff/new", **{"username": "zhao.liu", "display_name": "赵六",
                                                           "role": "auditor", **fields})
    assert answer.status_code == 422 and message in html.unescape(answer.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == before


def test_a_refusal_reads_in_chinese_on_a_chinese_page(admin, make_staff):
    """The service's reason comes from the zh-CN catalog, with the value it names."""
    make_staff(Role.AUDITOR, username="taken")
    signed_in, _user = admin
    signed_in.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    answer = post_form(signed_in, "/console/staff/new", username="taken", display_name="赵六", role="auditor")
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422 and "“taken”已被使用" in page and "is taken" not in page


def test_a_new_role_takes_effect_at_the_accounts_next_request(admin, make_staff, browser):
    """Rotation of posts (standard 7.4): an executor becomes a manager without signing in again."""
    signed_in, _user = admin
    member, password = make_staff(Role.REVIEW_EXECUTOR)
    theirs, _answer = browser(member.username, password)
    assert theirs.get("/console/questionnaires").status_code == 403
    answer = post_form(signed_in, f"/console/staff/{member.id}", display_name=member.display_name,
                       role="review_manager", staff_code="")
    assert answer.status_code == 303
    assert theirs.get("/console/questionnaires").status_code == 200


def test_a_role_change_is_audited_with_both_roles(admin, make_staff):
    from app.audit.models import AuditEntry

    signed_in, _user = admin
    member, _password = make_staff(Role.REVIEW_EXECUTOR)
    post_form(signed_in, f"/console/staff/{member.id}", display_name=member.display_name, role="auditor", staff_code="")
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert entry.action == "staff.update"
    assert entry.details["role"] == {"from": "review_executor", "to": "auditor"}


def test_deactivating_signs_the_account_out_at_once_and_keeps_it_out(admin, make_staff, browser):
    signed_in, _user = admin
    member, password = make_staff(Role.REVIEW_MANAGER)
    theirs, _answer = browser(member.username, password)
    assert post_form(signed_in, f"/console/staff/{member.id}/deactivate", f"/console/staff/{member.id}").status_code == 303
    assert theirs.get("/console/").status_code == 302
    assert browser(member.username, password)[1].status_code == 401
    assert post_form(signed_in, f"/console/staff/{member.id}/reactivate", f"/console/staff/{member.id}").status_code == 303
    assert browser(member.username, password)[1].status_code == 302


@pytest.mark.parametrize(("action", "fields"), [
    ("deactivate", {}),
    ("reset-password", {}),
    ("reset-two-factor", {}),
    ("", {"display_name": "Admin", "role": "auditor", "staff_code": ""}),
])
def test_an_administrator_cannot_demote_deactivate_or_reset_himself(admin, action, fields):
    """Another administrator must, so the firm never loses its last one by a slip; a reset would sign
    him out with a password only he has just seen."""
    signed_in, user = admin
    token = user.session_token
    path = f"/console/staff/{user.id}" + (f"/{action}" if action else "")
    answer = post_form(signed_in, path, f"/console/staff/{user.id}", **fields)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422 and ("another administrator must" in text or "change your own password" in text)
    db.session.refresh(user)
    assert (user.role, user.active, user.session_token) == (Role.ADMIN, True, token)
    assert signed_in.get("/console/staff/").status_code == 200


def test_a_reset_password_ends_the_sessions_and_the_lock(admin, make_staff, browser, audit_actions):
    signed_in, _user = admin
    member, password = make_staff(Role.REVIEW_MANAGER)
    theirs, _answer = browser(member.username, password)
    for _ in range(5):
        browser(member.username, WRONG)
    page = signed_in.get(f"/console/staff/{member.id}").get_data(as_text=True)
    assert "Locked until" in page
    answer = post_form(signed_in, f"/console/staff/{member.id}/reset-password", f"/console/staff/{member.id}")
    new_password = one_time_password(answer.get_data(as_text=True))
    assert audit_actions()[-1] == "staff.password_reset"
    assert theirs.get("/console/").status_code == 302
    assert browser(member.username, password)[1].status_code == 401
    assert browser(member.username, new_password)[1].headers["Location"].startswith("/account/password")


def test_unlock_lets_the_right_password_in_again(admin, make_staff, browser):
    signed_in, _user = admin
    member, password = make_staff(Role.AUDITOR)
    for _ in range(5):
        browser(member.username, WRONG)
    assert post_form(signed_in, f"/console/staff/{member.id}/unlock", f"/console/staff/{member.id}").status_code == 303
    db.session.refresh(member)
    assert not member.is_locked(utcnow())
    assert browser(member.username, password)[1].status_code == 302


def test_the_cli_gives_a_locked_out_administrator_a_one_time_password(app, make_staff, browser):
    member, password = make_staff(Role.ADMIN)
    for _ in range(5):
        browser(member.username, WRONG)
    result = app.test_cli_runner().invoke(args=["users", "reset-password", member.username])
    assert result.exit_code == 0, result.output
    new_password = result.output.split("one-time password: ")[1].split()[0]
    assert browser(member.username, new_password)[1].status_code == 302


def test_the_cli_reactivates_an_account(app, make_staff, browser):
    member, password = make_staff(Role.ADMIN)
    member.active = False
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["users", "activate", member.username])
    assert result.exit_code == 0 and browser(member.username, password)[1].status_code == 302


def test_the_cli_names_an_unknown_account(app):
    result = app.test_cli_runner().invoke(args=["users", "reset-password", "nobody"])
    assert result.exit_code == 1 and "no staff account is named 'nobody'" in result.output


@pytest.mark.parametrize("action", ["demote", "deactivate"])
def test_two_administrators_acting_on_each_other_at_once_leave_one(app, make_staff, action):
    """Neither may do it to himself, but each may to the other: done at the same moment, one change
    must be refused or the firm has no administrator left."""
    import threading

    from app.auth.service import set_active, update_staff
    from app.reviews.service import InvalidRequest

    first, _ = make_staff(Role.ADMIN, username="admin.a")
    second, _ = make_staff(Role.ADMIN, username="admin.b")
    pairs = [(first.username, second.id), (second.username, first.id)]
    barrier = threading.Barrier(2)
    outcomes = []

    def act(actor: str, target_id: int) -> None:
        with app.app_context():
            target = db.session.get(StaffUser, target_id)
            barrier.wait()
            try:
                if action == "demote":
                    update_staff(target, f"staff:{actor}", display_name=target.display_name,
                                 role=Role.AUDITOR, staff_code=None)
                else:
                    set_active(target, False, f"staff:{actor}")
                db.session.commit()
                outcomes.append("done")
            except InvalidRequest as exc:
                db.session.rollback()
                outcomes.append(exc.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=act, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["done", "the firm must keep an active administrator: make another account one first"]
    db.session.expire_all()
    admins = db.session.scalars(sa.select(StaffUser).where(StaffUser.role == Role.ADMIN, StaffUser.active)).all()
    assert len(admins) == 1
