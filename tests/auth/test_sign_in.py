"""Staff sign-in: the lock after wrong passwords, one answer for every refusal, safe redirects,
sessions that end on their own or when the account's password changes."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.auth.routes import LAST_SEEN, SIGNED_IN_AT
from app.console.forms import FIRM_TZ
from app.db_types import utcnow
from app.extensions import db

WRONG = "not the password at all"


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(make_staff, browser, audit_actions):
    user, password = make_staff()
    statuses = [browser(user.username, WRONG)[1].status_code for _ in range(5)]
    _page, answer = browser(user.username, password)
    assert statuses == [401] * 5 and answer.status_code == 401
    db.session.refresh(user)
    assert user.is_locked(utcnow()) and audit_actions().count("staff.locked") == 1


def test_a_lock_holds_one_account_only(make_staff, browser):
    locked, _password = make_staff()
    other, other_password = make_staff()
    for _ in range(5):
        browser(locked.username, WRONG)
    assert browser(other.username, other_password)[1].status_code == 302


def test_the_lock_ends_after_its_minutes(make_staff, browser):
    user, password = make_staff()
    for _ in range(5):
        browser(user.username, WRONG)
    db.session.refresh(user)
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert browser(user.username, password)[1].status_code == 302


def test_a_right_password_starts_the_count_of_wrong_ones_afresh(make_staff, browser):
    user, password = make_staff()
    for _ in range(4):
        browser(user.username, WRONG)
    browser(user.username, password)
    for _ in range(4):
        browser(user.username, WRONG)
    assert browser(user.username, password)[1].status_code == 302


def _refusal_text(html: str) -> str:
    start = html.index("<main")
    return html[start:html.index("</main>")].split('name="csrf_token"')[0]


def test_every_refusal_reads_the_same(make_staff, browser):
    """Unknown name, wrong password, locked or deactivated account: one page, so none tells which names exist."""
    user, password = make_staff()
    gone, gone_password = make_staff()
    gone.active = False
    db.session.commit()
    pages = {"unknown": browser("nobody", WRONG)[1], "wrong": browser(user.username, WRONG)[1],
             "inactive": browser(gone.username, gone_password)[1]}
    for _ in range(4):
        browser(user.username, WRONG)
    pages["locked"] = browser(user.username, password)[1]
    texts = {name: _refusal_text(page.get_data(as_text=True)) for name, page in pages.items()}
    assert {page.status_code for page in pages.values()} == {401}
    assert len(set(texts.values())) == 1
    assert "Wrong username or password." in texts["locked"] and "locked for 15 minutes" in texts["locked"]


def test_a_refused_sign_in_is_audited_with_its_reason(make_staff, browser):
    import sqlalchemy as sa

    from app.audit.models import AuditEntry

    user, _password = make_staff()
    browser(user.username, WRONG)
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (entry.action, entry.details) == ("staff.login_failed", {"username": user.username, "reason": "wrong_password"})


@pytest.mark.parametrize("target", [
    "https://evil.example.com/", "//evil.example.com/", "/\\evil.example.com/", "/%5Cevil.example.com/",
    "/\t/evil.example.com/", "/%09/evil.example.com/", "/ /evil.example.com", "\\\\evil.example.com",
])
def test_sign_in_never_sends_staff_to_another_site(make_staff, browser, target):
    from urllib.parse import quote

    user, password = make_staff()
    _browser, answer = browser(user.username, password, next_path=quote(target, safe="%/:"))
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"


def test_sign_in_returns_to_the_page_asked_for(make_staff, browser):
    user, password = make_staff()
    _browser, answer = browser(user.username, password, next_path="/console/clients%3Fpage%3D2")
    assert answer.headers["Location"] == "/console/clients?page=2"


def _age_session(signed_in, *, seen_ago: int = 0, since_ago: int = 0) -> None:
    now = int(time.time())
    with signed_in.session_transaction() as session:
        session[LAST_SEEN] = now - seen_ago
        session[SIGNED_IN_AT] = now - since_ago


def test_a_session_ends_after_thirty_idle_minutes(make_staff, browser):
    user, password = make_staff()
    signed_in, _answer = browser(user.username, password)
    _age_session(signed_in, seen_ago=31 * 60, since_ago=31 * 60)
    page = signed_in.get("/console/", follow_redirects=True)
    assert page.request.path == "/login"
    assert "signed out after 30 minutes without activity" in page.get_data(as_text=True)
    assert signed_in.get("/console/").status_code == 302  # still signed out: the session was cleared


@pytest.mark.parametrize("reason, seen_ago, since_ago, ended_ago", [
    ("idle", 31 * 60, 31 * 60, 60),
    ("absolute", 10, 12 * 3600 + 5, 5),
])
def test_a_timed_out_session_is_audited_when_its_browser_comes_back(make_staff, browser, reason, seen_ago,
                                                                    since_ago, ended_ago):
    user, password = make_staff()
    signed_in, _answer = browser(user.username, password)
    _age_session(signed_in, seen_ago=seen_ago, since_ago=since_ago)
    signed_in.get("/console/")
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (entry.action, entry.actor, entry.object_id, entry.details["reason"]) == (
        "staff.session_expired", f"staff:{user.username}", str(user.id), reason)
    ended = datetime.fromisoformat(entry.details["ended_at"])
    assert abs((utcnow() - ended).total_seconds() - ended_ago) < 5


def test_a_live_session_writes_no_audit_entry(make_staff, browser):
    user, password = make_staff()
    signed_in, _answer = browser(user.username, password)
    _age_session(signed_in, seen_ago=29 * 60, since_ago=29 * 60)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    assert signed_in.get("/console/").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before


def test_a_request_keeps_a_session_alive(make_staff, browser):
    user, password = make_staff()
    signed_in, _answer = browser(user.username, password)
    _age_session(signed_in, seen_ago=29 * 60, since_ago=29 * 60)
    assert signed_in.get("/console/").status_code == 200
    with signed_in.session_transaction() as session:
        assert int(time.time()) - session[LAST_SEEN] < 5


def test_a_busy_session_ends_twelve_hours_after_sign_in(make_staff, browser):
    user, password = make_staff()
    signed_in, _answer = browser(user.username, password)
    _age_session(signed_in, seen_ago=10, since_ago=12 * 3600 + 1)
    page = signed_in.get("/console/", follow_redirects=True)
    assert page.request.path == "/login" and "12 hours after signing in" in page.get_data(as_text=True)


def test_a_session_cookie_from_before_the_sign_out_keeps_nothing_after_a_password_change(make_staff, browser):
    """A copied cookie: Flask's session lives in the cookie, so only the account's new token ends it."""
    from tests.auth.conftest import post_form

    user, password = make_staff(Role.REVIEW_MANAGER)
    copied, _answer = browser(user.username, password)
    mine, _answer = browser(user.username, password)
    changed = post_form(mine, "/account/password", current_password=password,
                        new_password="a much longer passphrase", confirm="a much longer passphrase")
    assert changed.status_code == 303
    assert mine.get("/console/").status_code == 200
    refused = copied.get("/console/", follow_redirects=True)
    assert refused.request.path == "/login" and "please sign in again" in refused.get_data(as_text=True)


def _flashes(page) -> str:
    html = page.get("/console/").get_data(as_text=True)
    return " ".join(re.findall(r'<div class="flash [^"]+" role="status">([^<]*)</div>', html))


def test_the_first_sign_in_names_no_earlier_one(make_staff, browser):
    user, password = make_staff()
    page, _answer = browser(user.username, password)
    assert "last sign-in" not in _flashes(page)


def test_a_sign_in_tells_when_the_last_was_and_the_wrong_tries_since(make_staff, browser):
    """Someone else's tries show to the one person who can tell they were not his own."""
    user, password = make_staff()
    browser(user.username, password)
    db.session.refresh(user)
    last = user.last_login_at.astimezone(FIRM_TZ).strftime("%Y-%m-%d %H:%M")
    for _ in range(2):
        browser(user.username, WRONG)
    page, _answer = browser(user.username, password)
    told = _flashes(page)
    assert f"Your last sign-in was at {last} (UTC+8)." in told
    assert "2 wrong passwords or codes were tried since then." in told and "tell an administrator" in told


def test_a_lock_since_the_last_sign_in_is_told(make_staff, browser):
    user, password = make_staff()
    browser(user.username, password)
    for _ in range(5):
        browser(user.username, WRONG)
    db.session.refresh(user)
    user.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    db.session.commit()
    page, _answer = browser(user.username, password)
    assert "the account was locked after wrong passwords or codes" in _flashes(page)


def test_no_wrong_tries_no_warning(make_staff, browser):
    user, password = make_staff()
    browser(user.username, password)
    page, _answer = browser(user.username, password)
    told = _flashes(page)
    assert "Your last sign-in was at" in told and "tell an administrator" not in told


def test_the_warning_reads_as_chinese_sentences_do(app, make_staff, browser):
    from tests.auth.conftest import Browser, post_form
    from tests.conftest import current_code

    user, password = make_staff()
    browser(user.username, password)
    browser(user.username, WRONG)
    chinese = Browser(app, app.response_class, use_cookies=True)
    chinese.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    post_form(chinese, "/login", username=user.username, password=password)
    post_form(chinese, "/login/code", code=current_code(user))
    html = chinese.get("/console/").get_data(as_text=True)
    assert "此后有 1 次密码或验证码输入错误。如果不是您本人操作，请告知管理员。" in html
