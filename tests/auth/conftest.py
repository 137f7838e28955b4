"""Fixtures for the staff account tests: browsers of their own and the audit trail's actions."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import g

from app.audit.models import AuditEntry
from app.extensions import db
from app.auth.models import StaffUser
from tests.conftest import EnglishByDefaultClient, complete_code_step, csrf_from


class Browser(EnglishByDefaultClient):
    """A test client that loads its user and CSRF token afresh on each request.

    pytest-flask keeps one app context for the whole test, so its `g` outlives requests, and
    Flask-Login, Flask-WTF and Flask-Babel cache the user, the token and the locale there: without
    this, a second browser would see the first one's.
    """

    def open(self, *args, **kwargs):
        for cached in ("_login_user", "csrf_token", "_flask_babel"):
            g.pop(cached, None)
        return super().open(*args, **kwargs)


AUTO = "auto"


@pytest.fixture
def browser(app):
    """A new browser (its own cookies) signed in with username and password; returns (test client,
    last response).

    When the sign-in asks for the authenticator's code, `code` says what to give: the app's
    current code (AUTO), a code of the test's own, or nothing (None: the answer to the password).
    """
    def sign_in(username: str, password: str, next_path: str = "", code: str | None = AUTO):
        other = Browser(app, app.response_class, use_cookies=True)
        token = csrf_from(other.get("/login").get_data(as_text=True))
        answer = other.post("/login" + (f"?next={next_path}" if next_path else ""),
                            data={"username": username, "password": password, "csrf_token": token})
        if code == AUTO:
            user = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == username)).one_or_none()
            return other, complete_code_step(other, answer, user)
        if code is not None:
            answer = post_form(other, "/login/code", code=code)
        return other, answer

    return sign_in


@pytest.fixture
def audit_actions():
    """The audit log's actions, oldest first."""
    return lambda: db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)).all()


def post_form(browser, path: str, page_path: str | None = None, **data):
    """POST a form of the page at page_path (default: path) with its CSRF token."""
    token = csrf_from(browser.get(page_path or path).get_data(as_text=True))
    return browser.post(path, data={**data, "csrf_token": token})


def setup_secret(page_html: str) -> str:
    """The key the set-up page shows for typing into an app."""
    return re.search(r'<code class="totp-secret" lang="en">([A-Z2-7 ]+)</code>', page_html).group(1).replace(" ", "")
