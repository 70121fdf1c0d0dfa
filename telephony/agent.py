"""The SIP agent: the only module that imports pjsua2.

One thread owns the pjsua2 Endpoint (threadCnt=0, mainThreadOnly) and polls libHandleEvents.
pjsua2 callbacks only append plain events to a deque; that same thread then feeds them to each
call's CallFlow and carries out what the flow answers. Other threads (control socket, signal
handlers) talk to it through a command queue; finished calls go to a worker pool that merges,
spools and ingests them, so the SIP thread never waits on disk, ffmpeg or the catalogue.
"""

from __future__ import annotations

import collections
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pjsua2 as pj

from consent.notices import NoticeCatalogue, wav_duration
from storage.clock import utcnow
from storage.identity import number_part
from telephony.errors import TelephonyError
from telephony.flood import FloodGuard
from telephony.flow import Action, CallFlow, FlowPolicy, State
from telephony.handoff import CallDir, Handoff
from telephony.pjlog import stdout_to_stderr

log = logging.getLogger(__name__)
_USER = re.compile(r"sips?:([^@;>]+)@", re.IGNORECASE)


@dataclass(frozen=True)
class AgentConfig:
    host: str = "127.0.0.1"
    port: int = 5070
    transports: tuple[str, ...] = ("udp", "tcp")
    rtp_port: int = 40000
    max_calls: int = 300
    queue_uri: str = "sip:queue@127.0.0.1:5080"
    case_id_header: str = "X-Case-ID"
    apology_file: Path | None = None
    log_level: int = 1
    handoff_workers: int = 2
    invite_rate_per_min: int = 120
    invite_burst: int = 20
    ack_timeout_s: float = 5.0


class DoNotRecordCheck(Protocol):
    """consent.do_not_record.DoNotRecordCache: a query started at INVITE, and the cached list."""

    def lookup(self, number: str | None) -> Future[bool]: ...

    def __call__(self, number: str | None) -> bool: ...


@dataclass(frozen=True)
class BuildInfo:
    version: str
    compiled_max_calls: int

    @property
    def server_build(self) -> bool:
        return self.compiled_max_calls > 4


class _Leg(pj.Call):  # type: ignore[misc]
    """One SIP call (caller or staff side). Callbacks only enqueue events."""

    def __init__(
        self,
        acc: pj.Account,
        events: collections.deque[tuple[Any, ...]],
        flow_id: str | None,
        role: str,
        call_id: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__(acc, call_id)
        self.events = events
        self.flow_id = flow_id
        self.role = role
        self.media: pj.AudioMedia | None = None
        self.confirmed = False

    # The call's info is read inside the callback: once DISCONNECTED has been reported the
    # session is gone and getInfo() fails, so the event carries what the handler needs.
    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        self.events.append(("state", self, info.state, info.lastStatusCode))

    def onCallMediaState(self, prm: Any) -> None:
        # Read by the handler: right after answer() the status here is not yet ACTIVE.
        self.events.append(("media", self))

    def active_audio(self) -> int | None:
        """Index of the active audio stream, or None (also once the call is gone)."""
        try:
            info = self.getInfo()  # keep it referenced: info.media points into it (SWIG)
        except pj.Error:
            return None
        for i, m in enumerate(info.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                return i
        return None

    def onDtmfDigit(self, prm: Any) -> None:
        method = "sip-info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.events.append(("dtmf", self, prm.digit, method))


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, events: collections.deque[tuple[Any, ...]]) -> None:
        super().__init__()
        self.events = events

    def onIncomingCall(self, prm: Any) -> None:
        # pjsua2 answers 500 unless a Call object is bound inside this callback; binding it
        # is all that happens here, the decision waits for the SIP thread's event loop.
        leg = _Leg(self, self.events, None, "caller", prm.callId)
        self.events.append(("incoming", leg, prm.rdata.wholeMsg, prm.rdata.srcAddress))


@dataclass
class _Live:
    """Everything the SIP thread holds for one call (pjsua2 objects stay on that thread)."""

    flow: CallFlow
    calldir: CallDir
    caller: _Leg
    caller_number: str | None
    dialled: str
    sip_call_id: str
    source: str = ""
    dnr: Future[bool] | None = None  # the do-not-record query, read when the notice ends
    ack_timed_out: bool = False
    staff: _Leg | None = None
    player: Any = None
    player_until: datetime | None = None
    recorders: list[Any] = field(default_factory=list)
    hangup_at: datetime | None = None


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
        config: AgentConfig,
        *,
        notices: NoticeCatalogue,
        policy: FlowPolicy,
        calls_dir: Path,
        handoff: Handoff,
        do_not_record: DoNotRecordCheck,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.notices = notices
        self.policy = policy
        self.calls_dir = calls_dir
        self.handoff = handoff
        self.do_not_record = do_not_record
        self.clock = clock
        self.flood = FloodGuard(config.invite_rate_per_min, config.invite_burst)
        self._events: collections.deque[tuple[Any, ...]] = collections.deque()
        self._commands: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._live: dict[str, _Live] = {}
        self._ending: list[_Leg] = []  # legs kept alive until pjsua2 reports DISCONNECTED
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.capacity = 0
        self.build: BuildInfo | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._handoffs: list[Future[Any]] = []
        self._account: Any = None
        self.apology_s = wav_duration(config.apology_file) if config.apology_file else 0.0

    # -- thread API ---------------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run fn on the SIP thread; the future carries its result or exception."""
        fut: Future[Any] = Future()
        if not self.ready.is_set():
            fut.set_exception(TelephonyError("the SIP agent is not running"))
            return fut
        self._commands.put((fn, fut))
        return fut

    def stop(self) -> None:
        self._stop.set()

    # -- the SIP thread -----------------------------------------------------------------------

    def run(self) -> None:
        """Start pjsua2 on this thread and serve until stop(); then end calls and clean up."""
        ep = pj.Endpoint()
        try:
            try:
                with stdout_to_stderr():
                    ep.libCreate()
                    self._start(ep)
            except pj.Error as exc:
                raise TelephonyError(
                    f"cannot start the SIP agent on {self.config.host}:{self.config.port}: "
                    f"{exc.info().strip()}"
                ) from None
            self.ready.set()
            while not self._stop.is_set():
                ep.libHandleEvents(10)
                self._drain()
            self._shutdown(ep)
        finally:
            self.ready.clear()
            if self._pool:
                self._pool.shutdown(wait=True)
            # pjsua2 objects must be gone before the library is.
            self._live.clear()
            self._ending.clear()
            self._events.clear()
            self._account = None
            ep.libDestroy()

    def _start(self, ep: pj.Endpoint) -> None:
        compiled = int(pj.EpConfig().uaConfig.maxCalls)
        legs = min(compiled, 2 * self.config.max_calls)
        self.capacity = legs // 2
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = legs
        cfg.uaConfig.userAgent = "callvault"
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.noVad = True
        # Two RTP workers: pjmedia 2.12.1's ioqueue poll can sleep 0.5 s while calls tear
        # down; with one worker every live recording got a gap (bench/README.md).
        cfg.medConfig.threadCnt = 2
        cfg.medConfig.maxMediaPorts = 4 * legs + 16
        cfg.logConfig.level = self.config.log_level
        cfg.logConfig.consoleLevel = self.config.log_level
        ep.libInit(cfg)
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
        for name in self.config.transports:
            tc = pj.TransportConfig()
            tc.port = self.config.port
            tc.boundAddress = self.config.host
            ep.transportCreate(kinds[name], tc)
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 0)
        for name, prio in (("PCMU/8000/1", 200), ("PCMA/8000/1", 190), ("G722/16000/1", 180)):
            try:
                ep.codecSetPriority(name, prio)
            except pj.Error:
                log.warning("codec %s is not in this pjsua2 build", name)
        ep.libStart()
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:callvault@{self.config.host}:{self.config.port}"
        acfg.mediaConfig.transportConfig.boundAddress = self.config.host
        acfg.mediaConfig.transportConfig.port = self.config.rtp_port
        acfg.mediaConfig.transportConfig.portRange = 4 * legs + 100
        self._account = _Account(self._events)
        self._account.create(acfg, True)
        self.build = BuildInfo(ep.libVersion().full, compiled)
        kind = "server build (make pjsua2)" if self.build.server_build else "PyPI wheel"
        log.info("pjsua2 %s, %s: PJSUA_MAX_CALLS=%d", self.build.version, kind, compiled)
        if self.capacity < self.config.max_calls:
            log.warning(
                "sip.max_calls = %d, but this pjsua2 build holds %d SIP legs: "
                "capacity is %d concurrent bridged calls (run `make pjsua2`)",
                self.config.max_calls,
                compiled,
                self.capacity,
            )
        log.info(
            "SIP agent listening on %s:%d (%s); capacity %d concurrent bridged calls; queue %s",
            self.config.host,
            self.config.port,
            "+".join(self.config.transports),
            self.capacity,
            self.config.queue_uri,
        )
        self._pool = ThreadPoolExecutor(
            self.config.handoff_workers,
            thread_name_prefix="handoff",
            initializer=lambda: ep.libRegisterThread(threading.current_thread().name),
        )

    def _drain(self) -> None:
        while self._events:
            event = self._events.popleft()
            try:
                getattr(self, "_on_" + event[0])(*event[1:])
            except Exception:  # one call's failure must not stop the agent
                log.exception("handling %s failed", event[0])
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                break
            try:
                fut.set_result(fn())
            except Exception as exc:
                fut.set_exception(exc)
        now = self.clock()
        for live in list(self._live.values()):
            try:
                self._timers(live, now)
            except Exception:
                log.exception("call %s: timer handling failed", live.flow.call_id)

    # -- events -------------------------------------------------------------------------------

    def _on_incoming(self, leg: _Leg, message: str, src_address: str = "") -> None:
        source = _host(src_address)
        now = self.clock()
        if not self.flood.admit(source, now):
            line = self.flood.refused(source, now)
            if line:
                log.warning("%s", line)
            self._reject(leg, 503)
            return
        info = leg.getInfo()
        if len(self._live) >= self.capacity or self._stop.is_set():
            log.warning(
                "rejecting a call with 503: %d of %d calls in progress",
                len(self._live),
                self.capacity,
            )
            self._reject(leg, 503)
            return
        caller = number_part(info.remoteUri) or None
        dialled = _user(info.localUri) or ""
        notice = self.notices.select(dialled)
        flow_id = str(uuid.uuid4())
        leg.flow_id = flow_id
        flow = CallFlow(
            call_id=info.callIdString,
            notice=notice,
            policy=self.policy,
            started_at=now,
            case_ids=header_value(message, self.config.case_id_header),
        )
        live = _Live(
            flow,
            CallDir(self.calls_dir, flow_id),
            leg,
            caller,
            dialled,
            info.callIdString,
            source=source,
            # Started now, read when the notice ends: the query runs on a worker thread.
            dnr=self.do_not_record.lookup(caller),
        )
        self._live[flow_id] = live
        live.calldir.open(self._meta(live))
        prm = pj.CallOpParam()
        prm.statusCode = 200
        leg.answer(prm)
        log.info(
            "call %s answered (service %s, notice %s v%s)",
            flow_id,
            notice.service,
            notice.id,
            notice.version,
        )

    def _reject(self, leg: _Leg, code: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        leg.hangup(prm)
        self._ending.append(leg)

    def _on_media(self, leg: _Leg) -> None:
        live = self._live.get(leg.flow_id or "")
        if live is None or leg.media is not None:
            return
        index = leg.active_audio()
        if index is None:
            return
        leg.media = leg.getAudioMedia(index)
        if leg.role == "caller":
            self._maybe_start_notice(live)
        elif leg.role == "staff":
            self._maybe_bridge(live, leg)

    def _maybe_start_notice(self, live: _Live) -> None:
        """The notice plays once the caller's leg has media and its ACK has come."""
        leg = live.caller
        if live.flow.state is not State.RINGING or leg is None or leg.media is None:
            return
        if not leg.confirmed:
            return
        live.flow.answered(self.clock())
        live.player = self._play(live.flow.notice.file, leg.media)
        self._save(live)

    def _maybe_bridge(self, live: _Live, leg: _Leg) -> None:
        if live.flow.state is not State.CONNECTING or leg.media is None:
            return
        if not leg.confirmed:
            return
        action = live.flow.queue_answered(self.clock())
        caller_media = live.caller.media
        if caller_media is None:
            return
        caller_media.startTransmit(leg.media)
        leg.media.startTransmit(caller_media)
        if action is Action.START_RECORDING:
            for media, path in (
                (caller_media, live.calldir.caller_wav),
                (leg.media, live.calldir.staff_wav),
            ):
                rec = pj.AudioMediaRecorder()
                rec.createRecorder(str(path))
                media.startTransmit(rec)
                live.recorders.append(rec)
        log.info(
            "call %s bridged to the queue (%s)",
            live.flow.call_id[:16],
            "recording" if live.recorders else f"not recorded: {live.flow.outcome}",
        )
        self._save(live)

    def _on_state(self, leg: _Leg, state: int, status: int) -> None:
        live = self._live.get(leg.flow_id or "")
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            if leg in self._ending:
                self._ending.remove(leg)
            if live is None:
                return
            now = self.clock()
            if leg.role == "staff" and live.flow.state is State.CONNECTING:
                live.staff = None
                self._act(live, live.flow.queue_failed(status, now), now)
                return
            if leg.role == "staff":
                live.staff = None
            else:
                live.caller = None  # type: ignore[assignment]
            self._act(live, live.flow.hangup(leg.role, now), now)
            self._maybe_finish(live)
        elif state == pj.PJSIP_INV_STATE_CONFIRMED:
            leg.confirmed = True
            if live is not None and leg.role == "staff":
                self._maybe_bridge(live, leg)
            elif live is not None:
                self._maybe_start_notice(live)

    def _on_dtmf(self, leg: _Leg, digit: str, method: str) -> None:
        live = self._live.get(leg.flow_id or "")
        if live is None:
            return
        now = self.clock()
        if leg.role == "caller":
            before = live.flow.objection
            live.flow.caller_digit(digit, method, now)
            if before is None and live.flow.objection is not None:
                log.info(
                    "call %s: caller objected to recording (%s)", live.flow.call_id[:16], method
                )
                self._save(live)
        else:
            self._act(live, live.flow.staff_digit(digit, now), now)

    # -- actions ------------------------------------------------------------------------------

    def _play(self, path: Path, media: Any) -> Any:
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(media)
        return player

    def _timers(self, live: _Live, now: datetime) -> None:
        # A media-state callback can arrive before the stream is ACTIVE, with none after it:
        # look again while a leg's audio is still missing.
        if live.flow.state is State.RINGING and live.caller is not None:
            if live.caller.media is None:
                self._on_media(live.caller)
            waited = (now - live.flow.started_at).total_seconds()
            if (
                not live.caller.confirmed
                and not live.ack_timed_out
                and waited >= self.config.ack_timeout_s
            ):
                live.ack_timed_out = True
                # Answered, never ACKed: a flood or a broken peer. Free the slot now rather
                # than after pjsip's 32 s; no consent record (the notice never played).
                line = self.flood.unacked(live.source, now)
                if line:
                    log.warning("%s", line)
                self._hangup(live.caller)
        elif (
            live.flow.state is State.CONNECTING
            and live.staff is not None
            and live.staff.media is None
            and live.staff.confirmed
        ):
            self._on_media(live.staff)
        action = live.flow.tick(now)
        if action is not Action.NONE:
            self._act(live, action, now)
        if live.hangup_at and now >= live.hangup_at and live.caller is not None:
            live.hangup_at = None
            self._hangup(live.caller)

    def _settle_do_not_record(self, live: _Live) -> None:
        """Take the do-not-record answer: the query's if done, else the cached list's."""
        pending, live.dnr = live.dnr, None
        if pending is None:
            return
        if pending.done():
            on_list = pending.result()
        else:
            on_list = self.do_not_record(live.caller_number)
            log.warning(
                "call %s: do-not-record query not answered yet; used the cached list",
                live.flow.call_id[:16],
            )
        live.flow.do_not_record = on_list
        if on_list:
            log.info("call %s: caller is on the do-not-record list", live.flow.call_id[:16])

    def _act(self, live: _Live, action: Action, now: datetime) -> None:
        if action is Action.CONNECT_QUEUE:
            self._settle_do_not_record(live)
            live.player = None  # the notice is over (or was cut short by the window closing)
            staff = _Leg(self._account, self._events, live.calldir.flow_id, "staff")
            live.staff = staff
            prm = pj.CallOpParam(True)
            staff.makeCall(self.config.queue_uri, prm)
        elif action in (Action.MUTE_RECORDERS, Action.UNMUTE_RECORDERS):
            level = 0.0 if action is Action.MUTE_RECORDERS else 1.0
            for rec in live.recorders:
                rec.adjustRxLevel(level)
            log.info(
                "call %s recording %s",
                live.flow.call_id[:16],
                "paused" if level == 0.0 else "resumed",
            )
        elif action is Action.PLAY_APOLOGY:
            log.warning(
                "call %s: queue leg failed (%s), playing the apology",
                live.flow.call_id[:16],
                live.flow.queue_status,
            )
            if self.config.apology_file and live.caller is not None and live.caller.media:
                live.player = self._play(self.config.apology_file, live.caller.media)
                live.hangup_at = now + timedelta(seconds=self.apology_s + 0.5)
            elif live.caller is not None:
                self._hangup(live.caller)
        elif action in (Action.STOP_RECORDING, Action.HANGUP_ALL):
            live.player = None
            live.recorders.clear()  # destroys the recorders: WAV headers are finalised
            for leg in (live.caller, live.staff):
                if leg is not None:
                    self._hangup(leg)
        if action is not Action.NONE:
            self._save(live)

    def _hangup(self, leg: _Leg) -> None:
        try:
            if leg.isActive():
                leg.hangup(pj.CallOpParam())
        except pj.Error as exc:
            log.debug("hangup: %s", exc.info())

    def _maybe_finish(self, live: _Live) -> None:
        if live.caller is not None or live.staff is not None:
            return
        del self._live[live.calldir.flow_id]
        self._settle_do_not_record(live)
        self._save(live)
        calldir = live.calldir
        if self._pool is None:
            return

        def work() -> None:
            try:
                result = self.handoff.finish(calldir.path)
                log.info(
                    "call %s handed over: %s%s",
                    calldir.flow_id,
                    result.kind,
                    f" ({result.ingest.state})" if result.ingest else "",
                )
            except Exception:
                # The call directory stays in the spool; `ingest --resume` (or the next
                # start-up) stores it. Nothing is lost, so the agent keeps serving.
                log.exception(
                    "call %s: hand-over failed; kept in %s", calldir.flow_id, calldir.path
                )
            finally:
                calldir.release()

        self._handoffs = [f for f in self._handoffs if not f.done()]
        self._handoffs.append(self._pool.submit(work))

    def _save(self, live: _Live) -> None:
        live.calldir.save(self._meta(live))

    def _meta(self, live: _Live) -> dict[str, Any]:
        return {
            "flow_id": live.calldir.flow_id,
            "call_id": live.sip_call_id,
            "caller": live.caller_number,
            "dialled": live.dialled,
            "service": live.flow.notice.service,
            "queue_uri": self.config.queue_uri,
            "case_ids": live.flow.case_ids,
            "state": live.flow.state.value,
            # The notice never played (never ACKed, no media): no consent record is due.
            "signalling_only": live.flow.notice_started is None,
            "consent": live.flow.consent_record(),
        }

    # -- commands (run on the SIP thread through submit) -------------------------------------

    def list_calls(self) -> list[dict[str, Any]]:
        return [self._view(live) for live in self._live.values()]

    def _view(self, live: _Live) -> dict[str, Any]:
        f = live.flow
        return {
            "call_id": f.call_id,
            "flow_id": live.calldir.flow_id,
            "state": f.state.value,
            "service": f.notice.service,
            "started_at": f.started_at.isoformat(),
            "bridged_at": f.bridged_at.isoformat() if f.bridged_at else None,
            "recording": bool(live.recorders),
            "outcome": f.outcome,
            "case_ids": f.case_ids,
            "paused_intervals": f.paused,
        }

    def _find(self, call_id: str) -> _Live:
        found = [
            lv
            for lv in self._live.values()
            if call_id in (lv.flow.call_id, lv.calldir.flow_id)
            or lv.calldir.flow_id.startswith(call_id)
        ]
        if len(found) != 1:
            raise TelephonyError(
                f"no live call {call_id!r}"
                if not found
                else f"call id {call_id!r} is ambiguous ({len(found)} calls)"
            )
        return found[0]

    def pause(self, call_id: str, *, resume: bool = False) -> dict[str, Any]:
        live = self._find(call_id)
        now = self.clock()
        flow = live.flow
        action = flow.resume(now, "control") if resume else flow.pause(now, "control")
        self._act(live, action, now)
        return self._view(live)

    def add_case_id(self, call_id: str, case_id: str) -> dict[str, Any]:
        live = self._find(call_id)
        if case_id not in live.flow.case_ids:
            live.flow.case_ids.append(case_id)
            self._save(live)
        return self._view(live)

    def _shutdown(self, ep: pj.Endpoint) -> None:
        """End every live call (each is stored, marked as ended by shutdown), then drain."""
        if self._live:
            log.info("stopping: ending %d live call(s)", len(self._live))
        now = self.clock()
        for live in list(self._live.values()):
            live.flow.ended_by = "agent-shutdown"
            self._act(live, live.flow.hangup("agent", now), now)
        deadline = now.timestamp() + 10
        while (self._live or self._ending) and self.clock().timestamp() < deadline:
            ep.libHandleEvents(10)
            self._drain()
        for fut in self._handoffs:
            fut.result()
        ep.hangupAllCalls()


def _host(address: str) -> str:
    """'1.2.3.4:5060' or '[::1]:5060' → the address without the port."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _user(uri: str) -> str | None:
    m = _USER.search(uri)
    return m.group(1) if m else None
