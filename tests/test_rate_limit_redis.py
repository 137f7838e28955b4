"""Rate limits counted in Redis: the gunicorn workers of one server share one count per address.

With the in-process default each worker counts for itself, so two workers let twice the limit
through; RATELIMIT_STORAGE_URI=redis://… (README, "Serving a firm") is the set-up this checks, on
the Redis server that runs beside PostgreSQL, under a key prefix of its own that is removed after.
When Redis cannot be reached, the limits count in memory rather than fail, and go back to Redis
once it answers (a server of the test's own, on a free port).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import csrf_from, sign_in_status

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_prefix():
    """A key prefix no one else uses; its keys are deleted at the end."""
    server = redis.Redis.from_url(REDIS_URL)
    try:
        server.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {REDIS_URL}: scripts/ensure-redis.sh starts it")
    prefix = f"huifang-test-{uuid.uuid4().hex}"
    yield prefix
    for key in server.scan_iter(match=f"*{prefix}*"):
        server.delete(key)
    server.close()


@pytest.fixture
def two_workers(app, tmp_path, redis_prefix):
    """gunicorn with two sync workers on the test's database, rate limits on and counted in Redis."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SECRET_KEYS="redis-test-key",
               HUIFANG_INSTANCE=str(tmp_path), RATELIMIT_ENABLED="1", RATELIMIT_STORAGE_URI=REDIS_URL,
               RATELIMIT_KEY_PREFIX=redis_prefix, PYTHONPATH=str(ROOT))
    log = open(tmp_path / "gunicorn.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync",
                               "--bind", f"127.0.0.1:{port}", "--access-logfile", str(tmp_path / "access.log"),
                               "--access-logformat", "%(p)s %(m)s %(s)s", "wsgi:app"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                requests.get(f"{base}/login", timeout=2)
                break
            # A worker still importing the app accepts the connection and answers late: a read
            # timeout on a busy machine (seen once in a clean-clone run) means "not yet", as a refusal does.
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.1)
        yield base, tmp_path / "access.log"
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def workers_that_answered(access_log: Path, method: str) -> set[str]:
    """The workers (gunicorn's <pid> in the access log) that answered requests of this method."""
    return {line.split()[0] for line in access_log.read_text().splitlines() if line.split()[1:2] == [method]}


def test_two_workers_share_one_sign_in_count_per_address(two_workers):
    base, access_log = two_workers
    statuses = []
    # A new connection each time: either worker may take it. The worker that answered the last one
    # is often first to accept the next, so the tries go on until both have answered one (at most 100).
    while len(statuses) < 12 or (len(workers_that_answered(access_log, "POST")) < 2 and len(statuses) < 100):
        with requests.Session() as browser:
            token = csrf_from(browser.get(f"{base}/login", timeout=5).text)
            statuses.append(browser.post(f"{base}/login", data={"username": "x", "password": "y",
                                                                 "csrf_token": token}, timeout=5).status_code)
    # The sign-in form takes 10 failed tries a minute from one address (a wrong password is 401),
    # whichever worker answers: a worker counting for itself would answer 401 again after the tenth.
    assert len(workers_that_answered(access_log, "POST")) == 2
    assert statuses == [401] * 10 + [429] * (len(statuses) - 10)


def failed_sign_ins(flask_app, count: int) -> list[int]:
    """Statuses of `count` sign-ins with a wrong password from 127.0.0.1."""
    return [sign_in_status(flask_app, "x", "y") for _ in range(count)]


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own on a free port, stopped at the end; yields (start, url)."""
    port, servers = free_port(), []

    def start() -> None:
        servers.append(subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL))
        client, deadline = redis.Redis(port=port), time.monotonic() + 10
        while True:
            try:
                client.ping()
                return client.close()
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    yield start, f"redis://127.0.0.1:{port}/0"
    for server in servers:
        server.terminate()
        server.wait(timeout=10)


def test_with_redis_unreachable_the_limits_count_in_memory_instead_of_failing(app_with):
    # Nothing listens on the port: every limited request used to be a 500 (sign-in, identity check,
    # short link, gate submit), so a Redis outage stopped the reviews and the business flows.
    limited = app_with(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
    assert failed_sign_ins(limited, 11) == [401] * 10 + [429]


def test_the_limits_count_in_redis_again_once_it_answers(app_with, own_redis):
    start, url = own_redis
    limited = app_with(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=url)
    assert failed_sign_ins(limited, 2) == [401, 401]  # counted in memory: Redis is not there yet
    start()
    # Flask-Limiter asks the storage again after 1, 2, 4 … seconds; a failed sign-in a second shows when.
    server, deadline = redis.Redis.from_url(url), time.monotonic() + 20
    while not list(server.scan_iter(match="*auth.login*")):  # this test's own server: no other keys
        assert time.monotonic() < deadline, "the limits never went back to Redis"
        assert failed_sign_ins(limited, 1) == [401]  # served all along, never a 500
        time.sleep(1)
    server.close()
