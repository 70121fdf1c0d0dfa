"""Argument helpers every command module shares: who is acting, time arguments."""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime


def actor() -> str:
    """The operating-system user, as written to the audit log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def parse_time(value: str) -> datetime:
    """ISO 8601 date or datetime; without a zone it is taken as UTC."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 date/time") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
