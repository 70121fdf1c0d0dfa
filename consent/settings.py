"""What callers are told and on what basis: declared here once, loaded by callvault.settings.

The call flow (telephony/flow.py) takes this object as its policy; the loader fills it from
[consent] in callvault.toml and CALLVAULT_CONSENT_* (ranges and DTMF checks live there too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsentSettings:
    """[consent]; its [[consent.notices]] entries choose the notice (consent/notices.py)."""

    lawful_basis: str = "public task (UK GDPR Art. 6(1)(e))"
    purposes: tuple[str, ...] = ("quality monitoring", "staff training", "complaint handling")
    objection_digit: str = "9"
    # The objection digit still counts this long after the notice ends; the queue is dialled
    # as the notice ends, so the caller does not wait through it in silence.
    objection_grace_s: float = 3.0
    pause_code: str = "*7"
    resume_code: str = "*8"
    code_timeout_s: float = 3.0  # the most time between the two keys of a staff code
    notices: tuple[Mapping[str, str], ...] = ()
