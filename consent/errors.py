"""Consent errors."""

from storage.errors import CallvaultError


class ConsentError(CallvaultError):
    """Notices, consent records or the do-not-record list are misconfigured or misused."""
