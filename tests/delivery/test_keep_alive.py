"""HTTP adapters keep one connection open across a batch, and never write a request twice
when the server dropped the idle connection."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from delivery.outcome import Outcome
from delivery.sms.base import SmsMessage
from delivery.sms.http_json import HttpJsonGateway


class KeepAliveGateway:
    """An HTTP/1.1 gateway on 127.0.0.1 that counts connections and requests (by idempotency key);
    with close_after_each it answers, then closes the connection (an idle timeout of zero)."""

    def __init__(self, close_after_each: bool = False):
        self.connections = 0
        self.keys: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                gateway.connections += 1

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.keys.append(json.loads(body)["idempotency_key"])
                data = json.dumps({"id": f"m{len(gateway.keys)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                if close_after_each:  # without saying so: the client finds out on its next request
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    server = KeepAliveGateway()
    yield server
    server.stop()


@pytest.fixture
def dropping_gateway():
    server = KeepAliveGateway(close_after_each=True)
    yield server
    server.stop()


def messages(n: int) -> list[SmsMessage]:
    return [SmsMessage("13812341234", f"text {i}", f"hf{i:04d}") for i in range(n)]


def test_a_batch_of_sms_uses_one_kept_open_connection(gateway):
    provider = HttpJsonGateway(gateway.url)
    results = [provider.send(m) for m in messages(5)]
    provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 5
    assert gateway.connections == 1 and gateway.keys == [f"hf{i:04d}" for i in range(5)]


def test_a_connection_the_server_dropped_is_replaced_without_writing_any_request_twice(dropping_gateway):
    provider = HttpJsonGateway(dropping_gateway.url)
    results = []
    for message in messages(4):
        results.append(provider.send(message))
        # let the server's close reach us before the next send, as an idle timeout would
        threading.Event().wait(0.05)
    provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    assert dropping_gateway.keys == [f"hf{i:04d}" for i in range(4)]  # each exactly once
    assert dropping_gateway.connections == 4
