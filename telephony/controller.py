"""One call's controller: typed events in, commands out (no pjsua2 here).

It keeps what the SIP side knows about the call's legs (which are up, which have audio), feeds
each event to the call's CallFlow with the time it happened, and turns the Action the flow
answers into commands for the agent to carry out on the SIP thread (telephony/agent.py runs
them through telephony/media.py and the endpoint). It also builds the call record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from storage.call_record import CallRecord, CallTiming
from telephony.events import (
    AudioReady,
    CallEvent,
    Confirmed,
    Digit,
    Disconnected,
    Ringing,
    Role,
    Tick,
)
from telephony.flow import Action, CallFlow, State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Play:
    role: Role
    path: Path


@dataclass(frozen=True)
class StopPlaying:
    pass


@dataclass(frozen=True)
class Dial:
    uri: str


@dataclass(frozen=True)
class Bridge:
    record: bool  # also start one recorder per leg


@dataclass(frozen=True)
class SetRecordingLevel:
    level: float  # 0.0 while paused: the recorders get digital silence, the timeline stays


@dataclass(frozen=True)
class StopRecording:
    discard: bool  # delete what the recorders wrote (an objection during the grace period)


@dataclass(frozen=True)
class Hangup:
    role: Role


@dataclass(frozen=True)
class GiveUp:
    """Answered but never ACKed: a flood or a broken peer; hang up now, not after 32 s."""


@dataclass(frozen=True)
class Save:
    pass


@dataclass(frozen=True)
class Finish:
    """Both legs are gone: write the last record and hand the call over."""


Command = (
    (Play | StopPlaying | Dial | Bridge | SetRecordingLevel | StopRecording | Hangup | GiveUp)
    | Save
    | Finish
)


@dataclass(frozen=True)
class CallContext:
    """What the call came with (from its INVITE) and where it goes."""

    flow_id: str
    sip_call_id: str
    caller_number: str | None
    dialled: str
    queue_uri: str
    source: str = ""


class CallController:
    """Drives one call; every method returns the commands to carry out, in order."""

    def __init__(
        self,
        ctx: CallContext,
        flow: CallFlow,
        *,
        ack_timeout_s: float,
        apology: tuple[Path, float] | None = None,
        do_not_record: Future[bool] | None = None,
        cached_do_not_record: Callable[[str | None], bool] = lambda number: False,
    ) -> None:
        self.ctx = ctx
        self.flow = flow
        self.ack_timeout_s = ack_timeout_s
        self.apology = apology
        self._dnr = do_not_record  # started at INVITE, read when the notice ends
        self._cached_dnr = cached_do_not_record
        self.legs: set[Role] = {Role.CALLER}
        self._confirmed: set[Role] = set()
        self._audio: set[Role] = set()
        self._up: set[Role] = set()
        self.timing = CallTiming()
        self.hangup_at: datetime | None = None
        self.gave_up = False

    @property
    def short(self) -> str:
        return self.flow.call_id[:16]

    # -- events -------------------------------------------------------------------------------

    def handle(self, event: CallEvent) -> list[Command]:
        match event:
            case Confirmed(role=role, at=at):
                self._confirmed.add(role)
                return self._maybe_up(role, at)
            case AudioReady(role=role, at=at):
                self._audio.add(role)
                return self._maybe_up(role, at)
            case Ringing(at=at):
                return self._ringing(at)
            case Disconnected(role=role, status=status, at=at):
                self.legs.discard(role)
                cmds = self._do(self.flow.leg_ended(role, status, at), at)
                return [*cmds, Finish()] if not self.legs else cmds
            case Digit(role=Role.CALLER, digit=digit, method=method, at=at):
                return self._do(self.flow.caller_digit(digit, method, at), at)
            case Digit(digit=digit, at=at):
                return self._do(self.flow.staff_digit(digit, at), at)
            case Tick(at=at):
                return self._tick(at)
        raise TypeError(f"not a call event: {event!r}")

    def wants_audio(self) -> list[Role]:
        """Legs whose audio to look for again: a media callback may come before the stream is
        active, with none after it."""
        state = self.flow.state
        if state is State.RINGING and Role.CALLER in self.legs and Role.CALLER not in self._audio:
            return [Role.CALLER]
        if state is State.CONNECTING and Role.STAFF in self._confirmed - self._audio:
            return [Role.STAFF]
        return []

    def _maybe_up(self, role: Role, at: datetime) -> list[Command]:
        if role in self._up or not {role} <= self._confirmed & self._audio:
            return []
        self._up.add(role)
        if role is Role.CALLER:
            return self._do(self.flow.answered(at), at)
        return self._do(self.flow.queue_answered(at), at)

    def _ringing(self, at: datetime) -> list[Command]:
        if self.timing.queue_ringing_at is not None:
            return []
        self.timing.queue_ringing_at = at
        end = self.timing.notice_ended_at
        if end is not None:
            log.info(
                "call %s: queue ringing %+.3f s after the notice ended",
                self.ctx.flow_id,
                (at - end).total_seconds(),
            )
        return []

    def _tick(self, now: datetime) -> list[Command]:
        cmds: list[Command] = []
        waited = (now - self.flow.started_at).total_seconds()
        if (
            self.flow.state is State.RINGING
            and Role.CALLER not in self._confirmed
            and not self.gave_up
            and waited >= self.ack_timeout_s
        ):
            self.gave_up = True
            cmds.append(GiveUp())
        if self.hangup_at and now >= self.hangup_at and Role.CALLER in self.legs:
            self.hangup_at = None
            cmds.append(Hangup(Role.CALLER))
        return cmds + self._do(self.flow.tick(now), now)

    # -- commands from outside (control socket, shutdown) -----------------------------------

    def pause(self, now: datetime, *, resume: bool = False) -> list[Command]:
        flow = self.flow
        return self._do(flow.resume(now, "control") if resume else flow.pause(now, "control"), now)

    def add_case_id(self, case_id: str) -> list[Command]:
        return self._do(self.flow.add_case_id(case_id), self.flow.started_at)

    def shutdown(self, now: datetime) -> list[Command]:
        return self._do(self.flow.hangup("agent-shutdown", now), now)

    def recording_started(self, at: datetime) -> None:
        """The recorders exist since `at` (the WAVs' first sample, for trimming at hand-off)."""
        self.timing.recording_started_at = at

    def finish(self) -> None:
        """Both legs are gone: take the do-not-record answer if the notice never ended."""
        self._settle_do_not_record()

    # -- from the flow's answer to commands ---------------------------------------------------

    def _do(self, action: Action, now: datetime) -> list[Command]:
        if action is Action.NONE:
            return []
        cmds: list[Command] = []
        if action is Action.PLAY_NOTICE:
            log.info(
                "call %s answered (service %s, notice %s v%s)",
                self.ctx.flow_id,
                self.flow.notice.service,
                self.flow.notice.id,
                self.flow.notice.version,
            )
            cmds.append(Play(Role.CALLER, self.flow.notice.file))
        elif action is Action.CONNECT_QUEUE:
            self._settle_do_not_record()
            self.legs.add(Role.STAFF)
            self.timing.notice_ended_at = self.flow.notice_end()
            self.timing.queue_dialled_at = now
            cmds += [StopPlaying(), Dial(self.ctx.queue_uri)]
        elif action in (Action.START_RECORDING, Action.BRIDGE_ONLY):
            recording = action is Action.START_RECORDING
            log.info(
                "call %s bridged to the queue (%s)",
                self.short,
                "recording" if recording else f"not recorded: {self.flow.outcome}",
            )
            cmds.append(Bridge(record=recording))
        elif action in (Action.MUTE_RECORDERS, Action.UNMUTE_RECORDERS):
            paused = action is Action.MUTE_RECORDERS
            log.info("call %s recording %s", self.short, "paused" if paused else "resumed")
            cmds.append(SetRecordingLevel(0.0 if paused else 1.0))
        elif action is Action.PLAY_APOLOGY:
            log.warning(
                "call %s: queue leg failed (%s), playing the apology",
                self.short,
                self.flow.queue_status,
            )
            if self.apology and Role.CALLER in self._audio and Role.CALLER in self.legs:
                path, seconds = self.apology
                cmds.append(Play(Role.CALLER, path))
                self.hangup_at = now + timedelta(seconds=seconds + 0.5)
            elif Role.CALLER in self.legs:
                cmds.append(Hangup(Role.CALLER))
        elif action in (Action.STOP_RECORDING, Action.HANGUP_ALL):
            cmds += [StopPlaying(), StopRecording(discard=False)]
            cmds += [Hangup(role) for role in (Role.CALLER, Role.STAFF) if role in self.legs]
        elif action is Action.DISCARD_RECORDING:
            log.info("call %s: caller objected during the grace; recording discarded", self.short)
            self.timing.recording_discarded = True
            cmds.append(StopRecording(discard=True))
        elif action is Action.OBJECTED:
            method = (self.flow.objection or {}).get("method")
            log.info("call %s: caller objected to recording (%s)", self.short, method)
        return [*cmds, Save()]

    def _settle_do_not_record(self) -> None:
        """Take the do-not-record answer: the query's if done, else the cached list's."""
        pending, self._dnr = self._dnr, None
        if pending is None:
            return
        if pending.done():
            on_list = pending.result()
        else:
            on_list = self._cached_dnr(self.ctx.caller_number)
            log.warning(
                "call %s: do-not-record query not answered yet; used the cached list", self.short
            )
        self.flow.do_not_record_answer(on_list)
        if on_list:
            log.info("call %s: caller is on the do-not-record list", self.short)

    # -- the record ---------------------------------------------------------------------------

    def record(self) -> CallRecord:
        f, ctx = self.flow, self.ctx
        return CallRecord(
            flow_id=ctx.flow_id,
            call_id=ctx.sip_call_id,
            consent=f.consent_record(),
            caller=ctx.caller_number,
            dialled=ctx.dialled,
            service=f.notice.service,
            queue_uri=ctx.queue_uri,
            case_ids=list(f.case_ids),
            state=f.state.value,
            signalling_only=f.notice_started is None,
            timing=self.timing,
        )

    def view(self) -> dict[str, Any]:
        """The call as `callvault calls list` shows it."""
        f = self.flow
        return {
            "call_id": f.call_id,
            "flow_id": self.ctx.flow_id,
            "state": f.state.value,
            "service": f.notice.service,
            "started_at": f.started_at.isoformat(),
            "bridged_at": f.bridged_at.isoformat() if f.bridged_at else None,
            "recording": f.recording,
            "outcome": f.outcome,
            "case_ids": f.case_ids,
            "paused_intervals": f.paused,
        }
