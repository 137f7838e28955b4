"""The app a benchmark worker process runs: `flask --app benchmarks._callbacks_app:app worker`."""
import os

from app import create_app

app = create_app({
    "SQLALCHEMY_DATABASE_URI": os.environ["HUIFANG_BENCH_DB"],
    "SECRET_KEYS": ["bench-key"],
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "RATELIMIT_ENABLED": False,
})
