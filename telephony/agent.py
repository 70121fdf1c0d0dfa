"""The SIP agent: composes the endpoint, the per-call controllers, media and the hand-off.

The SIP thread (run()) polls the Endpoint, routes each typed event to its call's controller
and carries out the commands the controller answers: media on telephony/media.py, legs on
telephony/endpoint.py, records through the RecordWriter's thread, finished calls to a worker
pool that merges and ingests them. The SIP thread never waits on disk, ffmpeg or the catalogue.
Module map: docs/adr/0013-agent-shape.md.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from consent.notices import NoticeCatalogue, wav_duration
from consent.settings import ConsentSettings
from storage import metrics
from storage.clock import utcnow
from storage.identity import number_part
from telephony.allowlist import SourceAllowlist
from telephony.calldir import CallDir, RecordWriter
from telephony.controller import (
    Bridge,
    CallContext,
    CallController,
    Command,
    Dial,
    Finish,
    GiveUp,
    Hangup,
    Play,
    Save,
    SetRecordingLevel,
    StopPlaying,
    StopRecording,
)
from telephony.endpoint import BuildInfo, Endpoint, Leg
from telephony.errors import TelephonyError
from telephony.events import AudioReady, Disconnected, Event, Incoming, MediaChanged, Role, Tick
from telephony.flood import FloodGuard
from telephony.flow import CallFlow
from telephony.handoff import Handoff
from telephony.media import CallMedia
from telephony.pool import HandoffPool
from telephony.settings import SipSettings

log = logging.getLogger(__name__)
_USER = re.compile(r"sips?:([^@;>]+)@", re.IGNORECASE)
__all__ = ["Agent", "BuildInfo", "DoNotRecordCheck", "header_value"]


class DoNotRecordCheck(Protocol):
    """consent.do_not_record.DoNotRecordCache: a query started at INVITE, and the cached list."""

    def lookup(self, number: str | None) -> Future[bool]: ...

    def __call__(self, number: str | None) -> bool: ...


@dataclass
class _Call:
    """Everything the SIP thread holds for one call (pjsua2 objects stay on that thread)."""

    ctl: CallController
    calldir: CallDir
    legs: dict[Role, Leg]
    media: CallMedia = field(default_factory=CallMedia)


def header_value(message: str, name: str) -> list[str]:
    """Values of a SIP header in a raw message (case-insensitive, first line excluded)."""
    head = message.split("\r\n\r\n", 1)[0]
    values: list[str] = []
    for line in head.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            values.extend(v.strip() for v in value.split(",") if v.strip())
    return values


class Agent:
    """Answers calls, plays the notice, bridges to the queue and records both legs."""

    def __init__(
        self,
        settings: SipSettings,
        *,
        notices: NoticeCatalogue,
        policy: ConsentSettings,
        calls_dir: Path,
        handoff: Handoff,
        do_not_record: DoNotRecordCheck,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.notices = notices
        self.policy = policy
        self.calls_dir = calls_dir
        self.handoff = handoff
        self.do_not_record = do_not_record
        self.clock = clock
        self.flood = FloodGuard(settings.invite_rate_per_min, settings.invite_burst)
        self.allowlist = SourceAllowlist(settings.allowed_sources)
        self.flood_exempt = SourceAllowlist(settings.flood_exempt, "sip.flood_exempt")
        self.endpoint = Endpoint(settings, clock)
        self.ready = self.endpoint.ready
        self.writer = RecordWriter()
        self._calls: dict[str, _Call] = {}
        self._ending: list[Leg] = []  # legs kept alive until pjsua2 reports DISCONNECTED
        self._stop = threading.Event()
        self._pool: HandoffPool | None = None
        apology = settings.apology_file
        self.apology = (apology, wav_duration(apology)) if apology else None

    @property
    def capacity(self) -> int:
        return self.endpoint.capacity

    @property
    def build(self) -> BuildInfo | None:
        return self.endpoint.build

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run fn on the SIP thread; the future carries its result or exception."""
        return self.endpoint.submit(fn)

    def stop(self) -> None:
        self._stop.set()

    # -- the SIP thread -----------------------------------------------------------------------

    def run(self) -> None:
        """Start pjsua2 on this thread and serve until stop(); then end calls and clean up."""
        ep = self.endpoint
        try:
            ep.start()
            s = self.settings
            log.info(
                "SIP agent listening on %s:%d (%s); capacity %d concurrent bridged calls; queue %s",
                s.host,
                s.port,
                "+".join(s.transports),
                ep.capacity,
                s.queue_uri,
            )
            self.writer.start()
            self._pool = HandoffPool(self.handoff, s.handoff_workers, ep.register_thread)
            ep.ready.set()
            while not self._stop.is_set():
                ep.poll(10)
                self._drain()
            self._shutdown()
        finally:
            ep.ready.clear()
            self.writer.stop()
            if self._pool:
                self._pool.shutdown()
            # pjsua2 objects must be gone before the library is.
            self._calls.clear()
            self._ending.clear()
            ep.destroy()

    def _drain(self) -> None:
        events = self.endpoint.events
        while events:
            event = events.popleft()
            try:
                self._route(event)
            except Exception:  # one call's failure must not stop the agent
                log.exception("handling %s failed", type(event).__name__)
        self.endpoint.run_commands()
        tick = Tick(self.clock())
        for call in list(self._calls.values()):
            try:
                for role in call.ctl.wants_audio():
                    self._look_for_audio(call, role, tick.at)
                self._execute(call, call.ctl.handle(tick))
            except Exception:
                log.exception("call %s: timer handling failed", call.ctl.short)

    def _route(self, event: Event) -> None:
        if isinstance(event, Incoming):
            self._incoming(event)
            return
        if isinstance(event, Disconnected) and event.leg in self._ending:
            self._ending.remove(event.leg)
        call = self._calls.get(event.flow_id or "")
        if call is None:
            return
        if isinstance(event, MediaChanged):
            self._look_for_audio(call, event.role, event.at)
            return
        if isinstance(event, Disconnected):
            call.legs.pop(event.role, None)
        self._execute(call, call.ctl.handle(event))

    def _look_for_audio(self, call: _Call, role: Role, at: datetime) -> None:
        leg = call.legs.get(role)
        if leg is not None and leg.media is None and leg.audio() is not None:
            self._execute(call, call.ctl.handle(AudioReady(call.ctl.ctx.flow_id, role, at)))

    def _incoming(self, ev: Incoming) -> None:
        if not self.allowlist.admits(ev.source):
            line = self.allowlist.refused(ev.source, ev.at)
            if line:
                log.warning("%s", line)
            self._reject(ev.leg, 403)
            return
        if not self.flood_exempt.matches(ev.source) and not self.flood.admit(ev.source, ev.at):
            line = self.flood.refused(ev.source, ev.at)
            if line:
                log.warning("%s", line)
            self._reject(ev.leg, 503)
            return
        if len(self._calls) >= self.capacity or self._stop.is_set():
            log.warning(
                "rejecting a call with 503: %d of %d calls in progress",
                len(self._calls),
                self.capacity,
            )
            self._reject(ev.leg, 503)
            return
        caller = number_part(ev.remote_uri) or None
        dialled = _user(ev.local_uri) or ""
        flow_id = str(uuid.uuid4())
        ev.leg.flow_id = flow_id
        flow = CallFlow(
            call_id=ev.sip_call_id,
            notice=self.notices.select(dialled),
            policy=self.policy,
            started_at=ev.at,
            case_ids=header_value(ev.message, self.settings.case_id_header),
        )
        ctx = CallContext(
            flow_id, ev.sip_call_id, caller, dialled, self.settings.queue_uri, ev.source
        )
        ctl = CallController(
            ctx,
            flow,
            ack_timeout_s=self.settings.ack_timeout_s,
            apology=self.apology,
            # Started now, read when the notice ends: the query runs on a worker thread.
            do_not_record=self.do_not_record.lookup(caller),
            cached_do_not_record=self.do_not_record,
        )
        call = _Call(ctl, CallDir(self.calls_dir, flow_id), {Role.CALLER: ev.leg})
        call.calldir.lock()
        self._calls[flow_id] = call
        metrics.CALLS_ACTIVE.set(len(self._calls))
        self.writer.save(call.calldir, ctl.record())
        ev.leg.answer_with(200)

    def _reject(self, leg: Leg, code: int) -> None:
        metrics.CALLS.labels(outcome="rejected").inc()
        leg.reject(code)
        self._ending.append(leg)

    # -- carrying out commands ----------------------------------------------------------------

    def _execute(self, call: _Call, commands: list[Command]) -> None:
        for cmd in commands:
            match cmd:
                case Play(role=role, path=path):
                    leg = call.legs.get(role)
                    if leg is not None and leg.media is not None:
                        call.media.play(path, leg.media)
                case StopPlaying():
                    call.media.stop_playing()
                case Dial(uri=uri):
                    call.legs[Role.STAFF] = self.endpoint.dial(uri, call.ctl.ctx.flow_id)
                case Bridge(record=record):
                    self._bridge(call, record)
                case SetRecordingLevel(level=level):
                    call.media.set_recording_level(level)
                case StopRecording(discard=discard):
                    call.media.stop_recording()
                    if discard:
                        self.writer.then(call.calldir, call.calldir.discard_audio)
                case Hangup(role=role):
                    leg = call.legs.get(role)
                    if leg is not None:
                        leg.end()
                case GiveUp():
                    # No consent record: the notice never played.
                    line = self.flood.unacked(call.ctl.ctx.source, self.clock())
                    if line:
                        log.warning("%s", line)
                    if Role.CALLER in call.legs:
                        call.legs[Role.CALLER].end()
                case Save():
                    self.writer.save(call.calldir, call.ctl.record())
                case Finish():
                    self._finish(call)

    def _bridge(self, call: _Call, record: bool) -> None:
        caller, staff = call.legs.get(Role.CALLER), call.legs.get(Role.STAFF)
        if caller is None or staff is None or caller.media is None or staff.media is None:
            return
        paths = (call.calldir.caller_wav, call.calldir.staff_wav) if record else None
        call.media.bridge(caller.media, staff.media, paths)
        if record:
            call.ctl.recording_started(self.clock())

    def _finish(self, call: _Call) -> None:
        del self._calls[call.ctl.ctx.flow_id]
        metrics.CALLS_ACTIVE.set(len(self._calls))
        metrics.CALLS.labels(outcome=call.ctl.flow.outcome.replace(" ", "-")).inc()
        call.ctl.finish()
        self.writer.save(call.calldir, call.ctl.record())
        pool, calldir = self._pool, call.calldir
        if pool is not None:  # on the call's writer lane, once its last record is on disk
            self.writer.then(calldir, lambda: pool.submit(calldir))

    # -- commands (run on the SIP thread through submit) -------------------------------------

    def list_calls(self) -> list[dict[str, Any]]:
        return [call.ctl.view() for call in self._calls.values()]

    def _find(self, call_id: str) -> _Call:
        found = [
            c
            for c in self._calls.values()
            if call_id in (c.ctl.flow.call_id, c.ctl.ctx.flow_id)
            or c.ctl.ctx.flow_id.startswith(call_id)
        ]
        if len(found) != 1:
            raise TelephonyError(
                f"no live call {call_id!r}"
                if not found
                else f"call id {call_id!r} is ambiguous ({len(found)} calls)"
            )
        return found[0]

    def pause(self, call_id: str, *, resume: bool = False) -> dict[str, Any]:
        call = self._find(call_id)
        self._execute(call, call.ctl.pause(self.clock(), resume=resume))
        return call.ctl.view()

    def add_case_id(self, call_id: str, case_id: str) -> dict[str, Any]:
        call = self._find(call_id)
        self._execute(call, call.ctl.add_case_id(case_id))
        return call.ctl.view()

    def _shutdown(self) -> None:
        """End every live call (each is stored, marked as ended by shutdown), then drain."""
        if self._calls:
            log.info("stopping: ending %d live call(s)", len(self._calls))
        now = self.clock()
        for call in list(self._calls.values()):
            self._execute(call, call.ctl.shutdown(now))
        deadline = now.timestamp() + 10
        while (self._calls or self._ending) and self.clock().timestamp() < deadline:
            self.endpoint.poll(10)
            self._drain()
        self.writer.stop()  # the last records, then the hand-offs they queued
        if self._pool:
            self._pool.wait()
        self.endpoint.hangup_all()


def _user(uri: str) -> str | None:
    m = _USER.search(uri)
    return m.group(1) if m else None
