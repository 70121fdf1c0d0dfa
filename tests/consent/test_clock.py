"""The statutory clock of a request, with time passed in (no wall clock anywhere)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.clock import Clock, add_months
from consent.errors import ConsentError


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),  # no 31 February: the last day
        (date(2028, 1, 31), date(2028, 2, 29)),  # leap year
        (date(2026, 1, 30), date(2026, 2, 28)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 2, 28), date(2026, 3, 28)),  # the same date, not the month's end
        (date(2026, 12, 15), date(2027, 1, 15)),  # over the year's end
        (date(2100, 1, 29), date(2100, 2, 28)),  # 2100 is not a leap year
    ],
)
def test_due_one_calendar_month_after_receipt(received: date, due: date) -> None:
    assert Clock(received).due(today=received) == due


def test_extension_counts_from_receipt_and_happens_once() -> None:
    c = Clock(date(2026, 1, 31))
    assert c.extended(2).due(today=date(2026, 2, 1)) == date(2026, 4, 30)
    assert c.extended(1).due(today=date(2026, 2, 1)) == date(2026, 3, 31)
    with pytest.raises(ConsentError, match="only once"):
        c.extended(1).extended(1)
    with pytest.raises(ConsentError, match="allowed: 1, 2"):
        c.extended(3)


def test_a_pause_stops_the_clock() -> None:
    c = Clock(date(2026, 3, 2))  # due 2 April
    paused = c.paused(date(2026, 3, 10))
    assert paused.due(today=date(2026, 3, 10)) == date(2026, 4, 2)
    assert paused.due(today=date(2026, 3, 15)) == date(2026, 4, 7)  # still moving while paused
    resumed = paused.resumed(date(2026, 3, 20))  # 10 days paused
    assert resumed.due(today=date(2026, 5, 1)) == date(2026, 4, 12)
    assert resumed.days_left(today=date(2026, 4, 13)) == -1  # overdue
    again = resumed.paused(date(2026, 3, 25)).resumed(date(2026, 3, 27))
    assert again.days_paused(today=date(2026, 6, 1)) == 12
    with pytest.raises(ConsentError, match="not paused"):
        resumed.resumed(date(2026, 3, 21))
    with pytest.raises(ConsentError, match="already paused"):
        paused.paused(date(2026, 3, 11))


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31)), st.integers(0, 3))
def test_add_months_is_the_same_day_or_the_months_last(d: date, months: int) -> None:
    out = add_months(d, 1 + months)
    last = calendar.monthrange(out.year, out.month)[1]
    assert (out.year * 12 + out.month) - (d.year * 12 + d.month) == 1 + months
    assert out.day == min(d.day, last)
    assert out > d


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_paused_days_push_the_due_date_by_as_many_days(d: date, start: int, length: int) -> None:
    c = Clock(d).paused(d + timedelta(days=start)).resumed(d + timedelta(days=start + length))
    assert c.due(today=d) - Clock(d).due(today=d) == timedelta(days=length)
