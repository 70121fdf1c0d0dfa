"""The statutory clock of a data-subject request: due one calendar month after receipt.

UK GDPR art. 12(3) and the ICO's guidance: the reply is due on the same date the next month,
or the last day of that month where the date does not exist (received 31 January → due 28
February, or 29 in a leap year). It may be extended once, by up to two further months, counted
from receipt as well (received 31 January, extended by two → 30 April). While the controller
waits for proof of identity or for clarification the clock is stopped: each day paused moves the
due date one day later. Pure functions; "today" is always a parameter.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from consent.errors import ConsentError

MAX_EXTENSION_MONTHS = 2


def add_months(d: date, months: int) -> date:
    """The same day ``months`` calendar months later, clamped to the end of a shorter month."""
    if months < 0:
        raise ConsentError(f"months must be 0 or more, not {months}")
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Clock:
    """A request's clock: received on ``received``, extended by ``extension_months`` (0..2),
    ``paused_days`` paused in past pauses, and paused since ``paused_since`` if it is now."""

    received: date
    extension_months: int = 0
    paused_days: int = 0
    paused_since: date | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.extension_months <= MAX_EXTENSION_MONTHS:
            raise ConsentError(
                f"an extension is 1 or 2 months, not {self.extension_months} (allowed: 1, 2)"
            )
        if self.paused_days < 0:
            raise ConsentError(f"paused days cannot be negative ({self.paused_days})")

    def days_paused(self, today: date) -> int:
        """Days paused so far, the current pause counted up to ``today``."""
        ongoing = max(0, (today - self.paused_since).days) if self.paused_since else 0
        return self.paused_days + ongoing

    def due(self, today: date) -> date:
        """The due date as it stands on ``today`` (a running pause keeps moving it)."""
        base = add_months(self.received, 1 + self.extension_months)
        return base + timedelta(days=self.days_paused(today))

    def days_left(self, today: date) -> int:
        """Days until due (0 on the due date, negative once overdue)."""
        return (self.due(today) - today).days

    def extended(self, months: int) -> Clock:
        if self.extension_months:
            raise ConsentError(
                f"the request was already extended by {self.extension_months} month(s); "
                "it can be extended only once"
            )
        if months not in (1, 2):
            raise ConsentError(f"an extension is 1 or 2 months, not {months} (allowed: 1, 2)")
        return Clock(self.received, months, self.paused_days, self.paused_since)

    def paused(self, today: date) -> Clock:
        if self.paused_since is not None:
            raise ConsentError(f"the clock is already paused (since {self.paused_since})")
        return Clock(self.received, self.extension_months, self.paused_days, today)

    def resumed(self, today: date) -> Clock:
        if self.paused_since is None:
            raise ConsentError("the clock is not paused")
        return Clock(self.received, self.extension_months, self.days_paused(today), None)
