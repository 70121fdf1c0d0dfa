"""Report bucketing: weeks start on Monday, months on the 1st, across month and year ends."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from quality.errors import QualityError
from quality.reports import Point, bucket_start, buckets, write_csv


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


def test_month_buckets_split_exactly_at_midnight_on_the_1st() -> None:
    assert bucket_start(t(2026, 1, 31, 23, 59, 59), "month") == date(2026, 1, 1)
    assert bucket_start(t(2026, 2, 1, 0, 0, 0), "month") == date(2026, 2, 1)
    assert bucket_start(t(2026, 12, 31, 23, 59), "month") == date(2026, 12, 1)
    assert bucket_start(t(2027, 1, 1), "month") == date(2027, 1, 1)


def test_a_week_across_a_month_end_is_one_bucket() -> None:
    # Monday 26 January 2026 to Sunday 1 February 2026
    assert bucket_start(t(2026, 1, 26, 0, 0), "week") == date(2026, 1, 26)
    assert bucket_start(t(2026, 2, 1, 23, 59), "week") == date(2026, 1, 26)
    assert bucket_start(t(2026, 2, 2, 0, 0), "week") == date(2026, 2, 2)
    # and across a year end: Thursday 1 January 2026 is in the week of Monday 29 December 2025
    assert bucket_start(t(2026, 1, 1, 12), "week") == date(2025, 12, 29)


def test_the_time_zone_decides_which_month_a_late_evening_call_is_in() -> None:
    london = ZoneInfo("Europe/London")
    late = t(2026, 5, 31, 23, 30)  # 00:30 on 1 June in London (BST)
    assert bucket_start(late, "month") == date(2026, 5, 1)
    assert bucket_start(late, "month", london) == date(2026, 6, 1)


def test_buckets_average_only_scored_evaluations() -> None:
    points = [
        Point("alice", t(2026, 1, 31, 23, 59), 80.0),
        Point("alice", t(2026, 1, 2), 60.0),
        Point("alice", t(2026, 2, 1), 0.0, failed=True),
        Point("alice", t(2026, 2, 3), None),
        Point("bob", t(2026, 1, 15), 90.0),
        Point(None, t(2026, 1, 15), 50.0),
    ]
    rows = buckets(points, "month")
    got = [
        (r.group, r.period_start, r.evaluations, r.scored, r.failed, r.average_score) for r in rows
    ]
    assert got == [
        ("alice", date(2026, 1, 1), 2, 2, 0, 70.0),
        ("alice", date(2026, 2, 1), 2, 1, 1, 0.0),
        ("bob", date(2026, 1, 1), 1, 1, 0, 90.0),
        (None, date(2026, 1, 1), 1, 1, 0, 50.0),
    ]
    weekly = buckets(points[:3], "week")
    assert [(r.period_start, r.evaluations) for r in weekly] == [
        (date(2025, 12, 29), 1),
        (date(2026, 1, 26), 2),  # Sat 31 Jan and Sun 1 Feb: one week
    ]


def test_csv_export_is_plain_and_defuses_formulas() -> None:
    rows = buckets(
        [Point("=HYPERLINK(1)", t(2026, 3, 2), 75.5), Point("dora", t(2026, 3, 3), None)], "week"
    )
    out = io.StringIO()
    write_csv(rows, out, by="staff", period="week")
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert lines[0] == ["staff", "week_start", "evaluations", "scored", "failed", "average_score"]
    assert lines[1] == ["'=HYPERLINK(1)", "2026-03-02", "1", "1", "0", "75.50"]
    assert lines[2] == ["dora", "2026-03-02", "1", "0", "0", ""]


def test_naive_time_and_bad_periods_are_refused() -> None:
    with pytest.raises(QualityError, match="naive datetime"):
        bucket_start(datetime(2026, 1, 1), "week")
    with pytest.raises(QualityError, match="expected one of week, month"):
        bucket_start(t(2026, 1, 1), "fortnight")
