"""Errors of the retention package; all are CallvaultErrors (one clear line from the CLI)."""

from __future__ import annotations

from storage.errors import CallvaultError


class RetentionError(CallvaultError):
    """Retention policy, legal hold or purge failure."""


class PolicyError(RetentionError):
    """An invalid retention policy: names the configuration key and the bad value."""


class HoldError(RetentionError):
    """A legal hold that cannot be added or released as asked."""
