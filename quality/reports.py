"""Scores over time per staff member or per service: weekly or monthly buckets, CSV export.

Evaluations are bucketed by when the *call* took place (the recording's start), in the time
zone given (UTC unless told), so "March" means calls made in March however late they were
evaluated. Weeks start on Monday (ISO 8601). Calibration evaluations are left out: a call
scored by five evaluators to compare them is not five calls.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, TextIO

from sqlalchemy import select

from quality.errors import QualityError
from storage.catalogue.db import Catalogue
from storage.catalogue.models import QaEvaluation

PERIODS = ("week", "month")
GROUPS = ("staff", "service")


@dataclass(frozen=True)
class ReportRow:
    group: str | None  # the staff member or service; None when the recording named none
    period_start: date
    evaluations: int
    scored: int  # evaluations with a score (not "not scored")
    failed: int  # evaluations failed by a "fails the whole evaluation" question
    average_score: float | None  # mean of the scored ones

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["period_start"] = self.period_start.isoformat()
        return d


@dataclass(frozen=True)
class Point:
    """One evaluation as a report sees it."""

    group: str | None
    at: datetime
    score: float | None
    failed: bool = False


def bucket_start(at: datetime, period: str, tz: tzinfo = UTC) -> date:
    """The first day of the week (Monday) or month holding ``at``, as a date in ``tz``."""
    if at.tzinfo is None:
        raise QualityError(f"naive datetime {at!r} given to a report; use timezone-aware time")
    day = at.astimezone(tz).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise QualityError(f"report period {period!r}; expected one of {', '.join(PERIODS)}")


def buckets(points: Iterable[Point], period: str, tz: tzinfo = UTC) -> list[ReportRow]:
    """Rows ordered by group (no group last), then period; only periods with evaluations."""
    acc: dict[tuple[str | None, date], list[Point]] = defaultdict(list)
    for p in points:
        acc[(p.group, bucket_start(p.at, period, tz))].append(p)
    rows = []
    for (group, start), ps in acc.items():
        scores = [p.score for p in ps if p.score is not None]
        rows.append(
            ReportRow(
                group=group,
                period_start=start,
                evaluations=len(ps),
                scored=len(scores),
                failed=sum(1 for p in ps if p.failed),
                average_score=round(math.fsum(scores) / len(scores), 2) if scores else None,
            )
        )
    rows.sort(key=lambda r: (r.group is None, r.group or "", r.period_start))
    return rows


def report(
    catalogue: Catalogue,
    *,
    by: str,
    period: str,
    since: datetime,
    until: datetime,
    tz: tzinfo = UTC,
    services: Collection[str] | None = None,
) -> list[ReportRow]:
    """Evaluations of calls started in [since, until), grouped ``by`` staff or service;
    ``services`` limits them to calls of those services (None: every service)."""
    if by not in GROUPS:
        raise QualityError(f"report by {by!r}; expected one of {', '.join(GROUPS)}")
    if period not in PERIODS:
        raise QualityError(f"report period {period!r}; expected one of {', '.join(PERIODS)}")
    if not since < until:
        raise QualityError(
            f"report window: since {since.isoformat()} is not before until {until.isoformat()}"
        )
    column = QaEvaluation.staff if by == "staff" else QaEvaluation.service
    stmt = select(
        column, QaEvaluation.call_started_at, QaEvaluation.score, QaEvaluation.failed_on
    ).where(
        QaEvaluation.kind == "evaluation",
        QaEvaluation.call_started_at >= since,
        QaEvaluation.call_started_at < until,
    )
    if services is not None:
        stmt = stmt.where(QaEvaluation.service.in_(sorted(services)))
    with catalogue.session() as s:
        points = [Point(g, at, sc, f is not None) for g, at, sc, f in s.execute(stmt)]
    return buckets(points, period, tz)


CSV_FIELDS = ("group", "period_start", "evaluations", "scored", "failed", "average_score")


def write_csv(rows: Iterable[ReportRow], out: TextIO, *, by: str, period: str) -> None:
    """One header line, then one line per row; the first column is named after ``by``."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow([by, f"{period}_start", *CSV_FIELDS[2:]])
    for r in rows:
        w.writerow(
            [
                _cell(r.group or ""),
                r.period_start.isoformat(),
                r.evaluations,
                r.scored,
                r.failed,
                "" if r.average_score is None else f"{r.average_score:.2f}",
            ]
        )


def _cell(text: str) -> str:
    # A name starting with = + - @ would run as a formula in a spreadsheet (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
