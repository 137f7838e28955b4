"""Two-step sign-in: the authenticator's code after the password, its set-up, and its reset."""
from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from sqlalchemy.orm.attributes import set_committed_value

from app.auth import two_factor
from app.auth.models import Role
from app.auth.routes import PENDING
from app.db_types import utcnow
from app.extensions import db
from tests.auth.conftest import post_form, setup_secret
from tests.conftest import csrf_from, current_code, wrong_code

WRONG = "not the password at all"


@pytest.fixture
def fresh(make_staff):
    """An account without an authenticator yet, as `flask users create` leaves one; (user, password)."""
    return make_staff(Role.REVIEW_MANAGER, two_factor=False)


def test_the_password_alone_does_not_sign_in_an_account_with_an_authenticator(make_staff, browser):
    user, password = make_staff()
    page, answer = browser(user.username, password, code=None)
    assert answer.status_code == 302 and answer.headers["Location"] == "/login/code"
    assert page.get("/console/").headers["Location"].startswith("/login")


def test_the_right_code_signs_in_and_is_audited(make_staff, browser, audit_actions):
    user, password = make_staff()
    page, answer = browser(user.username, password, next_path="/console/clients", code=current_code(user))
    assert (answer.status_code, answer.headers["Location"]) == (302, "/console/clients")
    assert page.get("/console/clients").status_code == 200
    db.session.refresh(user)
    assert user.last_login_at is not None and audit_actions()[-1] == "staff.login"


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("typed", ["{code}", "{head} {tail}", "{head}-{tail}", " {code} ", "{full_width}"])
def test_a_code_may_carry_the_spaces_and_dash_apps_show(make_staff, browser, typed):
    user, password = make_staff()
    code = current_code(user)
    _page, answer = browser(user.username, password, code=typed.format(code=code, head=code[:3], tail=code[3:],
                                                                  full_width=code.translate(FULL_WIDTH)))
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"


def test_a_code_is_good_once(make_staff, browser, audit_actions):
    """RFC 6238, 5.2: a code seen over a shoulder or in a proxy's log must not open a second session."""
    user, password = make_staff()
    code = current_code(user)
    browser(user.username, password, code=code)
    _page, again = browser(user.username, password, code=code)
    text = again.get_data(as_text=True)
    assert again.status_code == 401 and "used already" in text and "wrong passwords or codes in a row" in text
    assert audit_actions()[-1] == "staff.login_failed"


def test_two_requests_with_one_code_sign_in_once_even_when_the_first_is_not_yet_seen(make_staff, app):
    """The last step is spent by a conditional UPDATE: a request that loaded the account before the
    other spent the code still finds it spent."""
    user, _password = make_staff()
    code, secret = current_code(user), user.totp_secret
    assert two_factor.use_code(user, secret, code) is True
    set_committed_value(user, "totp_last_step", None)  # what a request that loaded the row earlier holds
    assert two_factor.use_code(user, secret, code) is False


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5", "١٢٣٤٥٦"])
def test_a_code_that_is_not_six_digits_names_the_field_and_counts_nothing(make_staff, browser, code):
    user, password = make_staff()
    _page, answer = browser(user.username, password, code=code)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422 and ('id="code-error"' in text)
    db.session.refresh(user)
    assert user.failed_sign_ins == 0


def test_wrong_codes_lock_the_account_though_the_password_was_right_each_time(make_staff, browser, audit_actions):
    """A right password does not start the count afresh while the code is wrong: whoever has the
    password gets five guesses at the code per lock, not five per sign-in."""
    user, password = make_staff()
    statuses = [browser(user.username, password, code=wrong_code(user.totp_secret))[1].status_code for _ in range(5)]
    assert statuses == [401] * 5
    db.session.refresh(user)
    assert user.is_locked(utcnow()) and "staff.locked" in audit_actions()
    assert browser(user.username, password)[1].status_code == 401


def test_a_lock_that_falls_between_the_two_steps_ends_the_sign_in(make_staff, browser):
    user, password = make_staff()
    waiting, _answer = browser(user.username, password, code=None)
    for _ in range(5):
        browser(user.username, password, code=wrong_code(user.totp_secret))
    answer = post_form(waiting, "/login/code", code=current_code(user))
    assert (answer.status_code, answer.headers["Location"]) == (303, "/login")
    assert "locked for 15 minutes" in waiting.get("/login").get_data(as_text=True)
    assert waiting.get("/console/").headers["Location"].startswith("/login")


def test_the_code_must_follow_the_password_within_five_minutes(make_staff, browser):
    user, password = make_staff()
    page, _answer = browser(user.username, password, code=None)
    with page.session_transaction() as session:
        session[PENDING] = {**session[PENDING], "at": int(time.time()) - 5 * 60 - 1}
    answer = page.get("/login/code")
    assert answer.headers["Location"] == "/login"
    assert "within 5 minutes" in page.get("/login").get_data(as_text=True)


def test_a_password_reset_between_the_two_steps_voids_the_first(make_staff, browser):
    user, password = make_staff()
    page, _answer = browser(user.username, password, code=None)
    user.end_sessions()
    db.session.commit()
    answer = post_form(page, "/login/code", code=current_code(user))
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert page.get("/console/").headers["Location"].startswith("/login")


def test_the_code_page_without_a_password_sends_to_the_sign_in(client):
    assert client.get("/login/code").headers["Location"] == "/login"


def test_an_account_without_an_authenticator_sets_one_up_before_the_console(fresh, browser):
    user, password = fresh
    page, answer = browser(user.username, password, next_path="/console/clients")
    assert answer.headers["Location"] == "/account/two-factor?next=/console/clients"
    blocked = page.get("/console/invitations")
    assert blocked.headers["Location"].startswith("/account/two-factor")
    html = page.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in html and 'class="console-nav"' in html and "/console/invitations" not in html


def test_setting_up_takes_the_apps_first_code_and_signs_out_other_browsers(fresh, browser, audit_actions):
    user, password = fresh
    page, _answer = browser(user.username, password)
    other, _ = browser(user.username, password)
    secret = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    answer = post_form(page, "/account/two-factor?next=/console/clients", "/account/two-factor",
                       code=pyotp.TOTP(secret).now())
    assert (answer.status_code, answer.headers["Location"]) == (303, "/console/clients")
    db.session.refresh(user)
    assert user.has_two_factor and user.totp_secret == secret
    assert audit_actions()[-1] == "staff.two_factor_enabled"
    assert page.get("/console/clients").status_code == 200
    assert other.get("/console/clients").headers["Location"].startswith("/login")


def test_setting_up_with_a_wrong_code_writes_nothing(fresh, browser, audit_actions):
    user, password = fresh
    page, _answer = browser(user.username, password)
    secret = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    before = audit_actions()
    answer = post_form(page, "/account/two-factor", code=wrong_code(secret))
    assert answer.status_code == 422 and "clock is right" in answer.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.has_two_factor and user.totp_secret_sealed is None and audit_actions() == before


def test_the_set_up_key_stays_the_same_until_it_is_confirmed(fresh, browser):
    """A reload must not change the key the member may already have scanned."""
    user, password = fresh
    page, _answer = browser(user.username, password)
    first = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    assert setup_secret(page.get("/account/two-factor").get_data(as_text=True)) == first


def test_the_qr_code_carries_the_key_and_the_firms_name_only(fresh, browser, app):
    user, password = fresh
    page, _answer = browser(user.username, password)
    uri = urlparse(two_factor.provisioning_uri(user, setup_secret(page.get("/account/two-factor").get_data(as_text=True))))
    assert unquote(uri.path) == f"/{app.config['STAFF_TOTP_ISSUER']}:{user.username}"
    assert set(parse_qs(uri.query)) == {"secret", "issuer"}


def test_a_password_to_change_comes_before_the_authenticator(make_staff, browser):
    user, password = make_staff(two_factor=False)
    user.must_change_password = True
    db.session.commit()
    page, answer = browser(user.username, password)
    assert answer.headers["Location"].startswith("/account/password")
    assert page.get("/account/two-factor").headers["Location"].startswith("/account/password")


def test_with_the_policy_off_an_account_without_an_authenticator_goes_in(app, fresh, browser):
    app.config["STAFF_TWO_FACTOR_REQUIRED"] = False
    user, password = fresh
    page, answer = browser(user.username, password)
    assert answer.headers["Location"] == "/console/"
    assert page.get("/console/").status_code == 200


def test_the_firm_requires_two_step_sign_in_unless_told_otherwise():
    from app.config import Config

    assert Config.STAFF_TWO_FACTOR_REQUIRED is True


def test_an_administrator_resets_a_lost_phone(make_staff, browser, audit_actions):
    admin, admin_password = make_staff(Role.ADMIN)
    console, _ = browser(admin.username, admin_password)
    member, password = make_staff(Role.AUDITOR)
    theirs, _ = browser(member.username, password)
    answer = post_form(console, f"/console/staff/{member.id}/reset-two-factor", f"/console/staff/{member.id}")
    assert answer.status_code == 303
    db.session.refresh(member)
    assert not member.has_two_factor and member.totp_secret_sealed is None
    assert audit_actions()[-1] == "staff.two_factor_reset"
    assert theirs.get("/console/").headers["Location"].startswith("/login")
    _page, again = browser(member.username, password)
    assert again.headers["Location"].startswith("/account/two-factor")


def test_resetting_an_account_without_an_authenticator_is_refused(make_staff, browser, fresh, audit_actions):
    admin, admin_password = make_staff(Role.ADMIN)
    console, _ = browser(admin.username, admin_password)
    member, _password = fresh
    before = audit_actions()
    answer = post_form(console, f"/console/staff/{member.id}/reset-two-factor", f"/console/staff/{member.id}")
    assert answer.status_code == 422 and "has not set up two-step sign-in" in answer.get_data(as_text=True)
    assert audit_actions() == before


def test_the_staff_list_shows_who_has_set_up_two_step_sign_in(make_staff, browser, fresh):
    admin, admin_password = make_staff(Role.ADMIN)
    console, _ = browser(admin.username, admin_password)
    member, _password = fresh
    html = console.get("/console/staff/").get_data(as_text=True)
    rows = {name: row for name, row in re.findall(r'<a class="mono" href="[^"]+">([^<]+)</a>(.*?)</tr>', html, re.S)}
    assert "Not set up" in rows[member.username] and ">On<" in rows[admin.username]


def test_the_cli_resets_an_administrators_lost_phone(app, make_staff, browser):
    admin, password = make_staff(Role.ADMIN)
    result = app.test_cli_runner().invoke(args=["users", "reset-two-factor", admin.username])
    assert result.exit_code == 0, result.output
    _page, answer = browser(admin.username, password)
    assert answer.headers["Location"].startswith("/account/two-factor")


def test_the_cli_refuses_an_account_without_an_authenticator(app, fresh):
    user, _password = fresh
    result = app.test_cli_runner().invoke(args=["users", "reset-two-factor", user.username])
    assert result.exit_code == 1 and "has not set up two-step sign-in" in result.output


def test_a_session_from_before_the_code_step_cannot_skip_it(make_staff, browser):
    """The pending sign-in is not a session: copying its cookie to /console gets the sign-in page."""
    user, password = make_staff()
    page, _answer = browser(user.username, password, code=None)
    with page.session_transaction() as session:
        assert "_user_id" not in session
    assert page.get("/account/two-factor").headers["Location"].startswith("/login")


def test_an_expired_lock_lets_the_right_code_in(make_staff, browser):
    user, password = make_staff()
    for _ in range(5):
        browser(user.username, password, code=wrong_code(user.totp_secret))
    db.session.refresh(user)
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert browser(user.username, password)[1].headers["Location"] == "/console/"


def test_a_key_being_set_up_is_never_offered_to_another_account(make_staff, browser, app):
    """A shared branch PC: one member's unconfirmed key stays in the cookie when the session times
    out; the next member to sign in in that browser gets a key of his own."""
    first, first_password = make_staff(two_factor=False)
    second, second_password = make_staff(two_factor=False)
    page, _answer = browser(first.username, first_password)
    first_key = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    with page.session_transaction() as session:  # the idle timeout ends the sign-in, not the cookie
        for key in ("_user_id", "_fresh", "_id"):
            session.pop(key, None)
    token = csrf_from(page.get("/login").get_data(as_text=True))
    page.post("/login", data={"username": second.username, "password": second_password, "csrf_token": token})
    second_key = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    assert second_key != first_key


def test_a_member_with_an_authenticator_sees_since_when_and_no_new_key(make_staff, browser):
    user, password = make_staff(Role.AUDITOR)
    page, _answer = browser(user.username, password)
    assert 'href="/account/two-factor"' in page.get("/console/").get_data(as_text=True)
    html = page.get("/account/two-factor").get_data(as_text=True)
    assert "Two-step sign-in is on since" in html and "<svg" not in html and "totp-secret" not in html


def test_with_the_policy_off_a_member_may_still_set_up_an_app(app, fresh, browser):
    app.config["STAFF_TWO_FACTOR_REQUIRED"] = False
    user, password = fresh
    page, _answer = browser(user.username, password)
    html = page.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in html and "The firm asks for two steps" not in html
    post_form(page, "/account/two-factor", code=pyotp.TOTP(setup_secret(html)).now())
    db.session.refresh(user)
    assert user.has_two_factor
