"""Telephony errors."""

from storage.errors import CallvaultError


class TelephonyError(CallvaultError):
    """The SIP agent could not do what was asked."""


class InvalidStateError(TelephonyError):
    """An event that the call's current state does not allow; names the state."""
