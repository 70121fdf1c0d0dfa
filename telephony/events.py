"""What pjsua2 tells the agent, as typed events (no pjsua2 here).

The callbacks in telephony/endpoint.py build these and append them to the SIP thread's queue;
`at` is the moment the callback ran, so the call's times (ended_at, the end of the recording)
are when things happened, not when the loop got round to them. `leg` is the pjsua2 call object
the event came from, opaque to everything but the endpoint and the media adapter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Role(enum.Enum):
    CALLER = "caller"
    STAFF = "staff"


@dataclass(frozen=True)
class Incoming:
    """A new INVITE; the leg is bound but not answered yet."""

    leg: Any
    message: str  # the whole INVITE (headers read from it: the case ID)
    source: str  # the sender's address, without the port
    remote_uri: str
    local_uri: str
    sip_call_id: str
    at: datetime


@dataclass(frozen=True)
class Ringing:
    """The queue leg got a provisional answer (180/183): staff phones are ringing."""

    leg: Any
    flow_id: str
    role: Role
    at: datetime


@dataclass(frozen=True)
class Confirmed:
    """The leg's dialog is confirmed (ACK sent or received)."""

    leg: Any
    flow_id: str
    role: Role
    at: datetime


@dataclass(frozen=True)
class Disconnected:
    leg: Any
    flow_id: str | None
    role: Role
    status: int  # the last SIP status code (e.g. 486 when the queue refused)
    at: datetime


@dataclass(frozen=True)
class MediaChanged:
    """The leg's media changed; whether its audio is active yet is read by the agent."""

    leg: Any
    flow_id: str
    role: Role
    at: datetime


@dataclass(frozen=True)
class AudioReady:
    """The leg's audio stream is active (the agent looked, after MediaChanged or a tick)."""

    flow_id: str
    role: Role
    at: datetime


@dataclass(frozen=True)
class Digit:
    leg: Any
    flow_id: str
    role: Role
    digit: str
    method: str  # "rfc4733" | "sip-info"
    at: datetime


@dataclass(frozen=True)
class Tick:
    """Time passing (the loop's clock): timers, windows, code timeouts."""

    at: datetime


LegEvent = Ringing | Confirmed | Disconnected | MediaChanged | Digit
CallEvent = Ringing | Confirmed | Disconnected | AudioReady | Digit | Tick
Event = Incoming | LegEvent
