"""The life of one call as a small pure-Python state machine (no pjsua2 here).

ringing → notice → connecting → bridged ⇄ paused → ended, with `apology` when the queue leg
fails. Whether audio is recorded is a separate fact: a caller on the do-not-record list, or one
who presses the objection digit, is still connected, just never recorded.
The agent feeds it events with their time; it answers with what the agent must do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from consent.notices import Notice
from telephony.errors import InvalidStateError


class State(enum.Enum):
    RINGING = "ringing"
    NOTICE = "notice"
    CONNECTING = "connecting"
    BRIDGED = "bridged"
    PAUSED = "paused"
    APOLOGY = "apology"
    ENDED = "ended"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.RINGING: frozenset({State.NOTICE, State.ENDED}),
    State.NOTICE: frozenset({State.CONNECTING, State.ENDED}),
    State.CONNECTING: frozenset({State.BRIDGED, State.APOLOGY, State.ENDED}),
    State.BRIDGED: frozenset({State.PAUSED, State.ENDED}),
    State.PAUSED: frozenset({State.BRIDGED, State.ENDED}),
    State.APOLOGY: frozenset({State.ENDED}),
    State.ENDED: frozenset(),
}


class Action(enum.Enum):
    CONNECT_QUEUE = "connect-queue"
    START_RECORDING = "start-recording"
    BRIDGE_ONLY = "bridge-only"
    MUTE_RECORDERS = "mute-recorders"
    UNMUTE_RECORDERS = "unmute-recorders"
    STOP_RECORDING = "stop-recording"
    PLAY_APOLOGY = "play-apology"
    HANGUP_ALL = "hangup-all"
    NONE = "none"


@dataclass(frozen=True)
class FlowPolicy:
    """Configuration that shapes every call (all from callvault.toml)."""

    objection_digit: str = "9"
    objection_grace_s: float = 3.0
    pause_code: str = "*7"
    resume_code: str = "*8"
    code_timeout_s: float = 3.0
    lawful_basis: str = "public task (UK GDPR Art. 6(1)(e))"
    purposes: tuple[str, ...] = ("quality monitoring", "training")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


@dataclass
class CallFlow:
    call_id: str
    notice: Notice
    policy: FlowPolicy
    started_at: datetime
    do_not_record: bool = False
    case_ids: list[str] = field(default_factory=list)
    state: State = State.RINGING
    notice_started: datetime | None = None
    notice_heard_s: float = 0.0
    notice_completed: bool = False
    objection: dict[str, Any] | None = None
    bridged_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    queue_status: int | None = None
    paused: list[dict[str, Any]] = field(default_factory=list)
    _staff_digits: str = ""
    _staff_digit_at: datetime | None = None

    # -- transitions --------------------------------------------------------------------------

    def _go(self, new: State) -> None:
        if new not in TRANSITIONS[self.state]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[self.state])) or "none"
            raise InvalidStateError(
                f"call {self.call_id}: cannot go to {new.value} in state {self.state.value} "
                f"(allowed: {allowed})"
            )
        self.state = new

    @property
    def recording_wanted(self) -> bool:
        return not self.do_not_record and self.objection is None

    @property
    def live(self) -> bool:
        return self.state is not State.ENDED

    def answered(self, now: datetime) -> None:
        """The caller's leg is up and the notice starts playing."""
        self._go(State.NOTICE)
        self.notice_started = now

    def notice_deadline(self) -> datetime | None:
        """When the objection window closes (end of notice + grace)."""
        if self.notice_started is None:
            return None
        length = self.notice.duration_s + self.policy.objection_grace_s
        return self.notice_started + timedelta(seconds=length)

    def _heard(self, now: datetime) -> None:
        if self.notice_started and not self.notice_completed:
            heard = (now - self.notice_started).total_seconds()
            self.notice_heard_s = round(min(heard, self.notice.duration_s), 2)
            self.notice_completed = heard >= self.notice.duration_s

    def tick(self, now: datetime) -> Action:
        """Time passing: close the objection window and move on to the queue."""
        deadline = self.notice_deadline()
        if self.state is State.NOTICE and deadline is not None and now >= deadline:
            self._heard(now)
            self._go(State.CONNECTING)
            return Action.CONNECT_QUEUE
        if (
            self._staff_digit_at
            and (now - self._staff_digit_at).total_seconds() > self.policy.code_timeout_s
        ):
            self._staff_digits, self._staff_digit_at = "", None
        return Action.NONE

    def queue_answered(self, now: datetime) -> Action:
        self._go(State.BRIDGED)
        self.bridged_at = now
        return Action.START_RECORDING if self.recording_wanted else Action.BRIDGE_ONLY

    def queue_failed(self, status: int, now: datetime) -> Action:
        self.queue_status = status
        self._go(State.APOLOGY)
        return Action.PLAY_APOLOGY

    def caller_digit(self, digit: str, method: str, now: datetime) -> Action:
        """A digit from the caller: the objection digit counts during the notice and grace."""
        deadline = self.notice_deadline()
        in_window = self.state is State.NOTICE or (
            deadline is not None and now <= deadline and self.state is State.CONNECTING
        )
        if digit == self.policy.objection_digit and in_window and self.objection is None:
            self._heard(now)
            self.objection = {
                "at": _iso(now),
                "method": method,
                "seconds_into_notice": round(
                    (now - self.notice_started).total_seconds() if self.notice_started else 0, 2
                ),
            }
        return Action.NONE

    def staff_digit(self, digit: str, now: datetime) -> Action:
        """Digits from the staff leg: the pause and resume codes (e.g. *7 / *8)."""
        self.tick(now)
        self._staff_digits = (self._staff_digits + digit)[-8:]
        self._staff_digit_at = now
        if self._staff_digits.endswith(self.policy.pause_code):
            self._staff_digits = ""
            return self.pause(now, "staff-dtmf")
        if self._staff_digits.endswith(self.policy.resume_code):
            self._staff_digits = ""
            return self.resume(now, "staff-dtmf")
        return Action.NONE

    def pause(self, now: datetime, source: str) -> Action:
        if self.state is State.PAUSED:
            return Action.NONE  # pressing pause twice is harmless
        if self.state is not State.BRIDGED:
            raise InvalidStateError(
                f"call {self.call_id}: cannot pause in state {self.state.value} (allowed: bridged)"
            )
        self._go(State.PAUSED)
        self.paused.append(
            {"start": _iso(now), "end": None, "source": source, "offset_s": self._offset(now)}
        )
        return Action.MUTE_RECORDERS if self.recording_wanted else Action.NONE

    def resume(self, now: datetime, source: str) -> Action:
        if self.state is State.BRIDGED:
            return Action.NONE
        if self.state is not State.PAUSED:
            raise InvalidStateError(
                f"call {self.call_id}: cannot resume in state {self.state.value} (allowed: paused)"
            )
        self._go(State.BRIDGED)
        self._close_pause(now)
        return Action.UNMUTE_RECORDERS if self.recording_wanted else Action.NONE

    def _offset(self, now: datetime) -> float | None:
        return round((now - self.bridged_at).total_seconds(), 3) if self.bridged_at else None

    def _close_pause(self, now: datetime) -> None:
        if self.paused and self.paused[-1]["end"] is None:
            self.paused[-1]["end"] = _iso(now)
            self.paused[-1]["end_offset_s"] = self._offset(now)

    def hangup(self, leg: str, now: datetime) -> Action:
        """Either side hanging up ends both legs."""
        if self.state is State.ENDED:
            return Action.NONE
        if self.state is State.NOTICE:
            self._heard(now)
        self._close_pause(now)
        self.ended_by = self.ended_by or leg
        self.ended_at = now
        was_recording = self.state in (State.BRIDGED, State.PAUSED) and self.recording_wanted
        self._go(State.ENDED)
        return Action.STOP_RECORDING if was_recording else Action.HANGUP_ALL

    # -- the record ---------------------------------------------------------------------------

    @property
    def outcome(self) -> str:
        if self.do_not_record:
            return "do-not-record"
        if self.objection is not None:
            return "objected"
        if self.bridged_at is not None:
            return "recorded"
        if self.queue_status is not None:
            return "queue-failed"
        if self.notice_started is not None and not self.notice_completed:
            return "abandoned during notice"
        return "abandoned"

    @property
    def recorded(self) -> bool:
        return self.bridged_at is not None and self.recording_wanted

    def consent_record(self) -> dict[str, Any]:
        """What the caller was told and chose (stored with the recording, or alone)."""
        return {
            "call_id": self.call_id,
            "notice": {
                "id": self.notice.id,
                "version": self.notice.version,
                "language": self.notice.language,
            },
            "notice_seconds_played": self.notice_heard_s,
            "notice_duration_s": round(self.notice.duration_s, 2),
            "notice_completed": self.notice_completed,
            "objection": self.objection,
            "do_not_record": self.do_not_record,
            "outcome": self.outcome,
            "recorded": self.recorded,
            "lawful_basis": self.policy.lawful_basis,
            "purposes": list(self.policy.purposes),
            "paused_intervals": self.paused,
            "started_at": _iso(self.started_at),
            "bridged_at": _iso(self.bridged_at),
            "ended_at": _iso(self.ended_at),
            "ended_by": self.ended_by,
            "queue_status": self.queue_status,
        }
