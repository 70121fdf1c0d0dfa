"""INVITE flood protection: a token bucket per source address, and logs once a minute.

Pure Python, driven by the SIP thread with the time of each event, so it is tested without
pjsua2. A source is an IP address (the port is the attacker's to choose).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

LOG_EVERY_S = 60.0
_PRUNE_EVERY_S = 60.0


@dataclass
class _Bucket:
    tokens: float
    at: datetime


@dataclass
class _Noise:
    """What one source did since its last log line."""

    logged_at: datetime | None = None
    refused: int = 0
    unacked: int = 0


class FloodGuard:
    """`admit()` for each new INVITE; `refused`/`unacked` notes return a line to log at most
    once per source per minute (with the counts since the last line), else None."""

    def __init__(self, rate_per_min: float, burst: int) -> None:
        if rate_per_min <= 0 or burst < 1:
            raise ValueError(f"rate {rate_per_min}/min and burst {burst} must be positive")
        self.rate_per_s = rate_per_min / 60.0
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._noise: dict[str, _Noise] = {}
        self._pruned_at: datetime | None = None

    def admit(self, source: str, now: datetime) -> bool:
        """Take one token from the source's bucket; False when it is empty."""
        self._prune(now)
        b = self._buckets.get(source)
        if b is None:
            b = self._buckets[source] = _Bucket(float(self.burst), now)
        elapsed = max(0.0, (now - b.at).total_seconds())
        b.tokens = min(float(self.burst), b.tokens + elapsed * self.rate_per_s)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False

    def refused(self, source: str, now: datetime) -> str | None:
        n = self._noise.setdefault(source, _Noise())
        n.refused += 1
        return self._line(source, n, now)

    def unacked(self, source: str, now: datetime) -> str | None:
        n = self._noise.setdefault(source, _Noise())
        n.unacked += 1
        return self._line(source, n, now)

    def _line(self, source: str, n: _Noise, now: datetime) -> str | None:
        if n.logged_at is not None and (now - n.logged_at).total_seconds() < LOG_EVERY_S:
            return None
        parts = []
        if n.refused:
            parts.append(f"{n.refused} INVITE(s) refused over the rate limit")
        if n.unacked:
            parts.append(f"{n.unacked} answered call(s) never ACKed, hung up")
        since = "" if n.logged_at is None else f" since {n.logged_at.isoformat(timespec='seconds')}"
        n.logged_at, n.refused, n.unacked = now, 0, 0
        return (
            f"possible INVITE flood from {source}: {', '.join(parts)}{since} "
            f"(limit {self.rate_per_s * 60:g}/min, burst {self.burst}; next report in a minute)"
        )

    def _prune(self, now: datetime) -> None:
        """Forget sources whose bucket has refilled and that have been quiet for a minute."""
        if self._pruned_at and (now - self._pruned_at).total_seconds() < _PRUNE_EVERY_S:
            return
        self._pruned_at = now
        full_after = self.burst / self.rate_per_s
        for source, b in list(self._buckets.items()):
            if (now - b.at).total_seconds() >= full_after:
                del self._buckets[source]
        for source, n in list(self._noise.items()):
            quiet = n.logged_at is None or (now - n.logged_at).total_seconds() >= LOG_EVERY_S
            if quiet and not n.refused and not n.unacked:
                del self._noise[source]
