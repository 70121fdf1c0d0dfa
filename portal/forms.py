"""Turning form fields and query strings into a search Query, with one clear error each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.errors import BadInput
from portal.search import Query
from storage.errors import CallvaultError

FIELDS = frozenset(
    {"since", "until", "service", "agent", "case_id", "outcome", "complete"}
    | {"min_duration_s", "max_duration_s", "sort", "order", "limit", "cursor"}
)


def parse_time(name: str, value: str, end_of_day: bool) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{name} {value!r} is not a date (YYYY-MM-DD) or ISO time") from None
    if len(value) == 10 and end_of_day:
        t += timedelta(days=1)  # "until 2026-12-01" includes that day
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _number(name: str, value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise BadInput(f"{name} {value!r} is not a number") from None
    if not 0 <= n < 10**7:
        raise BadInput(f"{name} {value!r} is out of range")
    return n


def parse_query(
    fields: Mapping[str, Any], caller_hash: Callable[[str], str], *, caller: str | None = None
) -> Query:
    """Fields as strings (form or query string); the caller number only from a POST body."""
    f = {k: str(v).strip() for k, v in fields.items() if k in FIELDS and v not in (None, "")}
    complete = {"yes": True, "true": True, "no": False, "false": False}
    if "complete" in f and f["complete"] not in complete:
        raise BadInput(f"complete {f['complete']!r}; allowed: yes, no")
    try:
        limit = int(f.get("limit", "50"))
    except ValueError:
        raise BadInput(f"limit {f['limit']!r} is not a whole number") from None
    hashed = None
    if caller and caller.strip():
        try:
            hashed = caller_hash(caller)
        except CallvaultError:
            # Say what was wrong without repeating the number.
            raise BadInput("the caller number is not a telephone number") from None
    return Query(
        since=parse_time("since", f["since"], False) if "since" in f else None,
        until=parse_time("until", f["until"], True) if "until" in f else None,
        service=f.get("service"),
        agent=f.get("agent"),
        case_id=f.get("case_id"),
        caller_hash=hashed,
        outcome=f.get("outcome"),
        complete=complete[f["complete"]] if "complete" in f else None,
        min_duration_s=_number("min_duration_s", f["min_duration_s"])
        if "min_duration_s" in f
        else None,
        max_duration_s=_number("max_duration_s", f["max_duration_s"])
        if "max_duration_s" in f
        else None,
        sort=f.get("sort", "started_at"),
        order=f.get("order", "desc"),
        limit=limit,
        cursor=f.get("cursor"),
    ).check()
