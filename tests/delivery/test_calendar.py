"""Trading days and deadlines across the Spring Festival and National Day (7.3.3, 9.1); quiet hours."""
from datetime import date, datetime, timedelta, timezone

import pytest

from delivery import calendar as cal

SH = timezone(timedelta(hours=8))
CAL = cal.TradingCalendar.from_years(cal.shipped_years())


@pytest.mark.parametrize("detected, deadline_day", [
    ("2026-02-13 15:00", date(2026, 2, 24)),  # Fri before Spring Festival: day 1 itself, day 2 after the break
    ("2026-02-16 09:00", date(2026, 2, 25)),  # detected during the break: 24th and 25th
    ("2026-09-30 10:00", date(2026, 10, 8)),  # eve of National Day: 30th, then Oct 8
    ("2026-10-03 10:00", date(2026, 10, 9)),  # inside National Day
    ("2025-01-27 10:00", date(2025, 2, 5)),  # 2025 Spring Festival
    ("2026-03-02 10:00", date(2026, 3, 3)),  # ordinary Monday: Mon and Tue
])
def test_abnormal_deadline_is_the_end_of_the_second_trading_day_counting_the_day_itself(detected, deadline_day):
    start = datetime.fromisoformat(detected).replace(tzinfo=SH)
    deadline = cal.within_trading_days(CAL, start, 2)
    assert deadline.astimezone(SH).date() == deadline_day
    assert deadline.astimezone(SH).time().hour == 23


@pytest.mark.parametrize("day", [date(2026, 2, 16), date(2026, 10, 1), date(2026, 2, 14), date(2026, 9, 20)])
def test_holidays_and_weekends_including_make_up_weekends_are_closed(day):
    assert not CAL.is_trading_day(day)


def test_new_permission_is_thirty_natural_days_with_the_grant_day_counted():
    grant = datetime(2026, 1, 1, 9, 0, tzinfo=SH)
    assert cal.within_natural_days(grant, 30).astimezone(SH).date() == date(2026, 1, 30)


def test_year_end_deadline_is_the_last_moment_of_december_31_local():
    end = cal.end_of_year(datetime(2026, 6, 1, tzinfo=SH))
    assert end.astimezone(SH).replace(tzinfo=None) == datetime(2026, 12, 31, 23, 59, 59)


@pytest.mark.parametrize("local, quiet", [("21:00", True), ("23:30", True), ("07:59", True), ("08:00", False),
                                          ("12:00", False), ("20:59", False)])
def test_quiet_hours_wrap_midnight(local, quiet):
    moment = datetime.fromisoformat(f"2026-03-02 {local}").replace(tzinfo=SH)
    assert cal.in_quiet_hours(moment, "Asia/Shanghai", "21:00", "08:00") is quiet


def test_quiet_hours_end_is_next_morning_in_the_clients_zone():
    moment = datetime(2026, 3, 2, 22, 30, tzinfo=SH)
    assert cal.quiet_hours_end(moment, "Asia/Shanghai", "21:00", "08:00") == datetime(2026, 3, 3, 8, 0, tzinfo=SH)


def test_quiet_hours_use_the_clients_own_time_zone():
    # 14:00 in Shanghai is 07:00 in London: quiet for a client living there.
    moment = datetime(2026, 3, 2, 14, 0, tzinfo=SH)
    assert cal.in_quiet_hours(moment, "Europe/London", "21:00", "08:00")


@pytest.mark.parametrize("text, message", [
    ("{", "not JSON"),
    ('{"years": {"2028": {"closed": [["2028-01-01", "x"]]}}}', "source"),
    ('{"years": {"2028": {"source": "s", "closed": [["2029-01-01", "x"]]}}}', "not in 2028"),
    ('{"years": {"2028": {"source": "s", "closed": [["2028-13-01", "x"]]}}}', "not a date"),
])
def test_bad_holiday_files_are_refused_with_the_reason(text, message):
    with pytest.raises(cal.CalendarError, match=message):
        cal.parse_holiday_file(text)
