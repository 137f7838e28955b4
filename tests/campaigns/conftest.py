"""Fixtures of the campaigns tests: real SMTP (aiosmtpd), real HTTP receivers, campaign factories."""
from __future__ import annotations

import json
import socket
import threading
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from app.extensions import db

SHANGHAI = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware datetime ('2026-03-02 10:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def free_port() -> int:
    """A port free on loopback now (aiosmtpd's controller cannot start on port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """aiosmtpd handler that keeps every message; refuses recipients listed in `refuse`."""

    def __init__(self):
        self.messages = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback; yields (mailbox, port)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


class Receiver:
    """A threading HTTP server on 127.0.0.1; `respond(handler, body) -> (status, dict)` decides answers."""

    def __init__(self, respond):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "method": self.command})
                status, answer = receiver.respond(self, body)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle

        self.respond = respond
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll interval: shutdown() waits up to one interval (the default 0.5 s per test)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_receiver():
    """Start receivers with a respond function; all are closed after the test."""
    started = []

    def start(respond):
        receiver = Receiver(respond)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


@pytest.fixture
def sms_file(app, tmp_path):
    """The file sink's path, configured."""
    path = tmp_path / "sms.jsonl"
    app.config.update(SMS_PROVIDER="file", SMS_FILE_PATH=str(path))
    return path


def sms_lines(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def add_targets(app):
    """Add clients to a campaign (committed)."""

    def add(campaign, clients, now=None, **row):
        from app.campaigns.service import add_target_rows

        rows = [{"account": c.account, **row} for c in clients]
        added = add_target_rows(campaign, rows, "test", "api", now=now)
        db.session.commit()
        return added

    return add


@pytest.fixture
def start(app):
    def start(campaign, now=None):
        from app.campaigns.service import start_campaign

        start_campaign(campaign, "test", now=now)
        db.session.commit()

    return start


@pytest.fixture
def run(app):
    """Run dispatch passes until idle at a given time."""

    def run(campaign, now=None):
        from app.campaigns.dispatch import run_until_idle

        stats = run_until_idle(campaign.id, now=now)
        db.session.expire_all()
        return stats

    return run


@pytest.fixture
def population(make_client):
    """200 product clients of 2025 year-end in 2 branches (20 R5 holders, 5 with product risk above
    their tolerance), plus 15 dormant and 15 suspended ones that no sample may include."""
    from app.campaigns import service

    rows = []
    for i in range(230):
        c = make_client(branch="上海" if i % 2 else "北京")
        rows.append({"account": c.account, "as_of": date(2025, 12, 31), "max_product_risk": "R5" if i < 20 else "R3",
                     "exceeds_tolerance": 20 <= i < 25, "dormant": 200 <= i < 215, "suspended": 215 <= i})
    service.set_client_attributes(rows, "test")
    db.session.commit()
