"""Schedule triggers built from configuration (APScheduler 3 cron and interval triggers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from retention_jobs.errors import RetentionError


def zone(name: str, *, key: str = "schedule.timezone") -> ZoneInfo:
    """The IANA time zone the cron expression is read in (default UTC)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RetentionError(
            f"{key} = {name!r} is not an IANA time zone (e.g. 'UTC', 'Europe/London')"
        ) from None


def cron_trigger(expr: str, tz: str, *, key: str = "schedule.purge_cron") -> Any:
    """A 5-field crontab (minute hour day month day-of-week) read in time zone ``tz``; a sixth
    field in front gives the seconds (for tests and drills: '*/5 * * * * *')."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise RetentionError(
            f"{key} = {expr!r} is not a crontab expression: it needs 5 fields "
            "(minute hour day month day-of-week), e.g. '0 2 * * *'"
        )
    try:
        if len(fields) == 6:
            names = ("second", "minute", "hour", "day", "month", "day_of_week")
            return CronTrigger(timezone=zone(tz), **dict(zip(names, fields, strict=True)))
        return CronTrigger.from_crontab(expr, timezone=zone(tz))
    except ValueError as exc:
        raise RetentionError(f"{key} = {expr!r} is not a crontab expression: {exc}") from None


# Interval triggers count from one fixed instant, so every node's trigger fires at the same
# times (a shared job's run is then one slot on all of them; retention_jobs/run_once.py).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def interval_trigger(seconds: int, tz: str) -> Any:
    return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=zone(tz))
