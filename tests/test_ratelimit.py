"""The rate limits' key (an IPv6 client counted by its /64) and the in-process storage's sweep."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app import ratelimit
from app.ratelimit import SweptMemoryStorage, client_key
from app.reviews.service import invitation_url
from tests.conftest import csrf_from


@pytest.mark.parametrize(("remote_addr", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2::10", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::10", "2001:db8:1:3::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("fe80::1%eth0", "fe80::/64"),
    ("unix-socket", "unix-socket"),
])
def test_the_key_is_the_ipv4_address_or_the_ipv6_network(app, remote_addr, key):
    with app.test_request_context(environ_base={"REMOTE_ADDR": remote_addr}):
        assert client_key() == key


def test_two_addresses_of_one_ipv6_network_share_the_identity_checks_limit(app_with, make_invitation):
    limited = app_with(RATELIMIT_ENABLED=True, RATELIMIT_KEY_PREFIX=f"t{time.monotonic_ns()}")

    def try_from(address: str) -> int:
        # A new invitation each time: five wrong answers would lock one (a 423, not the limit's 429).
        path = urlsplit(invitation_url(make_invitation())).path + "/identity"
        with limited.test_client() as browser:
            browser.environ_base["REMOTE_ADDR"] = address
            token = csrf_from(browser.get(path).get_data(as_text=True))
            return browser.post(path, data={"answer": "0000", "csrf_token": token}).status_code

    # Twenty tries a minute per network (app/respond/routes.py), alternating between two addresses.
    statuses = [try_from(f"2001:db8:7:7::{n % 2 + 1}") for n in range(21)]
    assert 429 not in statuses[:20] and statuses[20] == 429
    assert try_from("2001:db8:7:8::1") != 429  # the next /64 is another subscriber


def test_the_app_counts_in_the_swept_storage_by_default(app_with):
    from app.extensions import limiter

    app_with(RATELIMIT_ENABLED=True)
    assert isinstance(limiter.storage, SweptMemoryStorage)


def test_the_swept_storage_sweeps_once_per_interval_and_drops_expired_counts(monkeypatch):
    monkeypatch.setattr(ratelimit, "SWEEP_SECONDS", 0.3)
    storage = storage_from_string("swept-memory://")
    limiter = MovingWindowRateLimiter(storage)
    try:
        assert limiter.hit(RateLimitItemPerSecond(1), "phone")
        # The sweep the hit scheduled waits for the interval, not the library's 10 ms.
        assert storage.timer.interval == 0.3 and storage.timer.daemon
        time.sleep(0.1)
        assert "LIMITER/phone/1/1/second" in storage.events  # the count is still there before the sweep
        assert not limiter.hit(RateLimitItemPerSecond(1), "phone")  # and still counts within its second
        time.sleep(1.3)
        assert limiter.hit(RateLimitItemPerSecond(1), "other")  # schedules the next sweep
        time.sleep(0.5)
        assert "LIMITER/phone/1/1/second" not in storage.events
    finally:
        storage.timer.cancel()
