"""A real HTTP receiver on loopback that verifies every request with the `standardwebhooks` package."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request the receiver got."""

    webhook_id: str
    headers: dict
    body: bytes
    verified: bool
    at: float

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Reply:
    """What to answer: status, extra headers, a delay before answering."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """Records every request; `script(n)` gives the Reply to the n-th request (1-based)."""

    def __init__(self, secret: Optional[str] = None, port: int = 0) -> None:
        self.secrets: list[str] = [secret] if secret else []
        self.received: list[Received] = []
        self.script: Callable[[int], Reply] = lambda n: Reply()
        self.lock = threading.Lock()
        self.connections = 0  # TCP connections accepted (keep-alive: far fewer than requests)
        self.in_flight = 0  # requests received and not yet answered
        self.most_in_flight = 0  # the most at any one time: how many the sender had out together
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answer at once, like real servers do

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections += 1

            def do_POST(self):  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = receiver.verify(body, headers)
                with receiver.lock:
                    n = len(receiver.received) + 1
                    receiver.received.append(Received(headers.get("webhook-id", ""), headers, body, verified,
                                                      time.perf_counter()))
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                    receiver.arrived.notify_all()
                try:
                    self._answer(receiver.script(n))
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up (timeout) and closed the connection

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def verify(self, body: bytes, headers: dict) -> bool:
        """True when any of the known secrets verifies the request (Standard Webhooks library)."""
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (or the timeout); returns what arrived."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self.arrived.wait(deadline - time.monotonic())
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
