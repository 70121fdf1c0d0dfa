"""When to try a failed delivery again: exponential backoff with full jitter (30 s, 1 min,
2 min, … capped at 6 h), never sooner than the receiver's Retry-After, for about 3 days."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

BASE_S = 30.0
CAP_S = 6 * 3600.0


def next_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1` (attempts made so far >= 1)."""
    ceiling = min(CAP_S, BASE_S * 2.0 ** min(max(0, attempts - 1), 30))
    r: float = (rng or random).uniform(0.5, 1.0)  # jitter: spread a burst of retries apart
    return ceiling * r


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP-date), or None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), CAP_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min((when - now).total_seconds(), CAP_S))


def next_attempt(
    attempts: int, now: datetime, header: str | None, rng: random.Random | None = None
) -> datetime:
    delay = max(next_delay(attempts, rng), retry_after(header, now) or 0.0)
    return now + timedelta(seconds=delay)
