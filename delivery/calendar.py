"""Mainland exchange trading days (SSE/SZSE) and the review deadlines built on them (7.3.3, 9.1).

Plain Python: a calendar is a set of closed weekdays; weekends are always closed (the exchanges
do not trade on the make-up working weekends of the State Council notices either). The shipped
data file (delivery/data/cn_exchange_holidays.json) is dated and sourced; an admin loads a newer
year into the database with `flask campaigns holidays load FILE` without a release, and loaded
years replace the file's days for those years.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable, Optional
from zoneinfo import ZoneInfo

DATA_FILE = Path(__file__).parent / "data" / "cn_exchange_holidays.json"
EXCHANGE_TZ = ZoneInfo("Asia/Shanghai")


class CalendarError(ValueError):
    """A holiday file that cannot be loaded; names the entry and the reason."""


@dataclass(frozen=True)
class HolidayYear:
    """One year's closed days with where they come from."""

    year: int
    status: str  # "official" or "provisional"
    source: str
    closed: dict[date, str]


def parse_holiday_file(text: str) -> list[HolidayYear]:
    """Read the JSON holiday format; every date must lie in its year and be a weekday."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarError(f"not JSON: {exc}") from None
    years = data.get("years") if isinstance(data, dict) else None
    if not isinstance(years, dict) or not years:
        raise CalendarError("the file must have a 'years' object")
    result = []
    for key, entry in sorted(years.items()):
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) == 4):
            raise CalendarError(f"year '{key}': must be four digits")
        if not isinstance(entry, dict) or not isinstance(entry.get("closed"), list):
            raise CalendarError(f"year {key}: needs a 'closed' list")
        if not entry.get("source"):
            raise CalendarError(f"year {key}: needs a 'source' (where the days come from)")
        closed: dict[date, str] = {}
        for i, item in enumerate(entry["closed"]):
            if not (isinstance(item, list) and len(item) == 2):
                raise CalendarError(f"year {key}, entry {i + 1}: must be [\"YYYY-MM-DD\", \"name\"]")
            try:
                day = date.fromisoformat(str(item[0]))
            except ValueError:
                raise CalendarError(f"year {key}, entry {i + 1}: '{item[0]}' is not a date") from None
            if day.year != int(key):
                raise CalendarError(f"year {key}, entry {i + 1}: {day} is not in {key}")
            closed[day] = str(item[1])
        result.append(HolidayYear(int(key), str(entry.get("status", "official")), str(entry["source"]), closed))
    return result


def shipped_years() -> list[HolidayYear]:
    """The years in the data file shipped with the release."""
    return parse_holiday_file(DATA_FILE.read_text(encoding="utf-8"))


@dataclass
class TradingCalendar:
    """Which days the mainland exchanges trade; unknown years count weekdays as trading days."""

    closed: dict[date, str] = field(default_factory=dict)
    known_years: set[int] = field(default_factory=set)

    @classmethod
    def from_years(cls, *groups: Iterable[HolidayYear]) -> "TradingCalendar":
        """Later groups replace earlier ones year by year (database over shipped file)."""
        by_year: dict[int, HolidayYear] = {}
        for group in groups:
            for year in group:
                by_year[year.year] = year
        cal = cls()
        for year in by_year.values():
            cal.closed.update(year.closed)
            cal.known_years.add(year.year)
        return cal

    def is_trading_day(self, day: date) -> bool:
        """Weekdays that are not exchange holidays."""
        return day.weekday() < 5 and day not in self.closed

    def nth_trading_day(self, start: date, n: int) -> date:
        """The n-th trading day counting from start, start itself included when it trades (9.1)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        day, count = start, 0
        while True:
            if self.is_trading_day(day):
                count += 1
                if count == n:
                    return day
            day += timedelta(days=1)


def end_of_day(day: date, tz: ZoneInfo = EXCHANGE_TZ) -> datetime:
    """The last moment of a local day, in UTC (deadlines are 'by the end of' a day)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(timezone.utc)


def local_date(moment: datetime, tz: ZoneInfo = EXCHANGE_TZ) -> date:
    """The local calendar day of an aware moment."""
    return moment.astimezone(tz).date()


def within_natural_days(start: datetime, days: int, tz: ZoneInfo = EXCHANGE_TZ) -> datetime:
    """'Within N natural days of' an event, the event's day counting as day 1 (9.1)."""
    return end_of_day(local_date(start, tz) + timedelta(days=days - 1), tz)


def within_trading_days(cal: TradingCalendar, start: datetime, days: int,
                        tz: ZoneInfo = EXCHANGE_TZ) -> datetime:
    """'Within N trading days of' an event, the event's day counting when it trades (9.1)."""
    return end_of_day(cal.nth_trading_day(local_date(start, tz), days), tz)


def end_of_year(moment: datetime, tz: ZoneInfo = EXCHANGE_TZ) -> datetime:
    """The end of the local calendar year the moment falls in."""
    return end_of_day(date(local_date(moment, tz).year, 12, 31), tz)


def in_quiet_hours(moment: datetime, tz_name: str, start: str, end: str) -> bool:
    """True when the local time of `moment` lies in [start, end) (a window may wrap midnight)."""
    local = moment.astimezone(ZoneInfo(tz_name)).time()
    qs, qe = time.fromisoformat(start), time.fromisoformat(end)
    if qs == qe:
        return False
    if qs < qe:
        return qs <= local < qe
    return local >= qs or local < qe


def quiet_hours_end(moment: datetime, tz_name: str, start: str, end: str) -> datetime:
    """The first moment after `moment` outside quiet hours (moment itself when already outside)."""
    if not in_quiet_hours(moment, tz_name, start, end):
        return moment
    tz = ZoneInfo(tz_name)
    local = moment.astimezone(tz)
    qe = time.fromisoformat(end)
    candidate = datetime.combine(local.date(), qe, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), qe, tzinfo=tz)
    return candidate.astimezone(timezone.utc)


def parse_hhmm(value: str, field_name: str) -> str:
    """Validate 'HH:MM'; return it normalized."""
    try:
        return time.fromisoformat(value).strftime("%H:%M")
    except (TypeError, ValueError):
        raise CalendarError(f"{field_name}: '{value}' is not a time as HH:MM") from None


def check_timezone(name: Optional[str]) -> str:
    """A valid IANA zone name, or CalendarError."""
    try:
        ZoneInfo(str(name))
    except Exception:  # noqa: BLE001 - zoneinfo raises several kinds
        raise CalendarError(f"unknown time zone '{name}'") from None
    return str(name)

