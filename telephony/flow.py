"""The life of one call as a small pure-Python state machine (no pjsua2 here).

ringing → notice → connecting → bridged ⇄ paused → ended, with `apology` when the queue leg
fails. Whether audio is recorded is a separate fact: a caller on the do-not-record list, or one
who presses the objection digit, is still connected, just never recorded.
The controller (telephony/controller.py) feeds it events with the time they happened; every
method answers with the one Action to carry out, so nothing outside reads or sets its fields to
decide what happens next.

The queue is dialled as the notice ends. The objection digit still counts for the grace period
after it: before the staff answer, the call is then bridged unrecorded; after, the recording
stops and what it held is discarded. Either way the caller stays connected (ADR 0002, 0013).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from consent.notices import Notice
from consent.settings import ConsentSettings
from telephony.errors import InvalidStateError
from telephony.events import Role


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
    PLAY_NOTICE = "play-notice"
    CONNECT_QUEUE = "connect-queue"
    START_RECORDING = "start-recording"
    BRIDGE_ONLY = "bridge-only"
    MUTE_RECORDERS = "mute-recorders"
    UNMUTE_RECORDERS = "unmute-recorders"
    STOP_RECORDING = "stop-recording"
    DISCARD_RECORDING = "discard-recording"  # objected during the grace, recording under way
    OBJECTED = "objected"  # nothing to stop: note it in the record
    SAVE = "save"  # the record changed, nothing else to do
    PLAY_APOLOGY = "play-apology"
    HANGUP_ALL = "hangup-all"
    NONE = "none"


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


@dataclass
class CallFlow:
    call_id: str
    notice: Notice
    policy: ConsentSettings
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

    @property
    def recording(self) -> bool:
        """Recorders are running (or muted by a pause) right now."""
        return self.state in (State.BRIDGED, State.PAUSED) and self.recording_wanted

    def answered(self, now: datetime) -> Action:
        """The caller's leg is up (ACKed, audio active): the notice starts playing."""
        if self.state is not State.RINGING:
            return Action.NONE
        self._go(State.NOTICE)
        self.notice_started = now
        return Action.PLAY_NOTICE

    def notice_end(self) -> datetime | None:
        if self.notice_started is None:
            return None
        return self.notice_started + timedelta(seconds=self.notice.duration_s)

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
        """Time passing: as the notice ends, dial the queue (the objection window stays open)."""
        end = self.notice_end()
        if self.state is State.NOTICE and end is not None and now >= end:
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
        if self.state is State.ENDED:
            return Action.NONE  # the caller hung up while the queue's 200 OK was on its way
        self._go(State.BRIDGED)
        self.bridged_at = now
        return Action.START_RECORDING if self.recording_wanted else Action.BRIDGE_ONLY

    def queue_failed(self, status: int, now: datetime) -> Action:
        self.queue_status = status
        self._go(State.APOLOGY)
        return Action.PLAY_APOLOGY

    def leg_ended(self, role: Role, status: int, now: datetime) -> Action:
        """A leg is gone: the queue leg before it answered means the queue failed."""
        if role is Role.STAFF and self.state is State.CONNECTING:
            return self.queue_failed(status, now)
        return self.hangup(role.value, now)

    def caller_digit(self, digit: str, method: str, now: datetime) -> Action:
        """A digit from the caller: the objection digit counts during the notice and grace."""
        deadline = self.notice_deadline()
        in_window = (
            self.state in (State.NOTICE, State.CONNECTING, State.BRIDGED, State.PAUSED)
            and deadline is not None
            and now <= deadline
        )
        if digit != self.policy.objection_digit or not in_window or self.objection is not None:
            return Action.NONE
        recording = self.recording
        self._heard(now)
        self.objection = {
            "at": _iso(now),
            "method": method,
            "seconds_into_notice": round(
                (now - self.notice_started).total_seconds() if self.notice_started else 0, 2
            ),
        }
        return Action.DISCARD_RECORDING if recording else Action.OBJECTED

    def do_not_record_answer(self, on_list: bool) -> Action:
        """The do-not-record list's answer, taken as the notice ends (before any recording)."""
        if self.state not in (State.NOTICE, State.CONNECTING, State.ENDED):
            raise InvalidStateError(
                f"call {self.call_id}: do-not-record answer in state {self.state.value} "
                "(allowed: notice, connecting, ended)"
            )
        self.do_not_record = on_list
        return Action.SAVE

    def add_case_id(self, case_id: str) -> Action:
        if case_id in self.case_ids:
            return Action.NONE
        self.case_ids.append(case_id)
        return Action.SAVE

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
