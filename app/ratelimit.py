"""Who the rate limits count, and where they keep the counts in process.

Flask-Limiter counts; this module gives it three things it has no setting for:
- the key: an IPv6 client is counted by its /64 network, not by its address;
- what the limits on the client's and staff's entry points count: the requests that were refused
  (`refused`), not the ones that succeeded; and a key per link for the autosaves (`link_key`);
- a storage in each worker's memory that sweeps expired counts once a second instead of 10 ms after
  every hit, and forgets the addresses whose counts have all expired.
"""
from __future__ import annotations

import hashlib
import ipaddress
import threading

from flask import Response, request
from limits.storage import MemoryStorage

# An IPv6 subscriber is given a /64 or more (a phone on a mobile network one /64 of its own) and
# may use any address in it (RFC 8981's temporary addresses change at will), so a count per address
# would let one phone start afresh by changing address. One /64 never holds two subscribers.
IPV6_PREFIX = 64
# How often the in-process storage drops the counts that have expired. limits 5.8's memory storage
# sweeps 10 ms after any hit, walks every address it has ever counted, and keeps each one's emptied
# list for good: the sweep grows with every phone the worker has seen, 7 ms at 10,000 addresses,
# and up to 100 sweeps a second take a whole core (docs/perf-client.md, "Rate limits"). Whether a
# count is within its window is decided at each hit from its timestamps, never by the sweep, so
# sweeping once a second keeps expired entries a second longer and changes no answer.
SWEEP_SECONDS = 1.0


def client_key() -> str:
    """The rate limits' key: the client's IPv4 address, or the /64 network of its IPv6 address."""
    raw = request.remote_addr or "127.0.0.1"  # as flask_limiter.util.get_remote_address
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d from a dual-stack socket is an IPv4 client
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address), IPV6_PREFIX), strict=False))  # int(): without a %zone


def refused(response: Response) -> bool:
    """Whether a response counts against a limit that counts refusals: a 4xx.

    Chinese mobile carriers put many subscribers behind one public IPv4 address (carrier-grade NAT),
    and a firm's staff sign in through one proxy: during an SMS campaign or at nine in the morning,
    a limit that counted every request from that address would refuse people who did nothing
    wrong. What the limits are there to slow down is guessing: short codes (which cannot be found by
    guessing in any case: about 58 bits), identity answers, passwords. Those fail. The limit's own
    429 adds nothing (a full moving window takes no more hits), so a refused client is let in again a
    minute after its last counted failure; a 5xx is the server's fault, not the client's.
    """
    return 400 <= response.status_code < 500


def link_key() -> str:
    """The key of a limit counted per link (the signed token in the path), wherever the client is."""
    # The autosave limit bounds what one page's script sends; counted per address, clients behind
    # one carrier address would share it and lose their autosaves to each other.
    # A digest, not the token: the key is kept in Redis and written in Flask-Limiter's log line when
    # the limit is hit, and the token is a bearer credential (anyone holding it may answer).
    token = (request.view_args or {}).get("token", "")
    return "link:" + hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


class SweptMemoryStorage(MemoryStorage):
    """limits' in-memory storage (`swept-memory://`): swept at most once a second, forgetting spent addresses.

    limits registers a storage class under the schemes its STORAGE_SCHEME names, the extension point
    its documentation gives for custom storages. Two private methods are replaced (name-mangled below;
    limits is pinned, and tests/test_ratelimit.py checks the pace and what a sweep leaves): the delay
    of the sweep the library schedules after a hit, and the sweep, which now also drops the emptied
    lists the library's keeps.
    """

    STORAGE_SCHEME = ["swept-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # The library starts a sweep 10 ms after it is made; the first hit schedules ours instead.
        self.timer.cancel()
        self.timer = self._sweep_timer()

    def _sweep_timer(self) -> threading.Timer:
        """A sweep SWEEP_SECONDS after it is started."""
        timer = threading.Timer(SWEEP_SECONDS, self._MemoryStorage__expire_events)
        # A pending sweep must not keep a finishing process (a command, the test run) waiting.
        timer.daemon = True
        return timer

    def _MemoryStorage__schedule_expiry(self) -> None:
        """Schedule one sweep SWEEP_SECONDS from now, unless one is scheduled already."""
        if not self.timer.is_alive():
            self.timer = self._sweep_timer()
            self.timer.start()

    def _MemoryStorage__expire_events(self) -> None:
        """The library's sweep, then forget each address none of whose counts is left."""
        MemoryStorage._MemoryStorage__expire_events(self)
        # dict.copy() takes the hits' dict in one step; iterating it could meet a hit adding a key.
        for key in [key for key, events in self.events.copy().items() if not events]:
            with self.locks[key]:
                if self.events.get(key):  # a hit came in since
                    continue
                self.events.pop(key, None)
            self.locks.pop(key, None)
