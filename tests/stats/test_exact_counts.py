"""The statistics give exactly the counts a straightforward reading of Response.answers gives.

Generated data: three versions of one questionnaire (a question dropped and brought back, a new
option, a rating scale changed, conditional questions hidden by earlier answers), random answers
with flags, several branches, channels, review types and days; a client who moves branch.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.reviews import service as reviews
from app.reviews.models import Invitation, InvitationStatus, Response, ReviewException
from app.stats import service
from app.stats.population import StatsFilter, local_tz, parse_filter
from tests.stats.builders import publish_yaml

BASE = """
key: facts-q
title: {{zh-CN: 事实表测试, en: Facts test}}
review_type: suitability
identity_check: none
questions:
  - id: own
    type: yes_no
    text: {{zh-CN: 本人操作？, en: "Yourself?"}}
    options:
      - {{value: "yes", label: {{zh-CN: 是, en: "Yes"}}}}
      - {{value: "no", label: {{zh-CN: 否, en: "No"}}, flag: {{severity: high, label: {{zh-CN: 非本人, en: Not self}}}}}}
  - id: why
    type: single_choice
    show_if: 'own == "no"'
    text: {{zh-CN: 原因, en: Why}}
    options:
      - {{value: family, label: {{zh-CN: 家人, en: Family}}}}
      - {{value: staff, label: {{zh-CN: 员工, en: Staff}}, flag: {{severity: high, label: {{zh-CN: 员工代操作, en: Staff}}}}}}
  - id: agree
    type: consent
    show_if: 'own == "yes"'
    text: {{zh-CN: 同意, en: Agree}}
  - id: topics
    type: multiple_choice
    required: false
    text: {{zh-CN: 关注, en: Topics}}
    options:
{topics}
  - id: sat
    type: rating
    text: {{zh-CN: 满意度, en: Satisfaction}}
    scale: {scale}
    flag_at_or_below: {{value: 2, severity: low, label: {{zh-CN: 不满意, en: Dissatisfied}}}}
{years}  - id: since
    type: date
    required: false
    text: {{zh-CN: 开户日期, en: Opened on}}
  - id: note
    type: text
    required: false
    text: {{zh-CN: 建议, en: Suggestions}}
"""
TOPIC = "      - {{value: {0}, label: {{zh-CN: {0}, en: {0}}}}}\n"
YEARS = """  - id: years
    type: number
    required: false
    text: {zh-CN: 年限, en: Years}
    min: 0
    max: 80
"""
VERSIONS = [
    dict(topics="".join(TOPIC.format(t) for t in ("fees", "risk", "returns")), scale=5, years=YEARS),
    dict(topics="".join(TOPIC.format(t) for t in ("fees", "risk", "returns", "tax")), scale=5, years=""),
    dict(topics="".join(TOPIC.format(t) for t in ("fees", "risk", "returns", "tax")), scale=10, years=YEARS),
]
BRANCHES = ["上海分公司", "北京分公司", "深圳分公司"]
CHANNELS = ["sms", "email", "app", "letter"]
TYPES = ["suitability", "abnormal"]
DAY0 = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)  # noon in Shanghai


def random_answers(rng: random.Random, definition: dict) -> dict:
    """Raw form answers; the validator drops what a hidden question was given."""
    answers: dict = {"own": rng.choice(["yes", "yes", "yes", "no"])}
    answers["why"] = rng.choice(["family", "staff"])  # hidden (and dropped) unless own == no
    answers["agree"] = "true"
    if rng.random() < 0.8:
        options = [o["value"] for q in definition["questions"] if q["id"] == "topics" for o in q["options"]]
        answers["topics"] = rng.sample(options, rng.randint(1, len(options)))
    scale = next(q.get("scale", 5) for q in definition["questions"] if q["id"] == "sat")
    answers["sat"] = str(rng.randint(1, scale))
    if any(q["id"] == "years" for q in definition["questions"]) and rng.random() < 0.7:
        answers["years"] = str(rng.choice([0, 1, 2.5, 7, 13, 40]))
    if rng.random() < 0.5:
        answers["since"] = (date(2020, 1, 1) + timedelta(days=rng.randint(0, 2000))).isoformat()
    if rng.random() < 0.4:
        answers["note"] = rng.choice(["很好", "", "  ", "希望简化流程"])
    return answers


@pytest.fixture
def generated(app, make_client, make_invitation):
    """90 invitations over 3 versions, ~75 answered; one client moves branch after answering."""
    rng = random.Random(20261124)
    versions = [publish_yaml(BASE.format(**v)) for v in VERSIONS]
    answered = []
    for n in range(90):
        version = versions[n % 3]
        client = make_client(branch=BRANCHES[n % len(BRANCHES)], servicing_staff_code="S9")
        inv = make_invitation(client=client, version=version, context={}, channel=CHANNELS[n % 4],
                              review_type=TYPES[(n // 3) % 2])
        db.session.get(Invitation, inv.id).created_at = DAY0 + timedelta(days=n % 40, hours=rng.choice([-6, 0, 13]))
        db.session.commit()
        if rng.random() < 0.85:
            reviews.submit_response(inv, random_answers(rng, version.definition), "zh-CN")
            answered.append(inv)
        db.session.commit()
    answered[0].client.branch = "广州分公司"  # re-imported into another branch after answering
    db.session.commit()
    return versions


def recompute(f: StatsFilter, questions) -> dict:
    """Counts straight from Response.answers in Python, filtering invitations attribute by attribute."""
    tz = local_tz()
    chosen = []
    for response in db.session.scalars(sa.select(Response)):
        inv = response.invitation
        day = inv.created_at.astimezone(tz).date()
        if inv.status is InvitationStatus.CANCELLED \
                or (f.version_id and inv.version_id != f.version_id) \
                or (f.questionnaire and inv.version.questionnaire.key != f.questionnaire) \
                or (f.review_type and inv.review_type != f.review_type) \
                or (f.channel and inv.channel != f.channel) \
                or (f.branch and inv.client.branch != f.branch) \
                or (f.date_from and day < f.date_from) or (f.date_to and day > f.date_to):
            continue
        chosen.append(response.answers)
    result = {}
    for q in questions:
        given = [a[q.id] for a in chosen if a.get(q.id) is not None]
        options = {}
        for option in q.options:
            if q.type == "multiple_choice":
                options[option.value] = sum(option.value in (g if isinstance(g, list) else [g]) for g in given)
            else:
                options[option.value] = sum(g == option.value and type(g) is type(option.value) for g in given)
        numeric = None
        if q.type == "number":
            nums = [float(g) for g in given]
            numeric = {"min": round(min(nums), 2) if nums else None, "avg": round(sum(nums) / len(nums), 2) if nums else None,
                       "max": round(max(nums), 2) if nums else None}
        result[q.id] = {"answered": len(given), "options": options, "numeric": numeric}
    return result


def observed(questions) -> dict:
    return {q.id: {"answered": q.answered, "options": {o.value: o.count for o in q.options}, "numeric": q.numeric}
            for q in questions}


FILTERS = [
    {}, {"version": 1}, {"version": 2}, {"version": 3}, {"questionnaire": "facts-q"}, {"channel": "sms"},
    {"review_type": "abnormal"}, {"branch": "北京分公司"}, {"branch": "广州分公司"},
    {"from": "2026-03-05", "to": "2026-03-20"}, {"to": "2026-03-01"},
    {"branch": "上海分公司", "channel": "app", "from": "2026-03-10"},
]


def _filter(args: dict, versions) -> StatsFilter:
    args = dict(args)
    if "version" in args:
        args["version"] = str(versions[args["version"] - 1].id)
    return parse_filter(args)


def test_answer_counts_equal_a_recomputation_from_the_answers_for_every_filter(generated):
    # One generated data set (building it is the slow part) checked under every filter.
    for args in FILTERS:
        f = _filter(args, generated)
        summary = service.summarize(f)
        assert summary.completed > 0 or args.get("to") == "2026-03-01", args
        assert observed(summary.questions) == recompute(f, summary.questions), args


def test_generated_data_covers_hidden_questions_flags_and_all_versions(generated):
    rows = db.session.scalars(sa.select(Response)).all()
    assert {r.version_id for r in rows} == {v.id for v in generated}
    assert any("why" not in r.answers for r in rows) and any("agree" not in r.answers for r in rows)
    assert any(len(r.answers.get("topics") or []) > 1 for r in rows)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewException)) > 5


def test_questions_are_lined_up_by_id_across_versions(generated):
    summary = service.summarize(StatsFilter())
    years = next(q for q in summary.questions if q.id == "years")
    sat = next(q for q in summary.questions if q.id == "sat")
    assert len(years.versions) == 2 and len(sat.versions) == 3
    assert [o.value for o in sat.options][:2] == [10, 9]  # the newest scale first, older values kept


def test_statistics_follow_a_client_who_moved_branch(generated):
    moved = service.summarize(parse_filter({"branch": "广州分公司"}))
    assert moved.completed == 1 and sum(q.answered for q in moved.questions if q.id == "own") == 1
