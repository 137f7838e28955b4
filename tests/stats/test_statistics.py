"""Statistics against hand-computed expectations (8.3.1): several versions, flags, unreached clients."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.reviews.models import Invitation
from app.stats import population as pop
from app.stats.population import FilterError, StatsFilter, parse_filter
from app.stats.service import summarize, yearly_summary
from tests.stats.builders import EXPECTED, at, build_population


def options(summary, qid):
    q = next(q for q in summary.questions if q.id == qid)
    return q, {o.value: o for o in q.options}


def test_targeted_reached_completed_and_rate(population):
    s = summarize(StatsFilter())
    assert (s.targeted, s.reached, s.completed) == (EXPECTED["targeted"], EXPECTED["reached"], EXPECTED["completed"])
    assert s.completion_rate == pytest.approx(0.7)


@pytest.mark.parametrize("qid", ["own", "channels", "risk_known"])
def test_answer_counts_per_option(population, qid):
    _q, opts = options(summarize(StatsFilter()), qid)
    assert {k: o.count for k, o in opts.items()} == EXPECTED[qid]


def test_rating_counts_every_point_of_the_scale(population):
    _q, opts = options(summarize(StatsFilter()), "sat")
    assert {k: o.count for k, o in opts.items()} == EXPECTED["sat"]


def test_share_is_of_clients_who_answered_the_question(population):
    q, opts = options(summarize(StatsFilter()), "risk_known")
    assert q.answered == EXPECTED["risk_known_answered"]
    assert opts["no"].share == pytest.approx(1 / 3)


def test_multiple_choice_shares_can_exceed_one_hundred_percent(population):
    _q, opts = options(summarize(StatsFilter()), "channels")
    assert sum(o.share for o in opts.values()) == pytest.approx(9 / 7)


def test_number_question_min_average_max(population):
    q, _ = options(summarize(StatsFilter()), "years")
    assert q.answered == EXPECTED["years_answered"]
    assert q.numeric == EXPECTED["years"]


def test_questions_line_up_by_id_and_name_the_versions_that_ask_them(population):
    s = summarize(StatsFilter())
    by_id = {q.id: q for q in s.questions}
    assert by_id["own"].versions == ["stats-q v1", "stats-q v2"]
    assert by_id["years"].versions == ["stats-q v1"]
    assert by_id["risk_known"].versions == ["stats-q v2"]
    assert by_id["own"].text["zh-CN"] == "请问账户是您本人操作吗？"  # the newest wording


def test_flagged_options_are_marked(population):
    _q, opts = options(summarize(StatsFilter()), "sat")
    assert [k for k, o in opts.items() if o.flagged] == [2, 1]


def test_exceptions_of_the_population_are_counted(population):
    s = summarize(StatsFilter())
    assert s.exceptions["total"] == EXPECTED["exceptions"]
    assert s.exceptions["by_severity"] == {"high": 2, "low": 2, "medium": 1}


@pytest.mark.parametrize("args, targeted, completed", [
    ({"branch": "北京分公司"}, 4, 3),
    ({"branch": "上海分公司"}, 6, 4),
    ({"channel": "app"}, 4, 3),
    ({"channel": "sms"}, 3, 2),
    ({"review_type": "suitability"}, 10, 7),
    ({"review_type": "new_account"}, 0, 0),
    ({"questionnaire": "stats-q"}, 10, 7),
])
def test_filters_narrow_the_population(population, args, targeted, completed):
    s = summarize(parse_filter(args))
    assert (s.targeted, s.completed) == (targeted, completed)


def test_version_filter_counts_only_that_version(population):
    v1, _v2, _ = population
    s = summarize(parse_filter({"version": str(v1.id)}))
    assert (s.targeted, s.reached, s.completed) == (6, 5, 4)
    assert [q.id for q in s.questions if q.id == "risk_known"] == []


def test_period_filter_uses_local_calendar_days(make_client, publish, make_invitation):
    build_population(make_client, publish, make_invitation, created_at=at(2025, 3, 31))
    inside = summarize(parse_filter({"from": "2025-03-31", "to": "2025-03-31"}))
    outside = summarize(parse_filter({"from": "2025-04-01", "to": "2025-04-30"}))
    assert (inside.targeted, outside.targeted) == (10, 0)


def test_filter_matching_nothing_is_an_empty_summary_not_an_error(population):
    s = summarize(parse_filter({"branch": "广州分公司"}))
    assert s.is_empty and s.questions == [] and s.completion_rate is None


@pytest.mark.parametrize("args, field", [
    ({"from": "2026-05-01", "to": "2026-04-01"}, "to"),
    ({"from": "yesterday"}, "from"),
    ({"channel": "pigeon"}, "channel"),
    ({"review_type": "x"}, "review_type"),
    ({"version": "v2"}, "version"),
    ({"campaign": "3"}, "campaign"),
])
def test_bad_filters_name_the_field(args, field):
    with pytest.raises(FilterError) as info:
        parse_filter(args)
    assert info.value.field == field


def test_reversed_range_message_says_to_swap(app):
    with pytest.raises(FilterError, match="swap the dates"):
        parse_filter({"from": "2026-05-01", "to": "2026-04-01"})


def test_campaign_filter_plugs_in_through_the_registered_source(population):
    _v1, _v2, invitations = population
    chosen = [inv.id for inv in invitations[:3]]
    pop.register_campaign_source(lambda cid: sa.select(Invitation.id).where(Invitation.id.in_(chosen)),
                                 names=lambda cid: f"测试活动{cid}")
    try:
        s = summarize(parse_filter({"campaign": "7"}))
    finally:
        pop.register_campaign_source(None)
    assert (s.targeted, s.completed, s.title) == (3, 3, "测试活动7")


def test_reached_definition_plugs_in(population):
    pop.register_reached(lambda: Invitation.channel == "app")
    try:
        s = summarize(StatsFilter())
    finally:
        pop.register_reached(None)
    assert s.reached == 4


def test_yearly_summary_puts_three_years_side_by_side(make_client, publish, make_invitation):
    build_population(make_client, publish, make_invitation, created_at=at(2024))
    ys = yearly_summary(2026)
    assert ys.years == [2024, 2025, 2026]
    assert (ys.totals[2024].targeted, ys.totals[2024].completed) == (10, 7)
    assert ys.totals[2025].targeted == 0 and ys.totals[2026].rate is None
    assert ys.by_channel["app"][2024].completed == 3
    assert ys.by_type["suitability"][2024].rate == pytest.approx(0.7)


def test_yearly_summary_counts_a_new_years_eve_review_in_the_local_year(make_client, publish, make_invitation):
    # 2025-12-31 17:00 UTC is 2026-01-01 01:00 in Shanghai.
    from datetime import datetime, timezone
    build_population(make_client, publish, make_invitation, created_at=datetime(2025, 12, 31, 17, tzinfo=timezone.utc))
    ys = yearly_summary(2026)
    assert (ys.totals[2025].targeted, ys.totals[2026].targeted) == (0, 10)


def test_statistics_do_not_load_responses_into_python(population):
    """The answer counts come from one aggregate statement over the responses."""
    statements = []

    def log(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", log)
    try:
        summarize(StatsFilter())
    finally:
        sa.event.remove(engine, "before_cursor_execute", log)
    response_reads = [s for s in statements if "FROM responses" in s or "FROM (SELECT" in s]
    assert statements and all("count(" in s.lower() or "min(" in s.lower() for s in response_reads)
    assert not any(s.lstrip().upper().startswith("SELECT RESPONSES.") for s in statements)
