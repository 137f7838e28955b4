"""Shared parts of the client-path benchmark: the bare Flask app, databases, gunicorn, statistics.

`bare_app` is the baseline the issue names: a minimal Flask app returning a small page, served by
the very same gunicorn setup as the real app. `register_name` also names the letters benchmark's
clients.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.request import urlopen

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")

bare_app = Flask("bare")

_SURNAMES, _GIVEN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def register_name(i: int) -> str:
    """Names as a register holds them: mostly three characters, some two or four, a few in Latin
    letters; neighbouring clients differ, as they do in a real campaign (the placeholders of a
    questionnaire are filled per client, so one name for everybody would flatter the cost)."""
    if i % 97 == 0:
        return f"Anna Lee-{i % 7}"
    surname = "欧阳" if i % 13 == 0 else _SURNAMES[i % 20]
    return surname + _GIVEN[i % 23] + ("" if i % 5 == 0 else _GIVEN[(i // 23) % 23])


@bare_app.get("/")
def bare_page():
    """A small HTML page: the cost of Flask + gunicorn and nothing else."""
    return "<!doctype html><html lang=zh-CN><title>ok</title><p>你好</p></html>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def bench_database(backend: str):
    """A fresh database of the given backend; dropped (or deleted) afterwards. Yields its URL."""
    tmp = Path(tempfile.mkdtemp(prefix="huifang-bench-"))
    name = None
    try:
        if backend == "postgresql":
            import sqlalchemy as sa

            name = f"huifang_bench_{secrets.token_hex(4)}"
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", tmp
        else:
            yield f"sqlite:///{tmp / 'bench.db'}", tmp
    finally:
        if name:
            import sqlalchemy as sa

            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        tmp.rmdir()


def _wait_until_answering(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    """Return once a server answers HTTP at `base` (any status); fail if it exits or takes 30 s."""
    deadline = time.monotonic() + 30
    while True:
        try:
            urlopen(base + "/__nope__", timeout=1)
            return
        except OSError as exc:
            # An HTTP error is an answer, except nginx's 502: its upstream is not up yet.
            if getattr(exc, "code", None) and exc.code != 502:
                return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{Path(proc.args[0]).name} did not start; see {log_path}") from exc
            time.sleep(0.1)


def _stop(proc: subprocess.Popen, graceful: int) -> None:
    """Ask a server to stop with its graceful signal; kill it if it has not gone after 20 s."""
    proc.send_signal(graceful)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def gunicorn(target: str, env: dict, workers: int, threads: int, log_path: Path, keep_alive: int = 5,
             worker_class: str = "gthread"):
    """Serve a WSGI target with gunicorn on a free port; yields the base URL.

    keep_alive 0 closes every connection after its response (as behind nginx's default proxying);
    the sync worker class always does.
    """
    port = free_port()
    cmd = [GUNICORN, "--workers", str(workers), "--threads", str(threads), "--worker-class", worker_class,
           "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--keep-alive", str(keep_alive),
           "--pythonpath", str(ROOT / "benchmarks"), target]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(base, proc, log_path)
        yield base, proc
    finally:
        _stop(proc, signal.SIGTERM)


NGINX_CONF = """\
daemon off;
{user}worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    server {{
        listen 127.0.0.1:{port};
        # The README's block ("Serving a firm"), pointed at the benchmark's gunicorn.
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            client_max_body_size 2m;
        }}
    }}
}}
"""


@contextmanager
def nginx(upstream: str, tmp: Path, workers: str = "auto"):
    """Put nginx in front of a server, as the README's "Serving a firm" does; yields its base URL.

    nginx (Debian: apt-get install nginx-light) runs in the foreground with its files in `tmp`.
    """
    # /usr/sbin is not on every user's PATH.
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise SystemExit("--proxy nginx needs nginx: apt-get install nginx-light")
    port = free_port()
    conf = tmp / "nginx.conf"
    # Started as root, nginx's workers would become `nobody`, who cannot enter the private temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(user=user, workers=workers, tmp=tmp, port=port, upstream=upstream))
    with open(tmp / "nginx-error.log", "ab") as log:
        proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp)], stdout=log, stderr=log,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(base, proc, tmp / "nginx-error.log")
        yield base, proc
    finally:
        _stop(proc, signal.SIGQUIT)  # nginx's graceful stop


def worker_pids(master_pid: int) -> list[int]:
    """The worker processes of a gunicorn or nginx master (for the CPU count and the profiler)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary(latencies: list[float]) -> dict:
    """p50/p95/p99/max in milliseconds."""
    values = sorted(latencies)
    return {name: percentile(values, q) * 1000 for name, q in (("p50", 50), ("p95", 95), ("p99", 99))} | \
        {"max": (values[-1] * 1000) if values else float("nan")}
