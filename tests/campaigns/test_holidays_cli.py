"""`flask campaigns holidays load FILE` through the CLI runner: a dated, sourced holiday file changes
the trading-day deadlines computed afterwards (7.3.3 b, 9.1); a malformed file is refused naming the
entry and changes nothing."""
import json
from datetime import date

import pytest
import sqlalchemy as sa

from app.campaigns.models import CampaignTarget, TradingHoliday
from app.extensions import db
from delivery import calendar as cal
from tests.campaigns.conftest import SHANGHAI, at

NOW = at("2027-02-20 10:00")
SOURCE = "国务院办公厅关于2027年部分节假日安排的通知; 上交所/深交所 2027 年休市安排"


def holiday_file(tmp_path, closed, year="2027", source=SOURCE, name="holidays.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"years": {year: {"status": "official", "source": source, "closed": closed}}},
                               ensure_ascii=False), encoding="utf-8")
    return path


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["campaigns", "holidays", *map(str, args)])
    db.session.expire_all()
    return result


@pytest.fixture
def abnormal_campaign(make_campaign, publish):
    return make_campaign(version=publish("abnormal"), context={}, channel_plan=["sms"], now=NOW)


def start_by_of(campaign, client):
    """The abnormal review's start-by day (Beijing) of a target added now."""
    from app.campaigns.service import add_target_rows

    # detected on Monday 1 March 2027, 10:00 Beijing
    add_target_rows(campaign, [{"account": client.account, "event_at": "2027-03-01T10:00:00+08:00"}], "test", "api",
                    now=NOW)
    db.session.commit()
    target = db.session.scalars(sa.select(CampaignTarget).where(CampaignTarget.client_id == client.id)).one()
    return target.start_by.astimezone(SHANGHAI).date(), target.deadline


def holiday_rows():
    return db.session.execute(sa.select(TradingHoliday.day, TradingHoliday.name, TradingHoliday.source)
                              .order_by(TradingHoliday.day)).all()


def test_a_loaded_holiday_moves_the_abnormal_start_by_day_of_targets_added_afterwards(
        app, tmp_path, abnormal_campaign, make_client):
    before, deadline_before = start_by_of(abnormal_campaign, make_client())
    assert before == date(2027, 3, 2)  # Mon 1 and Tue 2 March are the two trading days
    path = holiday_file(tmp_path, [["2027-01-01", "元旦"], ["2027-03-02", "临时休市 Exchange closure"]])
    result = cli(app, "load", path)
    assert result.exit_code == 0, result.output
    assert "loaded years: 2027" in result.output
    after, deadline_after = start_by_of(abnormal_campaign, make_client())
    assert after == date(2027, 3, 3)  # 2 March is now closed: Mon 1 and Wed 3
    assert deadline_after - deadline_before == cal.end_of_day(date(2027, 3, 3)) - cal.end_of_day(date(2027, 3, 2))


def test_loaded_year_replaces_the_shipped_provisional_year_and_is_listed(app, tmp_path):
    path = holiday_file(tmp_path, [["2027-03-02", "临时休市 Exchange closure"]])
    assert cli(app, "load", path).exit_code == 0
    listed = cli(app, "list", 2027)
    assert listed.exit_code == 0
    assert listed.output.splitlines() == ["2027-03-02  临时休市 Exchange closure"]
    assert [(d, s) for d, _n, s in holiday_rows()] == [(date(2027, 3, 2), SOURCE)]


@pytest.mark.parametrize("closed, year, source, message", [
    ([["2027-01-01", "元旦"], ["2027-02-30", "春节"]], "2027", SOURCE, "year 2027, entry 2: '2027-02-30' is not a date"),
    ([["2028-01-03", "x"]], "2027", SOURCE, "year 2027, entry 1: 2028-01-03 is not in 2027"),
    ([["2027-03-02"]], "2027", SOURCE, "year 2027, entry 1: must be"),
    ([["2027-03-02", "x"]], "2027", "", "year 2027: needs a 'source'"),
    ([["2027-03-02", "x"]], "27", SOURCE, "year '27': must be four digits"),
])
def test_a_malformed_holiday_file_is_refused_naming_the_entry_and_changes_nothing(
        app, tmp_path, abnormal_campaign, make_client, closed, year, source, message):
    assert cli(app, "load", holiday_file(tmp_path, [["2027-03-02", "临时休市"]], name="good.json")).exit_code == 0
    rows = holiday_rows()
    result = cli(app, "load", holiday_file(tmp_path, closed, year=year, source=source))
    assert result.exit_code == 1
    assert "nothing loaded" in result.output and message in result.output
    assert holiday_rows() == rows
    assert start_by_of(abnormal_campaign, make_client())[0] == date(2027, 3, 3)  # the good file still rules


def test_a_file_that_is_not_json_is_refused_naming_the_line(app, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"years": {\n  "2027": {"source": "x", "closed": [["2027-03-02", "x"],]}\n}}', encoding="utf-8")
    result = cli(app, "load", path)
    assert result.exit_code == 1 and "not JSON" in result.output and "line 2" in result.output
    assert holiday_rows() == []


def test_one_bad_year_means_no_year_of_the_file_is_loaded(app, tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"years": {
        "2027": {"source": SOURCE, "closed": [["2027-03-02", "x"]]},
        "2028": {"source": SOURCE, "closed": [["2028-02-31", "x"]]}}}), encoding="utf-8")
    result = cli(app, "load", path)
    assert result.exit_code == 1 and "year 2028, entry 1" in result.output
    assert holiday_rows() == []


def test_a_missing_file_is_refused(app, tmp_path):
    result = cli(app, "load", tmp_path / "nope.json")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert holiday_rows() == []


@pytest.mark.parametrize("first_sent, expected", [
    (None, 1),                     # never sent, and the start-by day is long past
    ("2027-03-02 15:00", 0),       # sent on the last allowed day (9.1: "within" includes it)
    ("2027-03-05 09:00", 1),       # first sent three days late
])
def test_progress_counts_abnormal_reviews_started_after_the_two_trading_day_limit(
        app, abnormal_campaign, make_client, first_sent, expected):
    from app.campaigns.service import progress

    start_by_of(abnormal_campaign, make_client())
    target = db.session.scalars(sa.select(CampaignTarget)).one()
    target.first_sent_at = at(first_sent) if first_sent else None
    db.session.commit()
    assert progress(abnormal_campaign, now=at("2027-03-08 09:00"))["late_starts"] == expected
