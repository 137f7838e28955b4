"""Secrets stay out of logs and pages; errors never show a traceback."""
from __future__ import annotations

import logging

import pytest

from app.logredact import redact
from app.reviews import service
from tests.conftest import csrf_from


@pytest.mark.parametrize("line", [
    'GET /q/{token} HTTP/1.1',
    'GET /q/{token}/identity HTTP/1.1',
    'POST /q/{token}/draft',
])
def test_link_tokens_are_redacted_from_log_lines(app, make_invitation, line):
    invitation = make_invitation()
    token = service.invitation_url(invitation).rsplit("/q/", 1)[1]
    redacted = redact(line.format(token=token))
    assert token not in redacted and "[redacted]" in redacted


def test_short_codes_are_redacted_from_log_lines(app, make_invitation):
    invitation = make_invitation()
    assert invitation.short_code not in redact(f"GET /s/{invitation.short_code} HTTP/1.1")


def test_unexpected_error_logs_no_token_and_shows_no_traceback(app, client, make_invitation, caplog, monkeypatch):
    invitation = make_invitation()
    token = service.invitation_url(invitation).rsplit("/q/", 1)[1]

    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    import app.respond.routes as respond_routes

    monkeypatch.setattr(respond_routes, "load_invitation", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get(f"/q/{token}")
    assert response.status_code == 500
    assert "Traceback" not in response.get_data(as_text=True)
    assert token not in caplog.text and "[redacted]" in caplog.text


def test_login_page_refuses_an_open_redirect(client, make_staff):
    from tests.conftest import csrf_from

    user, password = make_staff()
    page = client.get("/login")
    response = client.post("/login?next=https://evil.example.com/", data={
        "username": user.username, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and "evil.example.com" not in response.headers["Location"]


def test_wrong_password_is_refused_and_audited(client, make_staff):
    import sqlalchemy as sa

    from app.audit.models import AuditEntry
    from app.extensions import db
    from tests.conftest import csrf_from

    user, _password = make_staff()
    page = client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": "wrong",
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 401
    assert db.session.scalars(sa.select(AuditEntry.action)).all()[-1] == "staff.login_failed"


def test_the_sign_in_limit_counts_the_last_minute_not_a_window_that_starts_afresh(app_with, monkeypatch):
    from types import SimpleNamespace

    limited = app_with(RATELIMIT_ENABLED=True)
    clock = SimpleNamespace(now=1_000_000.0)
    # The limiter's in-process storage reads the time here; the app's own clock is left alone.
    monkeypatch.setattr("limits.storage.memory.time", SimpleNamespace(time=lambda: clock.now))
    browser = limited.test_client()
    token = csrf_from(browser.get("/login").get_data(as_text=True))

    def tries(count: int, at: float) -> list[bool]:
        clock.now = 1_000_000.0 + at
        return [browser.post("/login", data={"username": "x", "password": "y", "csrf_token": token}).status_code
                == 429 for _ in range(count)]

    assert tries(1, at=0) + tries(9, at=59) == [False] * 10
    # Two seconds later a fixed window would have started afresh and let ten more through: only the
    # try at 0 s has left the last minute, so one more is let through.
    assert tries(10, at=61) == [False] + [True] * 9
