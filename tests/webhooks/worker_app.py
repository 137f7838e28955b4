"""The app a `flask worker` subprocess of a test runs: the test's database, short leases."""
import json
import os

from app import create_app

app = create_app({
    "SQLALCHEMY_DATABASE_URI": os.environ["HUIFANG_TEST_DB"],
    "SECRET_KEYS": ["test-old-key", "test-signing-key"],
    "PUBLIC_BASE_URL": "http://localhost",
    "JOBS_LEASE_SECONDS": json.loads(os.environ.get("HUIFANG_TEST_LEASES", "{}")),
    "WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("HUIFANG_TEST_TIMEOUT", "15")),
    "RATELIMIT_ENABLED": False,
})
