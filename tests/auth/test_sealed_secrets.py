"""Authenticator secrets kept sealed: not in the database or the session cookie as they are, and
the keys that seal them rotated with SECRET_KEYS."""
from __future__ import annotations

import json
import logging

import pyotp
import pytest
import sqlalchemy as sa

from app.auth import two_factor
from app.auth.models import StaffUser
from app.auth.routes import SETUP_SECRET
from app.extensions import db
from tests.auth.conftest import post_form, setup_secret
from tests.conftest import current_code


@pytest.fixture
def enrolled(make_staff, browser):
    """An account that set up its app through the set-up page; (user, password, the app's secret)."""
    user, password = make_staff(two_factor=False)
    page, _answer = browser(user.username, password)
    secret = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    answer = post_form(page, "/account/two-factor", code=pyotp.TOTP(secret).now())
    assert answer.status_code == 303
    db.session.refresh(user)
    return user, password, secret


def session_cookie_data(app, page) -> dict:
    """What anyone holding the browser's session cookie can read: Flask signs it, it does not encrypt it."""
    cookie = page.get_cookie(app.config["SESSION_COOKIE_NAME"], domain="localhost")
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_the_database_holds_the_app_secret_only_sealed(enrolled):
    user, _password, secret = enrolled
    row = db.session.execute(sa.select(StaffUser.__table__).where(StaffUser.id == user.id)).one()
    assert secret not in json.dumps([str(value) for value in row])
    assert two_factor.unseal(user.totp_secret_sealed) == secret


def test_sealing_the_same_secret_twice_gives_two_values(app):
    """Fernet seals with a random IV: equal secrets do not show as equal values in the table."""
    secret = two_factor.new_secret()
    first, second = two_factor.seal(secret), two_factor.seal(secret)
    assert first != second and two_factor.unseal(first) == two_factor.unseal(second) == secret


def test_the_set_up_key_is_sealed_in_the_session_cookie(app, make_staff, browser):
    user, password = make_staff(two_factor=False)
    page, _answer = browser(user.username, password)
    shown = setup_secret(page.get("/account/two-factor").get_data(as_text=True))
    data = session_cookie_data(app, page)
    assert shown not in json.dumps(data) and two_factor.unseal(data[SETUP_SECRET]["sealed"]) == shown


def test_a_set_up_begun_before_the_keys_were_sealed_starts_again_with_a_new_key(app, make_staff, browser):
    """A session from before this version holds the key as it is; the page gives a new, sealed one."""
    user, password = make_staff(two_factor=False)
    page, _answer = browser(user.username, password)
    with page.session_transaction() as session:
        session[SETUP_SECRET] = {"id": user.id, "secret": "JBSWY3DPEHPK3PXP"}
    answer = page.get("/account/two-factor?next=/console/clients")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/account/two-factor?next=/console/clients")
    assert setup_secret(page.get("/account/two-factor").get_data(as_text=True)) != "JBSWY3DPEHPK3PXP"


def test_a_new_key_in_secret_keys_still_opens_secrets_sealed_under_the_old_one(app, enrolled, browser):
    user, password, _secret = enrolled
    app.config["SECRET_KEYS"] = [*app.config["SECRET_KEYS"], "a-newer-key"]
    _page, answer = browser(user.username, password)
    assert answer.headers["Location"] == "/console/"


def test_resealing_lets_the_old_key_go(app, enrolled, browser, audit_actions):
    user, password, secret = enrolled
    old_keys = app.config["SECRET_KEYS"]
    app.config["SECRET_KEYS"] = [*old_keys, "a-newer-key"]
    result = app.test_cli_runner().invoke(args=["secrets", "reseal"])
    assert result.exit_code == 0 and "1 authenticator key(s)" in result.output
    assert audit_actions()[-2:] == ["staff.two_factor_resealed", "api_key.webhook_secrets_resealed"]
    app.config["SECRET_KEYS"] = ["a-newer-key"]
    db.session.refresh(user)
    assert user.totp_secret == secret
    _page, answer = browser(user.username, password)
    assert answer.headers["Location"] == "/console/"


def test_resealing_names_the_accounts_no_key_opens_and_exits_1(app, make_staff):
    readable, _ = make_staff(username="readable.one")
    lost, _ = make_staff(username="lost.one")
    app.config["SECRET_KEYS"] = ["gone-key"]
    lost.totp_secret = two_factor.new_secret()
    db.session.commit()
    app.config["SECRET_KEYS"] = ["test-signing-key", "the-next-key"]
    result = app.test_cli_runner().invoke(args=["secrets", "reseal"])
    assert result.exit_code == 1 and "lost.one" in result.output and "readable.one" not in result.output
    app.config["SECRET_KEYS"] = ["the-next-key"]
    db.session.refresh(readable)
    assert readable.totp_secret is not None


def test_a_secret_no_key_opens_asks_for_a_reset_and_counts_no_wrong_try(app, make_staff, browser, audit_actions,
                                                                        caplog):
    user, password = make_staff()
    secret = user.totp_secret
    code = current_code(user)
    app.config["SECRET_KEYS"] = ["a-key-that-never-sealed-it"]
    page, waiting = browser(user.username, password, code=None)
    with caplog.at_level(logging.ERROR, logger="app.auth.two_factor"):
        answer = post_form(page, "/login/code", code=code)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/login")
    assert "reset your two-step sign-in" in page.get("/login").get_data(as_text=True)
    db.session.refresh(user)
    assert user.failed_sign_ins == 0 and audit_actions()[-1] == "staff.login_failed"
    assert f"staff account {user.id}" in caplog.text and secret not in caplog.text


def test_the_staff_page_tells_an_administrator_which_key_no_longer_opens(app, make_staff, browser):
    admin, admin_password = make_staff()
    member, _password = make_staff(username="lost.phone")
    console, _ = browser(admin.username, admin_password)
    assert 'id="key-unreadable"' not in console.get(f"/console/staff/{member.id}").get_data(as_text=True)
    app.config["SECRET_KEYS"] = ["gone-key"]
    member.totp_secret = two_factor.new_secret()
    db.session.commit()
    app.config["SECRET_KEYS"] = ["test-signing-key"]
    html = console.get(f"/console/staff/{member.id}").get_data(as_text=True)
    assert 'id="key-unreadable"' in html and "Reset two-step sign-in" in html
