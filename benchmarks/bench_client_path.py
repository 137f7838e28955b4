"""Benchmark: the client's path through a signed link against a bare Flask endpoint (issue 2).

    .venv/bin/python benchmarks/bench_client_path.py [--paths 1500] [--concurrency 32]
        [--backends sqlite,postgresql] [--workers 2] [--worker-class sync|gthread] [--threads 1]
        [--keep-alive 5] [--stagger 0.01] [--connections per-path|per-client] [--profile DIR]
        [--proxy none|nginx] [--proxy-workers auto] [--rate-limits off|swept-memory|memory|redis]
    .venv/bin/python benchmarks/bench_client_path.py --inprocess 200 [--backends sqlite] [--rate-limits …]
        [--by-package]

For each backend it builds a fresh database (SQLite file in a temp dir, or a PostgreSQL database
huifang_bench_<random> created on 127.0.0.1:5432 and dropped afterwards), publishes the built-in
`suitability` questionnaire and prepares N invitations, then serves (a) the real app (wsgi:app) and
(b) a bare Flask page with the SAME gunicorn setup (--worker-class, --workers, --threads, the repo's
gunicorn.conf.py, no access log), one after the other, and drives them from one asyncio process.
The default is gunicorn's sync worker, which is how a firm serves behind a buffering proxy: a
worker takes a connection only when it is free, so the two workers share the load. gthread
workers keep the connections they accepted, and one of them can end up with most of the clients
while the other idles (docs/perf-client.md, sixth round).

  real path, 6 requests, each path a new phone (its own connection and cookie jar):
    GET link (303) → GET identity page → POST identity (303, the session cookie now says
    "verified") → GET form → POST answers (303) → GET receipt
  bare: the same number of GET / requests at the same concurrency, 6 on each connection.
  (The sync worker closes every connection after its response, as gunicorn does behind a proxy.)

--proxy nginx puts nginx in front of both servers with the README's block ("Serving a firm") and
PROXY_COUNT=1, as a firm serves; nginx's CPU is counted as the server's. It needs nginx
(Debian: apt-get install nginx-light).

The simulated clients start 10 ms apart (--stagger) and run on from the warm-up into the timed
paths without a pause; --stagger 0 starts them all at once, which keeps them in lockstep (see drive).

(c) The ceiling: the real path's six responses for one spare invitation, captured from the real app
and served again by `_ceiling_app` (same URLs, same bytes, same cookies, the same gunicorn setup)
with no work at all: no database, no signature or token checked, nothing rendered. The same
clients walk it as they walk the real path. No implementation of the path can answer them faster,
so ceiling/bare is the most the issue's ratio can be on this machine with this load generator,
and real/ceiling says how far the app is from it.

It prints paths/s, requests/s, p50/p95/p99 per request kind and overall, the ratio of real to bare
requests/s, the ceiling's ratio to bare and the real path's to the ceiling, and checks the goals:
≥ 40 % of the bare throughput and p99 < 150 ms at 32 concurrent clients. The load generator shares
the machine's cores with the server; its CPU time is printed.

--inprocess N runs N paths one after another through Flask's test client in this process (no
gunicorn, no concurrency) and prints, per request kind, the median CPU time of the request's thread
(time.thread_time, so other processes' load hardly matters) and the SQL statements it ran, then two
baselines through the same test client: a bare Flask page, and the same trivial page as a route of
this app (its hooks: CSRF, locale, login, security headers, session). With --by-package it also runs
the timed paths under cProfile and prints where their time goes, by library (sqlalchemy, werkzeug,
jinja2, …, this app's own code): the share each takes of the profiled time. The CPU figures per
request then include cProfile's overhead: take them from a run without it.

Rate limits are off by default (RATELIMIT_ENABLED=0), and every simulated client comes from
127.0.0.1. --rate-limits turns them on as a firm runs them, a moving window counted in each worker's memory
(swept-memory, the app's default, or memory, the library's own storage) or in the Redis on
127.0.0.1:6379 (redis, under a key prefix of this run's own), and gives
every phone an address of its own: its connections leave from 127.x.y.z (all of 127/8 is loopback
on Linux), so the server, and nginx with --proxy nginx, sees a different REMOTE_ADDR per phone. In
process, each path's test client sets REMOTE_ADDR.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _client_common import (  # noqa: E402
    PYTHON, bare_app, bare_page, bench_database, gunicorn, nginx, register_name, summary, worker_pids,
)

# The app's default (swept-memory: limits' memory storage swept once a second, app/ratelimit.py), the
# library's own memory storage (swept 10 ms after a hit), and a Redis shared by the workers.
RATE_LIMIT_STORAGE = {"swept-memory": "swept-memory://", "memory": "memory://",
                      "redis": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")}

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SECRET = "bench-signing-key-not-secret"
ANSWERS = [("is_account_holder", "yes"), ("review_consent", "y"),
           *[(qid, "yes") for qid in ("own_operation", "applied_of_own_will", "signed_voluntarily",
                                      "knows_business_rules", "read_risk_disclosure", "knows_risk_levels",
                                      "knows_fees", "knows_possible_losses")],
           ("staff_violation", "no"), ("sales_conduct", "none"), ("suggestions", "服务很好，谢谢。")]
GOAL_RATIO = 0.40
GOAL_P99_MS = 150.0
REQUESTS_PER_PATH = 6


def prepare(url: str, count: int) -> list[str]:
    """Publish `suitability`, create `count` clients with an invitation each; return the link paths."""
    from flask import url_for

    from app import create_app
    from app.clients.models import Client, RiskLevel
    from app.definitions.service import publish_text
    from app.extensions import db
    from app.reviews import service
    from app.schema import create_schema

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": [SECRET], "SERVER_NAME": "bench.invalid",
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        create_schema()
        source = (ROOT / "questionnaires" / "builtin" / "suitability.yaml").read_text(encoding="utf-8")
        publish_text(source, "bench")
        db.session.add_all(Client(account=f"B{n:07d}", name=register_name(n), phone="13912345678", id_last4="123X",
                                  birth_date=date(1955, 3, 8), risk_level=RiskLevel.C3) for n in range(count))
        db.session.commit()
        public_ids = []
        for n in range(count):
            req = service.InvitationRequest(client_account=f"B{n:07d}", questionnaire_key="suitability",
                                            context={"product_name": "稳健理财1号", "product_risk": "R3"})
            public_ids.append(service.create_invitation(req, "bench").public_id)
            if n % 500 == 499:
                db.session.commit()
        db.session.commit()
        signer = service.link_signer()
        with app.test_request_context():
            paths = [url_for("respond.form", token=signer.sign(pid)) for pid in public_ids]
        db.engine.dispose()
    return paths


def walk_in_process(call, path: str, answers: list = ANSWERS) -> None:
    """The path's six requests, each through `call(kind, method, url, expected_status, data=None)`,
    which sends it (Flask's test client) and returns the page's text."""
    from werkzeug.datastructures import MultiDict

    call("1 GET link (303)", "GET", path, 303)
    page = call("2 GET identity", "GET", path + "/identity", 200)
    call("3 POST identity (303)", "POST", path + "/identity", 303,
         {"csrf_token": CSRF_RE.search(page).group(1), "answer": "123x"})
    page = call("4 GET form", "GET", path, 200)
    call("5 POST answers (303)", "POST", path, 303,
         MultiDict([("csrf_token", CSRF_RE.search(page).group(1)), ("_action", "submit"), *answers]))
    call("6 GET receipt", "GET", path + "/receipt", 200)


# The step names of a captured path, in walk_in_process's order; the ceiling server serves them.
CAPTURED_STEPS = ("link", "identity", "identity_post", "form", "submit", "receipt")
COMPUTED_HEADERS = {"content-length", "date", "server", "location"}  # a server sets these per response


def capture_path(app, path: str, answers: list = ANSWERS) -> dict:
    """One invitation's path through the real app: {step: {status, headers, body}} as each was sent,
    and the session cookie that the identity answer set ("verified_cookie")."""
    client, sent = app.test_client(), []

    def call(kind, method, url, expected, data=None):
        resp = client.open(url, method=method, data=data)
        if resp.status_code != expected:
            raise RuntimeError(f"the real path answered {kind} with {resp.status_code}, not {expected}")
        sent.append({"status": resp.status_code, "body": resp.get_data(as_text=True),
                     "headers": [(k, v) for k, v in resp.headers.items() if k.lower() not in COMPUTED_HEADERS]})
        return sent[-1]["body"]

    walk_in_process(call, path, answers)
    steps = dict(zip(CAPTURED_STEPS, sent))
    cookie = next(v for k, v in steps["identity_post"]["headers"] if k.lower() == "set-cookie")
    return {**steps, "verified_cookie": cookie.split(";", 1)[0].split("=", 1)[1]}


def capture_responses(url: str, path: str) -> dict:
    """The real app's six responses for one spare invitation, as the ceiling server serves them again."""
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": [SECRET], "RATELIMIT_ENABLED": False})
    steps = capture_path(app, path)
    with app.app_context():
        db.engine.dispose()
    return steps


class Recorder:
    def __init__(self):
        self.latencies = defaultdict(list)
        self.errors = defaultdict(int)

    def add(self, kind: str, seconds: float, status: int, expected: int):
        self.latencies[kind].append(seconds)
        if status != expected:
            self.errors[f"{kind}: HTTP {status}"] += 1

    def all(self) -> list[float]:
        return [x for values in self.latencies.values() for x in values]


async def timed(session, rec: Recorder, kind: str, method: str, url: str, expected: int, data=None) -> str:
    start = time.perf_counter()
    async with session.request(method, url, data=data, allow_redirects=False) as resp:
        body = await resp.text()
    rec.add(kind, time.perf_counter() - start, resp.status, expected)
    return body


async def client_path(session, base: str, path: str, rec: Recorder) -> None:
    """One client: open the link, prove identity, open the form, submit, see the receipt."""
    session.cookie_jar.clear()  # a new phone, a new session (and, by default, a new connection: see drive)
    link = base + path
    await timed(session, rec, "1 GET link (303)", "GET", link, 303)
    page = await timed(session, rec, "2 GET identity", "GET", link + "/identity", 200)
    token = CSRF_RE.search(page).group(1)
    await timed(session, rec, "3 POST identity (303)", "POST", link + "/identity", 303,
                data={"csrf_token": token, "answer": "123x"})
    page = await timed(session, rec, "4 GET form", "GET", link, 200)
    token = CSRF_RE.search(page).group(1)
    await timed(session, rec, "5 POST answers (303)", "POST", link, 303,
                data=[("csrf_token", token), ("_action", "submit"), *ANSWERS])
    await timed(session, rec, "6 GET receipt", "GET", link + "/receipt", 200)


class Window:
    """What the timed part of a run cost: wall time and CPU, from its first timed job to the end."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.start = None

    def open(self) -> None:
        self.start = time.perf_counter()
        self.cpu0, self.own0, self.busy0 = cpu_seconds(self.pids), time.process_time(), machine_busy_seconds()

    def close(self) -> dict:
        wall = time.perf_counter() - self.start
        server = cpu_seconds(self.pids) - self.cpu0
        own = time.process_time() - self.own0
        return {"wall": wall, "server": server, "own": own, "other": machine_busy_seconds() - self.busy0 - server - own}


def phone_addresses():
    """Loopback addresses, one per phone: 127.0.0.2, 127.0.0.3, … (127.0.0.1 stays the server's)."""
    n = 1
    while True:
        n += 1
        yield f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


async def drive(concurrency: int, warmup: list, timed: list, run_one, window: Window, stagger: float,
                connection_per_job: bool = True, addresses=None) -> None:
    """Run the warm-up jobs, then the timed ones, with `concurrency` simulated clients in one go.

    Each job is one phone: it opens its own connection, and keeps it for the job's requests. With
    `connection_per_job` False a simulated client keeps one connection for all its jobs, which
    gunicorn's gthread worker pins to the process that accepted it: when all clients connect at
    once, one worker may take most of them and the other idles for the whole run (seen: 33 to 0,
    half the throughput; docs/perf-client.md, sixth round). Client i starts i × `stagger` seconds late
    and the clients run on from the warm-up into the timed jobs without stopping: started at the
    same instant, they would stay in lockstep (a FIFO server serves them round-robin, so every
    client would be at the same step of the path at the same time, the 20-question form and the
    submit all at once); phones do not arrive like that. --stagger 0 measures that convoy.
    """
    import aiohttp

    queue = asyncio.Queue()
    for job in warmup:
        queue.put_nowait((job, False))
    for job in timed:
        queue.put_nowait((job, True))

    def phone() -> aiohttp.ClientSession:
        jar = aiohttp.CookieJar(unsafe=True)  # unsafe: keep cookies for an IP address host
        local_addr = (next(addresses), 0) if addresses else None  # with rate limits: a phone, an address
        return aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(limit=1, local_addr=local_addr))

    async def worker(n: int):
        await asyncio.sleep(n * stagger)
        session = phone()
        try:
            while not queue.empty():
                job, is_timed = queue.get_nowait()
                if is_timed and window.start is None:
                    window.open()
                await run_one(session, job, is_timed)
                if connection_per_job:
                    await session.close()
                    session = phone()
        finally:
            await session.close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (from /proc), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, IndexError):
            pass
    return total / ticks


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def start_profiler(pids: list[int], out_dir: Path, label: str) -> list[subprocess.Popen]:
    out_dir.mkdir(parents=True, exist_ok=True)
    py_spy = str(Path(PYTHON).with_name("py-spy"))
    return [subprocess.Popen([py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                              "--output", str(out_dir / f"{label}-{pid}.txt"), "--nonblocking", "--idle"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]


def print_table(title: str, rec: Recorder, wall: float, paths: int | None) -> dict:
    lat = summary(rec.all())
    count = len(rec.all())
    rps = count / wall
    print(f"\n  {title}: {count} requests in {wall:.1f} s = {rps:.0f} req/s"
          + (f", {paths / wall:.1f} paths/s" if paths else ""))
    print(f"    {'request':<24}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind in sorted(rec.latencies):
        s = summary(rec.latencies[kind])
        print(f"    {kind:<24}{len(rec.latencies[kind]):>6}{s['p50']:>9.1f}{s['p95']:>9.1f}{s['p99']:>9.1f}{s['max']:>9.1f}")
    print(f"    {'all':<24}{count:>6}{lat['p50']:>9.1f}{lat['p95']:>9.1f}{lat['p99']:>9.1f}{lat['max']:>9.1f}")
    if rec.errors:
        print(f"    UNEXPECTED STATUSES: {dict(rec.errors)}")
    return {"rps": rps, "p99": lat["p99"], "errors": sum(rec.errors.values())}


def print_cost(cost: dict, requests: int) -> None:
    print(f"    CPU: server {cost['server']:.1f} s, load generator {cost['own']:.1f} s, other processes "
          f"{cost['other']:.1f} s (PostgreSQL and anything else running), of {(os.cpu_count() or 1) * cost['wall']:.1f} "
          f"core-seconds; server CPU per request {cost['server'] / requests * 1000:.2f} ms")


@contextmanager
def serve(target: str, env: dict, tmp: Path, args):
    """gunicorn with the run's settings, behind nginx with --proxy nginx.

    Yields the URL the clients use, the processes whose CPU is the server's (nginx's included),
    and gunicorn's own (master first).
    """
    with gunicorn(target, env, args.workers, args.threads, tmp / "gunicorn.log", args.keep_alive,
                  args.worker_class) as (base, proc):
        app_pids = [proc.pid, *worker_pids(proc.pid)]
        if args.proxy == "none":
            yield base, app_pids, app_pids
            return
        with nginx(base, tmp, args.proxy_workers) as (proxy_base, proxy):
            yield proxy_base, [*app_pids, proxy.pid, *worker_pids(proxy.pid)], app_pids


def rate_limit_settings(storage: str) -> dict:
    """The served app's rate-limit settings: off, or a moving window in memory or in Redis."""
    if storage == "off":
        return {"RATELIMIT_ENABLED": "0"}
    # A prefix of the run's own, so that no count is left over from another run or program.
    return {"RATELIMIT_ENABLED": "1", "RATELIMIT_STRATEGY": "moving-window",
            "RATELIMIT_STORAGE_URI": RATE_LIMIT_STORAGE[storage], "RATELIMIT_KEY_PREFIX": f"bench-{os.urandom(4).hex()}"}


def addresses(args):
    """With rate limits on, every phone connects from an address of its own (phone_addresses)."""
    return phone_addresses() if args.rate_limits != "off" else None


def walk_served(target: str, env: dict, tmp: Path, args, paths: list, warmup: int, title: str,
                profile: str | None = None) -> dict:
    """Serve `target`, walk the client path through it with the run's clients, print its figures."""
    with serve(target, env, tmp, args) as (base, pids, app_pids):
        rec, unrecorded, window = Recorder(), Recorder(), Window(pids)
        profilers = start_profiler(app_pids[1:], Path(args.profile), profile) if profile else []
        asyncio.run(drive(args.concurrency, paths[:warmup], paths[warmup:],
                          lambda s, p, t: client_path(s, base, p, rec if t else unrecorded), window, args.stagger,
                          args.connections == "per-path", addresses(args)))
        cost = window.close()
        for p in profilers:
            p.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            p.wait()
        result = print_table(title, rec, cost["wall"], args.paths)
        print_cost(cost, len(rec.all()))
    return result


def bench_backend(backend: str, args) -> dict:
    print(f"\n== {backend} ==")
    with bench_database(backend) as (url, tmp):
        t0 = time.perf_counter()
        warmup = args.concurrency * 2
        *paths, spare = prepare(url, args.paths + warmup + 1)
        print(f"  prepared {len(paths)} invitations in {time.perf_counter() - t0:.1f} s ({tmp})")
        env = {"DATABASE_URL": url, "SECRET_KEYS": SECRET, "HUIFANG_INSTANCE": str(tmp),
               "PUBLIC_BASE_URL": "http://127.0.0.1", "PYTHONDONTWRITEBYTECODE": "1",
               "PROXY_COUNT": "1" if args.proxy == "nginx" else "0", **rate_limit_settings(args.rate_limits)}
        results = {}

        # (a) the real app
        results["real"] = walk_served("wsgi:app", env, tmp, args, paths, warmup, "real client path",
                                      profile=f"{backend}-real" if args.profile else None)

        # (b) the bare endpoint, same setup, same driver, same number of requests
        with serve("_client_common:bare_app", env, tmp, args) as (base, pids, _app_pids):
            rec, unrecorded, window = Recorder(), Recorder(), Window(pids)

            async def bare(session, _, is_timed):
                # as many requests on one connection as a path makes
                for _ in range(REQUESTS_PER_PATH):
                    await timed(session, rec if is_timed else unrecorded, "GET bare page", "GET", base + "/", 200)

            asyncio.run(drive(args.concurrency, range(warmup), range(args.paths), bare, window, args.stagger,
                              args.connections == "per-path", addresses(args)))
            cost = window.close()
            results["bare"] = print_table("bare Flask page", rec, cost["wall"], None)
            print_cost(cost, len(rec.all()))

        # (c) the ceiling: the real path's responses served again with no work (_ceiling_app)
        (tmp / "ceiling.json").write_text(json.dumps(capture_responses(url, spare)), encoding="utf-8")
        results["ceiling"] = walk_served("_ceiling_app:ceiling_app()",
                                         {**env, "CEILING_RESPONSES": str(tmp / "ceiling.json")}, tmp, args,
                                         paths, warmup, "ceiling: the same responses, canned, no work")

        ratio = results["real"]["rps"] / results["bare"]["rps"]
        ceiling = results["ceiling"]["rps"] / results["bare"]["rps"]
        ok_ratio, ok_p99 = ratio >= GOAL_RATIO, results["real"]["p99"] < GOAL_P99_MS
        print(f"\n  ratio real/bare requests/s: {ratio:.2f} (goal ≥ {GOAL_RATIO:.2f}) {'MET' if ok_ratio else 'MISSED'}")
        print(f"  ceiling/bare requests/s: {ceiling:.2f} (the most any server of these responses reaches here; "
              f"real/ceiling {results['real']['rps'] / results['ceiling']['rps']:.2f})")
        print(f"  real p99: {results['real']['p99']:.1f} ms (goal < {GOAL_P99_MS:.0f} ms) {'MET' if ok_p99 else 'MISSED'}")
        return {**results, "ratio": ratio, "ceiling": ceiling, "met": ok_ratio and ok_p99 and not results["real"]["errors"]}


def trivial_cpu_ms(app, url: str, count: int = 3000) -> float:
    """Median thread CPU of a GET through the test client, after a warm-up."""
    import statistics

    client = app.test_client()
    for _ in range(200):
        client.get(url)
    spent = []
    for _ in range(count):
        before = time.thread_time()
        assert client.get(url).status_code == 200
        spent.append(time.thread_time() - before)
    return statistics.median(spent) * 1000


# The packages --by-package adds up (first match on the function's file name); the rest is "other".
PACKAGES = ("sqlalchemy", "jinja2", "wtforms", "werkzeug", "flask_wtf", "flask_login", "flask_babel", "babel",
            "flask_limiter", "limits", "flask_sqlalchemy", "flask", "itsdangerous", "markupsafe", "psycopg",
            str(ROOT / "app"), str(ROOT / "questionnaires"), str(ROOT / "delivery"))


def print_by_package(profile, paths: int) -> None:
    """The profiled time per path and its share, by the package whose code ran it (its own time)."""
    import pstats

    totals = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in pstats.Stats(profile).stats.items():
        if filename == "~":
            name = f"builtin {function.strip('<>')[:40]}"
        else:
            name = next((p.replace(str(ROOT) + "/", "") for p in PACKAGES if p in filename), "other")
        totals[name] += own
    whole = sum(totals.values())
    print(f"    profiled: {whole * 1000 / paths:.2f} ms per path (cProfile's overhead included)")
    for name, own in sorted(totals.items(), key=lambda item: -item[1])[:15]:
        print(f"    {name:<45}{own * 1000 / paths:>8.2f} ms per path {100 * own / whole:>6.1f} %")


def inprocess(backend: str, count: int, rate_limits: str = "off", by_package: bool = False) -> None:
    """Sequential paths through the test client: thread CPU per request and SQL statements per request."""
    import statistics

    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db

    print(f"\n== {backend}, in process: {count} paths through the test client, one after another, "
          f"rate limits {rate_limits} ==")
    with bench_database(backend) as (url, _tmp):
        paths = prepare(url, count + 20)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": [SECRET], **rate_limit_settings(rate_limits),
                          "RATELIMIT_ENABLED": rate_limits != "off"})  # a bool here, where the server's env has "0"/"1"
        app.add_url_rule("/__bench_trivial", "bench_trivial", bare_page)  # a baseline, printed last
        statements = [0]
        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
        cpu, sql = defaultdict(list), defaultdict(list)
        profile = None

        def call(kind, method, url, expected, data=None):
            before_cpu, before_sql = time.thread_time(), statements[0]
            resp = client.open(url, method=method, data=data)
            cpu[kind].append(time.thread_time() - before_cpu)
            sql[kind].append(statements[0] - before_sql)
            assert resp.status_code == expected, (kind, resp.status_code)
            return resp.get_data(as_text=True)

        for n, (path, address) in enumerate(zip(paths, phone_addresses())):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = address  # a phone, an address (counted with --rate-limits)
            walk_in_process(call, path)
            if n == 19:  # warm-up done
                cpu.clear()
                sql.clear()
                if by_package:
                    import cProfile

                    profile = cProfile.Profile()
                    profile.enable()
        if profile is not None:
            profile.disable()
        print(f"    {'request':<24}{'CPU ms (median)':>17}{'SQL statements':>16}")
        for kind in sorted(cpu):
            print(f"    {kind:<24}{statistics.median(cpu[kind]) * 1000:>17.2f}{statistics.median(sql[kind]):>16.0f}")
        whole = [sum(values) for values in zip(*cpu.values())]
        print(f"    {'whole path':<24}{statistics.median(whole) * 1000:>17.2f}"
              f"{sum(statistics.median(v) for v in sql.values()):>16.0f}")
        # Two baselines through the same test client: what Flask alone costs, and what this
        # app's hooks (CSRF, locale, login, security headers, session) add to a trivial route.
        for label, baseline in (("bare Flask page", bare_app), ("trivial route, this app", app)):
            url = "/__bench_trivial" if baseline is app else "/"
            print(f"    {label:<24}{trivial_cpu_ms(baseline, url):>17.2f}{0:>16}")
        if profile is not None:
            print_by_package(profile, count)
        with app.app_context():
            db.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=1500, help="client paths to time (after a warm-up)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"),
                        help="gunicorn's worker class (both servers): sync, as behind a buffering proxy "
                             "(README, 'Serving a firm'), or gthread, as `make run` serves without one")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker (both servers)")
    parser.add_argument("--keep-alive", type=int, default=5, help="seconds; 0 closes each connection (both servers)")
    parser.add_argument("--stagger", type=float, default=0.01,
                        help="seconds between the starts of two simulated clients; 0 starts all at once (lockstep)")
    parser.add_argument("--connections", choices=("per-path", "per-client"), default="per-path",
                        help="per-path: every path (a new phone) opens its own connection; per-client: a simulated "
                             "client keeps one connection for all its paths (the earlier rounds)")
    parser.add_argument("--proxy", choices=("none", "nginx"), default="none",
                        help="nginx: put nginx in front of both servers, as the README's 'Serving a firm' does "
                             "(PROXY_COUNT=1); its CPU counts as the server's")
    parser.add_argument("--proxy-workers", default="auto",
                        help="nginx's worker_processes (with --proxy nginx); auto, as Debian's nginx.conf has it")
    parser.add_argument("--profile", metavar="DIR", help="record the real app's workers with py-spy (raw stacks)")
    parser.add_argument("--rate-limits", choices=("off", *RATE_LIMIT_STORAGE), default="off",
                        help="count the rate limits as a firm does (a moving window, in each worker's memory or in "
                             "Redis), every phone from an address of its own; off by default")
    parser.add_argument("--inprocess", type=int, metavar="N",
                        help="instead: N sequential paths through the test client; CPU and SQL statements per request")
    parser.add_argument("--by-package", action="store_true",
                        help="with --inprocess: profile the timed paths and print the time by library")
    args = parser.parse_args()
    if args.inprocess:
        for backend in args.backends.split(","):
            inprocess(backend, args.inprocess, args.rate_limits, args.by_package)
        return 0
    print(f"client path vs bare Flask: {args.paths} paths × {REQUESTS_PER_PATH} requests, {args.concurrency} "
          f"concurrent clients started {args.stagger * 1000:g} ms apart, a connection {args.connections}, "
          f"gunicorn {args.worker_class} {args.workers} workers × {args.threads} threads, "
          f"rate limits {args.rate_limits}"
          f"{f', behind nginx (worker_processes {args.proxy_workers})' if args.proxy == 'nginx' else ''}, "
          f"{os.cpu_count()} CPUs shared by server and load generator")
    outcomes = {backend: bench_backend(backend, args) for backend in args.backends.split(",")}
    print("\nsummary: " + "; ".join(
        f"{b}: ratio {o['ratio']:.2f} (ceiling {o['ceiling']:.2f}), p99 {o['real']['p99']:.0f} ms, {'goals met' if o['met'] else 'goals MISSED'}"
        for b, o in outcomes.items()))
    return 0 if all(o["met"] for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
