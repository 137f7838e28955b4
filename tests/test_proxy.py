"""Behind a proxy (PROXY_COUNT): the client's address comes from X-Forwarded-For, and only then."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.reviews import service
from app.reviews.models import IdentityAttempt
from tests.conftest import csrf_from


@pytest.fixture
def proxied_app(app_with):
    """The test app's settings, served behind one proxy, with rate limits on."""
    return app_with(PROXY_COUNT="1", RATELIMIT_ENABLED=True)


def identity_attempt_from(flask_app, invitation, forwarded_for: str) -> str:
    """Answer the identity question with an X-Forwarded-For header; the address that was logged."""
    path = urlsplit(service.invitation_url(invitation)).path + "/identity"
    headers = {"X-Forwarded-For": forwarded_for}
    browser = flask_app.test_client()
    page = browser.get(path, headers=headers)
    browser.post(path, headers=headers, data={"answer": "123x", "csrf_token": csrf_from(page.get_data(as_text=True))})
    with flask_app.app_context():
        return db.session.scalars(sa.select(IdentityAttempt.remote_addr)).one()


def test_behind_a_proxy_the_forwarded_client_address_is_logged(proxied_app, make_invitation):
    assert identity_attempt_from(proxied_app, make_invitation(), "203.0.113.7") == "203.0.113.7"


def test_without_a_proxy_a_forwarded_address_sent_by_the_client_is_ignored(app, make_invitation):
    assert identity_attempt_from(app, make_invitation(), "203.0.113.7") == "127.0.0.1"


def test_behind_a_proxy_each_client_address_has_its_own_rate_limit(proxied_app):
    browser = proxied_app.test_client()

    def open_from(address: str) -> int:
        # An unknown short code: the limit counts those, not a client's own link (app/ratelimit.py).
        return browser.get("/s/unknown0001", headers={"X-Forwarded-For": address}).status_code

    first_phone = [open_from("203.0.113.7") for _ in range(31)]
    assert first_phone[:30] == [404] * 30 and first_phone[30] == 429
    assert open_from("198.51.100.20") == 404


@pytest.mark.parametrize("value", ["two", "-1", "1.5", "", "²"])
def test_a_proxy_count_that_is_not_a_whole_number_stops_start_up_with_its_name(app, value):
    with pytest.raises(ValueError, match="PROXY_COUNT"):
        create_app({**app.config, "PROXY_COUNT": value})
