"""Benchmark: statistics of a campaign of 1,000,000 responses on PostgreSQL (goal: under 2 s).

Creates its own database on 127.0.0.1:5432 (TEST_POSTGRES_URL as in the tests), fills it with
set-based SQL (generate_series; no ORM row by row), then times app.stats.service.summarize for the
whole campaign and for a filtered slice, and streams a CSV export of all rows measuring peak memory.
Usage: .venv/bin/python benchmarks/bench_stats.py [--responses 1000000] [--keep]
"""
from __future__ import annotations

import argparse
import os
import resource
import secrets
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
GOAL_SECONDS = 2.0

DEFINITION = """
key: bench
title: {zh-CN: 基准问卷, en: Benchmark}
review_type: suitability
identity_check: none
questions:
""" + "".join(f"""  - id: yn{i}
    type: yes_no
    text: {{zh-CN: 问题{i}, en: Question {i}}}
    options:
      - {{value: "yes", label: {{zh-CN: 是, en: "Yes"}}}}
      - {{value: "no", label: {{zh-CN: 否, en: "No"}}, flag: {{severity: high, label: {{zh-CN: 异常{i}, en: Flag {i}}}}}}}
""" for i in range(1, 7)) + """  - id: source
    type: single_choice
    text: {zh-CN: 了解渠道, en: Source}
    options:
      - {value: app, label: {zh-CN: 应用, en: App}}
      - {value: branch, label: {zh-CN: 营业部, en: Branch}}
      - {value: staff, label: {zh-CN: 工作人员, en: Staff}}
      - {value: web, label: {zh-CN: 网站, en: Web}}
  - id: topics
    type: multiple_choice
    text: {zh-CN: 关注内容, en: Topics}
    options:
      - {value: fees, label: {zh-CN: 费用, en: Fees}}
      - {value: risk, label: {zh-CN: 风险, en: Risk}}
      - {value: returns, label: {zh-CN: 收益, en: Returns}}
  - id: sat
    type: rating
    text: {zh-CN: 满意度, en: Satisfaction}
    scale: 5
  - id: years
    type: number
    text: {zh-CN: 投资年限, en: Years}
    min: 0
    max: 80
"""


def fill(n: int, version_id: int) -> None:
    """Clients, invitations (10 % never answered) and n responses, set-based."""
    total = int(n / 0.9)
    statements = [
        f"""INSERT INTO clients (account, name, branch, servicing_staff_code, created_at, updated_at)
            SELECT 'B' || g, '客户' || g, (ARRAY['上海分公司','北京分公司','深圳分公司','广州分公司'])[1 + g % 4],
                   'S' || (g % 500), now(), now()
            FROM generate_series(1, {total}) g""",
        f"""INSERT INTO invitations (public_id, short_code, client_id, version_id, review_type, channel, context,
                                     status, expires_at, created_at, created_by, identity_failures,
                                     first_opened_at, completed_at)
            SELECT md5('p' || c.id), substr(md5('s' || c.id), 1, 16), c.id, {version_id}, 'suitability',
                   (ARRAY['sms','email','app','link','letter'])[1 + c.id % 5], '{{}}',
                   CASE WHEN c.id <= {n} THEN 'completed' ELSE 'pending' END,
                   now() + interval '30 days', timestamp '2026-06-01' + (c.id % 150) * interval '1 day', 'bench', 0,
                   CASE WHEN c.id <= {n} THEN now() END, CASE WHEN c.id <= {n} THEN now() END
            FROM clients c""",
        f"""INSERT INTO responses (invitation_id, version_id, version_hash, answers, channel, lang, submitted_at,
                                   receipt_no, flagged)
            SELECT i.id, {version_id}, 'sha256:bench',
                   jsonb_build_object(
                     'yn1', CASE WHEN r1 < 0.97 THEN 'yes' ELSE 'no' END,
                     'yn2', CASE WHEN r2 < 0.95 THEN 'yes' ELSE 'no' END,
                     'yn3', CASE WHEN r3 < 0.99 THEN 'yes' ELSE 'no' END,
                     'yn4', CASE WHEN r1 > 0.02 THEN 'yes' ELSE 'no' END,
                     'yn5', CASE WHEN r2 > 0.10 THEN 'yes' ELSE 'no' END,
                     'yn6', CASE WHEN r3 > 0.05 THEN 'yes' ELSE 'no' END,
                     'source', (ARRAY['app','branch','staff','web'])[1 + (i.id % 4)],
                     'topics', CASE i.id % 4 WHEN 0 THEN '["fees"]'::jsonb WHEN 1 THEN '["fees","risk"]'::jsonb
                                             WHEN 2 THEN '["returns"]'::jsonb ELSE '["risk","returns"]'::jsonb END,
                     'sat', 1 + (i.id % 5), 'years', i.id % 40),
                   i.channel, 'zh-CN', now(), 'HF' || i.id, false
            FROM (SELECT id, channel, random() r1, random() r2, random() r3 FROM invitations
                  WHERE status = 'completed') i""",
        "ANALYZE",
    ]
    for sql in statements:
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql))


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--skip-export", action="store_true", help="do not time the CSV export")
    args = parser.parse_args()
    name = f"huifang_bench_{secrets.token_hex(4)}"
    print(f"database {name}")
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEYS": ["bench"], "SERVER_NAME": "localhost"})
    try:
        with app.app_context():
            from app.definitions.service import publish_text
            from app.schema import create_schema
            from app.stats import export
            from app.stats.population import StatsFilter, parse_filter
            from app.stats.service import summarize

            create_schema()
            version, _ = publish_text(DEFINITION, "bench")
            db.session.commit()
            started = time.perf_counter()
            fill(args.responses, version.id)
            print(f"generated {args.responses:,} responses in {time.perf_counter() - started:.1f} s")
            seconds, s = timed(lambda: summarize(StatsFilter(version_id=version.id)))
            print(f"summary, whole campaign: {seconds:.2f} s (targeted {s.targeted:,}, completed {s.completed:,}, "
                  f"{len(s.questions)} questions, {sum(len(q.options) for q in s.questions)} answer counts)"
                  f" — goal {GOAL_SECONDS} s, ratio {seconds / GOAL_SECONDS:.2f} of the goal")
            f = parse_filter({"branch": "上海分公司", "channel": "sms", "from": "2026-06-01", "to": "2026-08-31"})
            seconds2, s2 = timed(lambda: summarize(f))
            print(f"summary, branch+channel+period slice: {seconds2:.2f} s (targeted {s2.targeted:,})")
            if args.skip_export:
                return
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            size = 0
            with app.test_request_context():
                for chunk in export.stream_csv(export.ExportPlan(StatsFilter(version_id=version.id), "zh-CN")):
                    size += len(chunk)
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(f"CSV export of {s.completed:,} rows: {time.perf_counter() - started:.1f} s, {size / 1e6:.0f} MB, "
                  f"peak RSS {rss_before / 1024:.0f} MB before -> {rss_after / 1024:.0f} MB after")
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
