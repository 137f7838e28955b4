"""Rate limits counted in Redis: the gunicorn workers of one server share one count per address.

With the in-process default each worker counts for itself, so two workers let twice the limit
through; RATELIMIT_STORAGE_URI=redis://… (README, "Serving a firm") is the set-up this checks, on
the Redis server that runs beside PostgreSQL, under a key prefix of its own that is removed after.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[1]
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


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
    while True:
        try:
            requests.get(f"{base}/login", timeout=2)
            break
        except requests.ConnectionError:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
    yield base, tmp_path / "access.log"
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
            token = CSRF.search(browser.get(f"{base}/login", timeout=5).text).group(1)
            statuses.append(browser.post(f"{base}/login", data={"username": "x", "password": "y",
                                                                 "csrf_token": token}, timeout=5).status_code)
    # The sign-in form takes 10 failed tries a minute from one address (a wrong password is 401),
    # whichever worker answers: a worker counting for itself would answer 401 again after the tenth.
    assert len(workers_that_answered(access_log, "POST")) == 2
    assert statuses == [401] * 10 + [429] * (len(statuses) - 10)
