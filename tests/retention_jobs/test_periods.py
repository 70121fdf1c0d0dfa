"""The retention arithmetic, defined in retention_jobs/periods.py, checked case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from retention_jobs.errors import PolicyError
from retention_jobs.periods import Period, add_months


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "count", "unit", "shown"),
    [
        ("90 days", 90, "days", "90 days"),
        ("1 day", 1, "days", "1 day"),
        ("2 years", 2, "years", "2 years"),
        ("1 Year", 1, "years", "1 year"),
        ("18months", 18, "months", "18 months"),
        ("  6 weeks ", 6, "weeks", "6 weeks"),
    ],
)
def test_parse(text: str, count: int, unit: str, shown: str) -> None:
    p = Period.parse(text)
    assert (p.count, p.unit, str(p)) == (count, unit, shown)


@pytest.mark.parametrize(
    "text",
    ["", "90", "days", "0 days", "-1 days", "1.5 years", "2 fortnights", "10000 days", "P2Y"],
)
def test_parse_rejects_with_key_and_value(text: str) -> None:
    with pytest.raises(PolicyError, match=r"retention\.classes\.x = .* is not a retention period"):
        Period.parse(text, key="retention.classes.x")


def test_days_and_weeks_are_exact_multiples_of_24_hours() -> None:
    start = utc(2026, 3, 28, 23, 30)  # a DST weekend in Europe: irrelevant in UTC
    assert Period(90, "days").add_to(start) - start == timedelta(days=90)
    assert Period(2, "weeks").add_to(start) == start + timedelta(days=14)


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        (utc(2026, 1, 15, 10), Period(1, "months"), utc(2026, 2, 15, 10)),
        (utc(2026, 1, 28, 23, 59), Period(1, "months"), utc(2026, 2, 28, 23, 59)),
        (utc(2026, 1, 29, 10), Period(1, "months"), utc(2026, 3, 1)),  # no 29 Feb: 1 March
        (utc(2026, 1, 31, 10), Period(1, "months"), utc(2026, 3, 1)),
        (utc(2028, 1, 29, 10), Period(1, "months"), utc(2028, 2, 29, 10)),  # leap year
        (utc(2026, 3, 31), Period(1, "months"), utc(2026, 5, 1)),
        (utc(2026, 12, 15), Period(1, "months"), utc(2027, 1, 15)),  # across the year end
        (utc(2026, 12, 31, 8), Period(2, "months"), utc(2027, 3, 1)),
        (utc(2026, 8, 31), Period(6, "months"), utc(2027, 3, 1)),
        (utc(2026, 1, 15, 10), Period(2, "years"), utc(2028, 1, 15, 10)),
        (utc(2028, 2, 29, 12), Period(1, "years"), utc(2029, 3, 1)),  # leap day, no 29 Feb
        (utc(2028, 2, 29, 12), Period(4, "years"), utc(2032, 2, 29, 12)),
        (utc(2026, 5, 1), Period(6, "years"), utc(2032, 5, 1)),
    ],
)
def test_calendar_months_and_years(start: datetime, period: Period, expected: datetime) -> None:
    assert period.add_to(start) == expected


def test_two_years_is_730_or_731_days_depending_on_29_february() -> None:
    assert Period(2, "years").add_to(utc(2026, 1, 1)) - utc(2026, 1, 1) == timedelta(days=730)
    assert Period(2, "years").add_to(utc(2027, 6, 1)) - utc(2027, 6, 1) == timedelta(days=731)


def test_other_zones_are_converted_to_utc_first() -> None:
    # 00:30 on 1 March at +02:00 is 22:30 on 28 February UTC: one month later is 28 March.
    start = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert Period(1, "months").add_to(start) == utc(2026, 3, 28, 22, 30)
    assert Period(1, "months").add_to(start).tzinfo == UTC


def test_naive_time_is_refused() -> None:
    with pytest.raises(PolicyError, match="naive datetime"):
        Period(1, "days").add_to(datetime(2026, 1, 1))


def test_beyond_year_9999_is_a_clear_error() -> None:
    with pytest.raises(PolicyError, match="beyond the year 9999"):
        Period(9999, "years").add_to(utc(2026, 1, 1))
    with pytest.raises(OverflowError):
        add_months(utc(9999, 12, 1), 1)


@pytest.mark.parametrize(
    "period", [Period(1, "months"), Period(1, "years"), Period(13, "months"), Period(30, "days")]
)
def test_monotonic_and_never_before_the_anniversary(period: Period) -> None:
    starts = [utc(2027, 12, 1) + timedelta(hours=7 * i) for i in range(1300)]
    ends = [period.add_to(s) for s in starts]
    assert ends == sorted(ends)  # a later call never expires earlier
    for s, e in zip(starts, ends, strict=True):
        if period.unit != "days":
            months = period.count * (12 if period.unit == "years" else 1)
            y, m = divmod(s.year * 12 + s.month - 1 + months, 12)
            assert e >= s.replace(day=1, year=y, month=m + 1)  # not before that month starts
            assert e.day == s.day or (e.day, e.hour, e.minute) == (1, 0, 0)
