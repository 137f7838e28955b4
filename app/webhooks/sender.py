"""The HTTP POST of one webhook attempt: keep-alive connections per thread, no redirects, a timeout.

Plain Python (http.client) so the worker needs no extra dependency and reuses connections: a
fast receiver costs one round trip per event, not a TCP handshake.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Optional
from urllib.parse import urlsplit

USER_AGENT = "Huifang-Webhooks/1"
MAX_READ = 64 * 1024
_local = threading.local()
# Every thread's pool, so connections of threads that ended (a resized delivery pool) are closed
# explicitly rather than left to the garbage collector.
_pools: dict[threading.Thread, dict] = {}
_pools_lock = threading.Lock()


@dataclass(frozen=True)
class SendResult:
    """What one attempt came to."""

    outcome: str  # success | http_error | timeout | connection_error
    status_code: Optional[int]
    latency_ms: int
    error: Optional[str] = None
    excerpt: Optional[str] = None
    retry_after: Optional[float] = None  # seconds, from a Retry-After header


def parse_retry_after(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit also takes "²" (Latin-1), which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _connections() -> dict:
    if not hasattr(_local, "pool"):
        _local.pool = {}
        with _pools_lock:
            _pools[threading.current_thread()] = _local.pool
    return _local.pool


def close_finished_threads() -> None:
    """Close the kept-alive connections of threads that have ended."""
    with _pools_lock:
        ended = [t for t in _pools if not t.is_alive()]
        pools = [_pools.pop(t) for t in ended]
    for pool in pools:
        for conn in pool.values():
            conn.close()
        pool.clear()


def _connection(scheme: str, netloc: str, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
    pool = _connections()
    conn = pool.get((scheme, netloc))
    if conn is not None:
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True
    if scheme == "https":
        conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(netloc, timeout=timeout)
    pool[(scheme, netloc)] = conn
    return conn, False


def _drop(scheme: str, netloc: str) -> None:
    conn = _connections().pop((scheme, netloc), None)
    if conn is not None:
        conn.close()


def close_all() -> None:
    """Close this thread's kept-alive connections."""
    for key in list(_connections()):
        _drop(*key)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    """POST body to url once (one silent retry when a kept-alive connection turned out stale)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    started = time.perf_counter()
    for _try in range(2):
        conn, reused = _connection(parts.scheme, parts.netloc, timeout)
        try:
            conn.request("POST", path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read(MAX_READ)
            if not response.isclosed():
                _drop(parts.scheme, parts.netloc)  # an oversized answer: do not reuse the connection
            elif response.getheader("Connection", "").lower() == "close" or response.will_close:
                _drop(parts.scheme, parts.netloc)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            _drop(parts.scheme, parts.netloc)
            if reused:
                continue  # the receiver closed an idle connection: retry once on a new one
            return SendResult("connection_error", None, _ms(started), f"{type(exc).__name__}: {exc}"[:500])
        except (socket.timeout, TimeoutError):
            _drop(parts.scheme, parts.netloc)
            return SendResult("timeout", None, _ms(started), f"no answer within {timeout:g} s")
        except (OSError, http.client.HTTPException) as exc:
            _drop(parts.scheme, parts.netloc)
            return SendResult("connection_error", None, _ms(started), f"{type(exc).__name__}: {exc}"[:500])
        latency = _ms(started)
        excerpt = data[:500].decode("utf-8", "replace") if data else None
        outcome = "success" if 200 <= response.status < 300 else "http_error"
        return SendResult(outcome, response.status, latency, None if outcome == "success" else f"HTTP {response.status}",
                          excerpt, parse_retry_after(response.getheader("Retry-After")))
    return SendResult("connection_error", None, _ms(started), "connection closed by the receiver")


def _ms(started: float) -> int:
    return int(round((time.perf_counter() - started) * 1000))
