"""The rate limits: the key (an IPv6 client by its /64), what they count (refusals; autosaves per link), the storage."""
from __future__ import annotations

import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app import ratelimit
from app.ratelimit import SweptMemoryStorage, client_key, link_key
from app.reviews.service import invitation_url, short_url
from tests.conftest import csrf_from, sign_in_status


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


@pytest.fixture
def limited(app_with):
    """The app with its rate limits on, counting in a storage of its own (each init_app makes one)."""
    return app_with(RATELIMIT_ENABLED=True)


def test_the_key_of_a_limit_per_link_holds_no_part_of_the_link(app, make_invitation):
    path = urlsplit(invitation_url(make_invitation())).path
    token = path.rsplit("/", 1)[1]
    with app.test_request_context(path + "/draft", method="POST"):
        key = link_key()
    with app.test_request_context(path + "x/draft", method="POST"):
        assert link_key() != key  # another link, another count
    assert key.startswith("link:") and not any(part in key for part in token.split("."))


def test_two_addresses_of_one_ipv6_network_share_the_identity_checks_limit(limited, make_invitation):

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


def identity_answer(limited, invitation, answer: str) -> int:
    """Answer an invitation's identity question from a new browser at 127.0.0.1; the status."""
    path = urlsplit(invitation_url(invitation)).path + "/identity"
    with limited.test_client() as browser:
        token = csrf_from(browser.get(path).get_data(as_text=True))
        return browser.post(path, data={"answer": answer, "csrf_token": token}).status_code


def test_right_identity_answers_are_not_counted_against_the_address(limited, make_invitation, publish):
    # Clients behind one carrier address (carrier-grade NAT) who answer right never use its budget.
    version = publish()
    assert [identity_answer(limited, make_invitation(version=version), "123X") for _ in range(25)] == [303] * 25
    wrong = [identity_answer(limited, make_invitation(version=version), "0000") for _ in range(21)]
    assert wrong == [422] * 20 + [429]


def test_short_links_that_exist_are_not_counted_and_unknown_codes_are(limited, make_invitation, publish):
    version = publish()
    paths = [urlsplit(short_url(make_invitation(version=version))).path for _ in range(35)]
    browser = limited.test_client()
    assert [browser.get(path).status_code for path in paths] == [303] * 35
    assert [browser.get(f"/s/unknown{n:03d}").status_code for n in range(31)] == [404] * 30 + [429]


def test_a_refusal_by_the_limit_is_not_counted_so_it_ends_a_minute_after_the_last_wrong_try(limited, monkeypatch):
    clock = SimpleNamespace(now=1_000_000.0)
    # The limiter's in-process storage reads the time here; the app's own clock is left alone.
    monkeypatch.setattr("limits.storage.memory.time", SimpleNamespace(time=lambda: clock.now))
    browser = limited.test_client()

    def opens(count: int, at: float) -> list[int]:
        clock.now = 1_000_000.0 + at
        return [browser.get(f"/s/unknown{n:03d}").status_code for n in range(count)]

    assert opens(30, at=0) == [404] * 30
    assert opens(30, at=30) == [429] * 30
    # Had the thirty 429s at 30 s been counted, the last minute would still be full at 61 s.
    assert opens(1, at=61) == [404]


def test_sign_ins_that_succeed_are_not_counted_against_the_address(limited, make_staff):
    # A firm's staff sign in through one proxy at nine in the morning.
    user, password = make_staff()
    assert [sign_in_status(limited, user.username, password) for _ in range(12)] == [302] * 12
    assert [sign_in_status(limited, user.username, "wrong") for _ in range(11)] == [401] * 10 + [429]


def test_autosaves_are_counted_per_link_not_per_address(limited, make_invitation, publish):
    version = publish()
    first, second = make_invitation(version=version), make_invitation(version=version)

    def autosaves(invitation, count: int) -> list[int]:
        path = urlsplit(invitation_url(invitation)).path
        with limited.test_client() as browser:
            token = csrf_from(browser.get(path + "/identity").get_data(as_text=True))
            assert browser.post(path + "/identity", data={"answer": "123X", "csrf_token": token}).status_code == 303
            token = csrf_from(browser.get(path).get_data(as_text=True))
            return [browser.post(path + "/draft", data={"age": str(n), "csrf_token": token}).status_code
                    for n in range(count)]

    assert autosaves(first, 121) == [200] * 120 + [429]
    assert autosaves(second, 1) == [200]  # the same address, another client's page


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


def test_a_client_over_the_limit_is_told_in_their_language_to_wait_and_when_to_retry(limited):
    browser = limited.test_client()
    assert {browser.get(f"/s/unknown{n:03d}").status_code for n in range(30)} == {404}
    refused = browser.get("/s/unknown999", headers={"Accept-Language": "zh-CN"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "请稍等一分钟后再试" in page and "per 1 minute" not in page
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
