"""The daily due check: which open requests are due soon or overdue, logged and announced.

One log line per request (its ID, kind, due date and days left; never who asked) and one
`request.due` outbox event (thin: the request ID and due date) in the same transaction, so a
webhook receiver hears of exactly what was checked. Time is a parameter: ``now``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent.requests import OPEN_STATES, SubjectRequests, request_view, today_of
from storage.catalogue.models import SubjectRequest
from storage.outbox import emit

log = logging.getLogger(__name__)


def due_check(
    requests: SubjectRequests, *, now: datetime, within_days: int = 7
) -> list[dict[str, Any]]:
    """Open requests due within ``within_days`` of ``now`` (or overdue), soonest first."""
    today = today_of(now)
    with requests.catalogue.session() as s:
        views = [
            request_view(r, today)
            for r in s.scalars(select(SubjectRequest).where(SubjectRequest.state.in_(OPEN_STATES)))
        ]
        due = sorted((v for v in views if v["days_left"] <= within_days), key=lambda v: v["due"])
        for v in due:
            left = v["days_left"]
            when = f"OVERDUE by {-left} day(s)" if left < 0 else f"due in {left} day(s)"
            paused = f", clock paused since {v['paused_since']}" if v["paused_since"] else ""
            log.warning(
                "request %s (%s, %s) %s on %s%s",
                v["id"],
                v["kind"],
                v["state"],
                when,
                v["due"],
                paused,
            )
            emit(
                s,
                "request.due",
                {"request_id": v["id"], "due": v["due"], "overdue": left < 0},
                clock=lambda: now,
            )
    return due
