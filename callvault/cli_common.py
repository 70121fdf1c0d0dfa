"""Helpers every CLI module shares: who is acting, time arguments, JSON-or-human output."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


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


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    """Exactly one JSON document on stdout with --json; otherwise the human form."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        human()
