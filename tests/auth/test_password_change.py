"""A staff member's own password: required first when someone else has seen it, checked against the rules."""
from __future__ import annotations

import pytest

from app.auth.models import Role
from app.extensions import db
from tests.auth.conftest import post_form
from tests.conftest import enrol_authenticator

NEW = "a much longer passphrase"


@pytest.fixture
def generated(runner):
    """An account made by `flask users create`, with the one-time password the command printed."""
    from app.auth.models import StaffUser
    import sqlalchemy as sa

    result = runner.invoke(args=["users", "create", "li.si", "--name", "李四", "--role", "review_manager"])
    assert result.exit_code == 0, result.output
    password = result.output.split("one-time password: ")[1].split()[0]
    user = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == "li.si")).one()
    enrol_authenticator(user)  # the authenticator's own first day is in test_two_factor.py
    db.session.commit()
    return user, password


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_a_generated_password_must_be_changed_before_anything_else(generated, browser):
    user, password = generated
    signed_in, answer = browser(user.username, password, next_path="/console/clients")
    assert answer.headers["Location"] == "/account/password?next=/console/clients"
    blocked = signed_in.get("/console/invitations")
    assert blocked.status_code == 302 and blocked.headers["Location"].startswith("/account/password")
    page = signed_in.get("/account/password").get_data(as_text=True)
    assert "given to you by someone else" in page


def test_changing_the_password_lets_the_member_in_with_the_new_one_only(generated, browser, audit_actions):
    user, password = generated
    signed_in, _answer = browser(user.username, password)
    changed = post_form(signed_in, "/account/password?next=/console/clients", "/account/password",
                        current_password=password, new_password=NEW, confirm=NEW)
    assert (changed.status_code, changed.headers["Location"]) == (303, "/console/clients")
    assert signed_in.get("/console/invitations").status_code == 200
    db.session.refresh(user)
    assert not user.must_change_password and user.password_changed_at is not None
    assert audit_actions()[-1] == "staff.password_change"
    assert browser(user.username, password)[1].status_code == 401
    assert browser(user.username, NEW)[1].status_code == 302


@pytest.mark.parametrize(("fields", "message"), [
    ({"current_password": "wrong", "new_password": NEW, "confirm": NEW}, "This is not your current password."),
    ({"new_password": "short one", "confirm": "short one"}, "Use at least 12 characters."),
    ({"new_password": "my name is staff1 ok", "confirm": "my name is staff1 ok"}, "Do not put your username"),
    ({"new_password": "abababababababab", "confirm": "abababababababab"}, "Use more different characters."),
    ({"new_password": "correct horse battery", "confirm": "correct horse battery"}, "other than the current one"),
    ({"new_password": NEW, "confirm": NEW + "!"}, "The two new passwords differ."),
    ({"new_password": "", "confirm": ""}, "Enter a new password."),
])
def test_a_new_password_against_the_rules_is_refused_and_changes_nothing(make_staff, browser, fields, message):
    user, password = make_staff(Role.AUDITOR, username="staff1")
    before = user.password_hash
    signed_in, _answer = browser(user.username, password)
    answer = post_form(signed_in, "/account/password", **{"current_password": password, **fields})
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    db.session.refresh(user)
    assert user.password_hash == before


def test_the_password_page_needs_a_signed_in_member(client):
    answer = client.get("/account/password")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def _age_password(user, days: int) -> None:
    from datetime import timedelta

    from app.db_types import utcnow

    user.password_changed_at = utcnow() - timedelta(days=days)
    db.session.commit()


def test_a_password_older_than_ninety_days_must_be_changed_at_sign_in(make_staff, browser):
    user, password = make_staff(Role.REVIEW_MANAGER)
    _age_password(user, 91)
    signed_in, answer = browser(user.username, password)
    assert answer.headers["Location"].startswith("/account/password")
    assert signed_in.get("/console/clients").headers["Location"].startswith("/account/password")
    assert "more than 90 days" in signed_in.get("/account/password").get_data(as_text=True)
    post_form(signed_in, "/account/password", current_password=password, new_password=NEW, confirm=NEW)
    assert signed_in.get("/console/clients").status_code == 200


@pytest.mark.parametrize(("days", "max_age", "forced"), [(89, 90, False), (91, 0, False)])
def test_a_younger_password_or_no_age_limit_lets_the_member_in(app, make_staff, browser, days, max_age, forced):
    app.config["STAFF_PASSWORD_MAX_AGE_DAYS"] = max_age
    user, password = make_staff(Role.REVIEW_MANAGER)
    _age_password(user, days)
    _signed_in, answer = browser(user.username, password)
    assert answer.headers["Location"].startswith("/account/password") is forced


def test_signing_out_is_audited_and_ends_the_session(make_staff, browser, audit_actions):
    user, password = make_staff(Role.AUDITOR)
    signed_in, _answer = browser(user.username, password)
    assert post_form(signed_in, "/logout", "/console/").status_code == 302
    assert audit_actions()[-1] == "staff.logout"
    assert signed_in.get("/console/").status_code == 302
