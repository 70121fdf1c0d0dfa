"""Retention periods and their calendar arithmetic (no dateutil).

Definition, relied on by every expiry in the catalogue:

* Arithmetic is done in UTC on the exact instant the period starts from (a call's start).
* ``N days`` is N x 24 hours; ``N weeks`` is 7N days.
* ``N months`` ends on the same day of the month N calendar months later, at the same time of
  day. When that month has no such day (31 January + 1 month, 29 February + 1 year), the
  period ends at 00:00 UTC on the 1st of the following month (1 March).
* ``N years`` is 12N months.

Why roll forward instead of clamping to the month's last day (as PostgreSQL intervals do):
an expiry is then never earlier than the N-month anniversary (a minimum retention duty is
met), and expiry is monotonic in the start time (a later call never expires earlier), which
lets a purge scan oldest-first stop at the first record that has not expired.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from retention_jobs.errors import PolicyError

Unit = Literal["days", "weeks", "months", "years"]
UNITS: tuple[Unit, ...] = ("days", "weeks", "months", "years")
MAX_COUNT = 9999
_PERIOD = re.compile(r"^\s*(\d{1,4})\s*(day|week|month|year)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """A retention period such as ``90 days`` or ``2 years``."""

    count: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise PolicyError(f"period unit {self.unit!r}; allowed: {', '.join(UNITS)}")
        if not 1 <= self.count <= MAX_COUNT:
            raise PolicyError(f"period count {self.count} is out of range 1..{MAX_COUNT}")

    @classmethod
    def parse(cls, text: str, *, key: str = "period") -> Period:
        """Parse ``<N> day(s)|week(s)|month(s)|year(s)``; the error names ``key``."""
        m = _PERIOD.match(text) if isinstance(text, str) else None
        if m is None or int(m.group(1)) < 1:
            raise PolicyError(
                f"{key} = {text!r} is not a retention period; use '<N> days', '<N> weeks', "
                f"'<N> months' or '<N> years' with N from 1 to {MAX_COUNT}"
            )
        unit: Unit = f"{m.group(2).lower()}s"  # type: ignore[assignment]
        return cls(int(m.group(1)), unit)

    def __str__(self) -> str:
        return f"{self.count} {self.unit[:-1] if self.count == 1 else self.unit}"

    def add_to(self, start: datetime) -> datetime:
        """The instant this period after ``start`` (aware), in UTC; see the module docstring."""
        if start.tzinfo is None:
            raise PolicyError(f"naive datetime {start!r} given to retention arithmetic; use UTC")
        t = start.astimezone(UTC)
        try:
            if self.unit == "days":
                return t + timedelta(days=self.count)
            if self.unit == "weeks":
                return t + timedelta(weeks=self.count)
            months = self.count * (12 if self.unit == "years" else 1)
            return add_months(t, months)
        except (OverflowError, ValueError) as exc:
            raise PolicyError(f"{start.isoformat()} + {self} is beyond the year 9999") from exc


def add_months(t: datetime, months: int) -> datetime:
    """Same day-of-month and time ``months`` later; 00:00 on the 1st of the month after when
    the target month is too short for that day."""
    year, month0 = divmod(t.year * 12 + (t.month - 1) + months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError(f"year {year} out of range")
    if t.day <= calendar.monthrange(year, month0 + 1)[1]:
        return t.replace(year=year, month=month0 + 1)
    year, month0 = divmod(year * 12 + month0 + 1, 12)
    if year > 9999:
        raise OverflowError(f"year {year} out of range")
    return t.replace(year=year, month=month0 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
