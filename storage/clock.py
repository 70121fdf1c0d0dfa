"""The one default clock: timezone-aware UTC. Code takes a clock parameter; this is its default."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
