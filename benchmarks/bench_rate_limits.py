"""Benchmark: what the in-process rate-limit storage costs while a campaign's phones arrive.

    .venv/bin/python benchmarks/bench_rate_limits.py [--seen 20000] [--keys 4000] [--rate 100] [--seconds 10]

The identity check's limit (20/minute, a moving window) keeps one count per address for a minute.
During a campaign a new phone arrives every few milliseconds, so a worker holds thousands of counts.
limits' own memory storage (`memory://`) sweeps the expired ones 10 ms after a hit, walking every
address it has ever counted (it keeps each one's emptied list); the app's default
(`swept-memory://`, app/ratelimit.py) sweeps once a second and forgets spent addresses.

For each storage, it counts `--seen` addresses whose counts have expired (the phones of the hours
before) and fills `--keys` live counts, then takes `--rate` hits a second from new addresses for
`--seconds`, paced by the clock, and prints the CPU the whole process used (every thread: the sweeps
run in a timer thread) per hit, and the ratio of the default's cost to the library's. The first line
is the pacing loop with no storage (its millisecond sleeps), which both storages' figures include.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond  # noqa: E402
from limits.storage import storage_from_string  # noqa: E402
from limits.strategies import MovingWindowRateLimiter  # noqa: E402

import app.ratelimit  # noqa: E402,F401  (registers swept-memory://)

IDENTITY_LIMIT = RateLimitItemPerMinute(20)
ONE_SECOND = RateLimitItemPerSecond(1)


def paced(rate: float, seconds: float, hit) -> float:
    """Call hit(n) `rate` times a second for `seconds`; the process CPU in ms per call (every thread)."""
    calls, start = 0, time.monotonic()
    cpu0 = time.process_time()
    while (now := time.monotonic()) - start < seconds:
        while calls < int((now - start) * rate):
            hit(calls)
            calls += 1
        time.sleep(0.001)
    return (time.process_time() - cpu0) / calls * 1000


def cpu_per_hit(uri: str, seen: int, keys: int, rate: float, seconds: float) -> tuple[float, int]:
    """Process CPU in ms per hit while new addresses arrive at `rate`, over `keys` live counts and
    `seen` spent ones; and how many addresses the storage holds at the end."""
    storage = storage_from_string(uri)
    limiter = MovingWindowRateLimiter(storage)
    for n in range(seen):
        limiter.hit(ONE_SECOND, f"earlier-{n}")
    time.sleep(1.1)  # their second is over
    for n in range(keys):
        limiter.hit(IDENTITY_LIMIT, f"live-{n}")

    def hit(n: int) -> None:
        assert limiter.hit(IDENTITY_LIMIT, f"phone-{n}")

    spent = paced(rate, seconds, hit)
    storage.timer.cancel()
    return spent, len(storage.events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seen", type=int, default=20000, help="addresses counted earlier, their counts expired")
    parser.add_argument("--keys", type=int, default=4000, help="counts alive when the run starts")
    parser.add_argument("--rate", type=float, default=100.0, help="hits a second, each from a new address")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{args.seen} spent and {args.keys} live counts, {args.rate:g} new addresses a second for {args.seconds:g} s "
          f"(moving window, 20/minute)")
    print(f"  {'the pacing loop alone':<30} {paced(args.rate, args.seconds, lambda n: None):7.3f} ms CPU per call")
    results = {}
    for label, uri in (("limits' memory://", "memory://"), ("app default swept-memory://", "swept-memory://")):
        results[uri], held = cpu_per_hit(uri, args.seen, args.keys, args.rate, args.seconds)
        print(f"  {label:<30} {results[uri]:7.3f} ms CPU per hit ({results[uri] * args.rate / 10:.1f} % of a core), "
              f"{held} addresses held at the end")
    print(f"  ratio swept/library: {results['swept-memory://'] / results['memory://']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
