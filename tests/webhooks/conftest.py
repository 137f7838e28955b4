"""Fixtures for callbacks: an API key with a whsec_ secret and a verifying loopback receiver."""
from __future__ import annotations

import pytest

from app.extensions import db
from tests.webhooks.receiver import Receiver


@pytest.fixture
def hook_key(app):
    """An API key allowed to call back to loopback; returns (row, clear key, headers)."""
    from app.api.service import create_api_key

    row, key = create_api_key("callback-system", callback_prefixes=["http://127.0.0.1:"],
                              frame_origins=["http://127.0.0.1:9"])
    db.session.commit()
    return row, key, {"Authorization": f"Bearer {key}"}


@pytest.fixture
def receiver(hook_key):
    """A loopback receiver that knows the key's current secret."""
    rec = Receiver(hook_key[0].webhook_secret)
    yield rec
    rec.close()


@pytest.fixture
def start_worker(app, tmp_path):
    """Start `flask worker` processes on the test's database; all are killed at the end."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    procs, logs = [], []
    root = Path(__file__).resolve().parents[2]

    def start(leases: dict | None = None, timeout: float = 15, name: str = "w"):
        import json

        env = dict(os.environ, HUIFANG_TEST_DB=app.config["SQLALCHEMY_DATABASE_URI"],
                   HUIFANG_TEST_LEASES=json.dumps(leases or {}), HUIFANG_TEST_TIMEOUT=str(timeout),
                   FLASK_APP="tests.webhooks.worker_app:app", PYTHONPATH=str(root))
        log_path = tmp_path / f"worker-{name}-{len(procs)}.log"
        log = open(log_path, "w")
        proc = subprocess.Popen([sys.executable, "-m", "flask", "worker", "--id", f"{name}-{len(procs)}"],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = log_path
        procs.append(proc)
        logs.append(log)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    for log in logs:
        log.close()
