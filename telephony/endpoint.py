"""The one pjsua2 Endpoint, its account and legs, and the SIP thread's two queues.

One thread owns the Endpoint (threadCnt=0, mainThreadOnly): it calls start(), then poll() in a
loop. pjsua2 callbacks (on that thread, inside libHandleEvents) only build a typed event
(telephony/events.py) stamped with the time and append it to `events`; other threads hand
work to the SIP thread through submit().
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pjsua2 as pj

from telephony import media
from telephony.errors import TelephonyError
from telephony.events import (
    Confirmed,
    Digit,
    Disconnected,
    Event,
    Incoming,
    MediaChanged,
    Ringing,
    Role,
)
from telephony.pjlog import stdout_to_stderr
from telephony.settings import SipSettings

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class BuildInfo:
    version: str
    compiled_max_calls: int

    @property
    def server_build(self) -> bool:
        return self.compiled_max_calls > 4


class Leg(pj.Call):  # type: ignore[misc]
    """One SIP call (caller or staff side). Callbacks only stamp and enqueue events."""

    def __init__(
        self,
        acc: pj.Account,
        events: collections.deque[Event],
        clock: Clock,
        flow_id: str | None,
        role: Role,
        call_id: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__(acc, call_id)
        self.events = events
        self.clock = clock
        self.flow_id = flow_id
        self.role = role
        self.media: pj.AudioMedia | None = None

    # The info is read inside the callback: once DISCONNECTED has been reported the session
    # is gone and getInfo() fails, so the event carries what the handler needs.
    def onCallState(self, prm: Any) -> None:
        at = self.clock()
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.events.append(Disconnected(self, self.flow_id, self.role, info.lastStatusCode, at))
        elif self.flow_id is None:
            return
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.events.append(Confirmed(self, self.flow_id, self.role, at))
        elif info.state == pj.PJSIP_INV_STATE_EARLY:
            self.events.append(Ringing(self, self.flow_id, self.role, at))

    def onCallMediaState(self, prm: Any) -> None:
        # Read by the loop: right after answer() the status here is not yet ACTIVE.
        if self.flow_id is not None:
            self.events.append(MediaChanged(self, self.flow_id, self.role, self.clock()))

    def onDtmfDigit(self, prm: Any) -> None:
        at = self.clock()
        if self.flow_id is None:
            return
        method = "sip-info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.events.append(Digit(self, self.flow_id, self.role, prm.digit, method, at))

    def audio(self) -> pj.AudioMedia | None:
        """The leg's active audio stream (looked up once), or None (also once it is gone)."""
        if self.media is not None:
            return self.media
        try:
            info = self.getInfo()  # keep it referenced: info.media points into it (SWIG)
        except pj.Error:
            return None
        for i, m in enumerate(info.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media = self.getAudioMedia(i)
                return self.media
        return None

    def answer_with(self, code: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        self.answer(prm)

    def reject(self, code: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        self.hangup(prm)

    def end(self) -> None:
        try:
            if self.isActive():
                self.hangup(pj.CallOpParam())
        except pj.Error as exc:
            log.debug("hangup: %s", exc.info())


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, events: collections.deque[Event], clock: Clock) -> None:
        super().__init__()
        self.events = events
        self.clock = clock

    def onIncomingCall(self, prm: Any) -> None:
        # pjsua2 answers 500 unless a Call object is bound inside this callback; binding it
        # (and reading its info while it is there) is all that happens here.
        at = self.clock()
        leg = Leg(self, self.events, self.clock, None, Role.CALLER, prm.callId)
        info = leg.getInfo()
        self.events.append(
            Incoming(
                leg,
                prm.rdata.wholeMsg,
                _host(prm.rdata.srcAddress),
                info.remoteUri,
                info.localUri,
                info.callIdString,
                at,
            )
        )


class Endpoint:
    """pjsua2's library, transports and account; lives and dies on the SIP thread."""

    def __init__(self, settings: SipSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.events: collections.deque[Event] = collections.deque()
        self._commands: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self.ready = threading.Event()
        self.capacity = 0
        self.build: BuildInfo | None = None
        self._ep: Any = None
        self._account: Any = None

    # -- any thread ---------------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run fn on the SIP thread; the future carries its result or exception."""
        fut: Future[Any] = Future()
        if not self.ready.is_set():
            fut.set_exception(TelephonyError("the SIP agent is not running"))
            return fut
        self._commands.put((fn, fut))
        return fut

    # -- the SIP thread -----------------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        self._ep = ep = pj.Endpoint()
        try:
            with stdout_to_stderr():
                ep.libCreate()
                self._init(ep)
        except pj.Error as exc:
            raise TelephonyError(
                f"cannot start the SIP agent on {s.host}:{s.port}: {exc.info().strip()}"
            ) from None

    def _init(self, ep: Any) -> None:
        s = self.settings
        compiled = int(pj.EpConfig().uaConfig.maxCalls)
        legs = min(compiled, 2 * s.max_calls)
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
        # Two RTP workers: one keeps reading while the other sleeps in a teardown
        # (pjmedia before 2.13 slept up to 0.5 s there; bench/README.md).
        cfg.medConfig.threadCnt = 2
        cfg.medConfig.maxMediaPorts = 4 * legs + 16
        cfg.logConfig.level = s.pjsua_log_level
        cfg.logConfig.consoleLevel = s.pjsua_log_level
        ep.libInit(cfg)
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
        for name in s.transports:
            tc = pj.TransportConfig()
            tc.port = s.port
            tc.boundAddress = s.host
            ep.transportCreate(kinds[name], tc)
        if s.tls_port:
            ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, _tls_transport(s))
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
        acfg.idUri = f"sip:callvault@{s.host}:{s.port}"
        acfg.mediaConfig.transportConfig.boundAddress = s.host
        acfg.mediaConfig.transportConfig.port = s.rtp_port
        acfg.mediaConfig.transportConfig.portRange = 4 * legs + 100
        acfg.mediaConfig.srtpUse = _SRTP_USE[s.srtp]
        # Mandatory SRTP: its SDES keys are in the SDP, so the hop must be TLS (1: this hop).
        acfg.mediaConfig.srtpSecureSignaling = 1 if s.srtp == "mandatory" else 0
        self._account = _Account(self.events, self.clock)
        self._account.create(acfg, True)
        self.build = BuildInfo(ep.libVersion().full, compiled)
        kind = "server build (make pjsua2)" if self.build.server_build else "PyPI wheel"
        log.info("pjsua2 %s, %s: PJSUA_MAX_CALLS=%d", self.build.version, kind, compiled)
        if self.capacity < s.max_calls:
            log.warning(
                "sip.max_calls = %d, but this pjsua2 build holds %d SIP legs: "
                "capacity is %d concurrent bridged calls (run `make pjsua2`)",
                s.max_calls,
                compiled,
                self.capacity,
            )

    def dial(self, uri: str, flow_id: str) -> Leg:
        """Place the queue leg of a call."""
        leg = Leg(self._account, self.events, self.clock, flow_id, Role.STAFF)
        leg.makeCall(uri, pj.CallOpParam(True))
        return leg

    def poll(self, ms: int) -> None:
        self._ep.libHandleEvents(ms)

    def run_commands(self) -> None:
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                fut.set_result(fn())
            except Exception as exc:
                fut.set_exception(exc)

    def register_thread(self) -> None:
        """Register the calling (non-SIP) thread with pjlib, in case it frees a pjsua2 object."""
        self._ep.libRegisterThread(threading.current_thread().name)

    def hangup_all(self) -> None:
        self._ep.hangupAllCalls()

    def destroy(self) -> None:
        """After every pjsua2 object made on it is gone (the caller drops them first)."""
        self.ready.clear()
        self.events.clear()
        self._account = None
        media.reap(everything=True)
        if self._ep is not None:
            self._ep.libDestroy()
            self._ep = None


_SRTP_USE = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}


def _tls_transport(s: SipSettings) -> Any:
    """The TLS listener; its settings also govern the TLS connections the agent opens (the
    queue leg when queue_uri says `;transport=tls` or `sips:`). Files checked at load."""
    tc = pj.TransportConfig()
    tc.port = s.tls_port
    tc.boundAddress = s.host
    tls = tc.tlsConfig
    tls.certFile = str(s.tls_cert)
    tls.privKeyFile = str(s.tls_key)
    tls.CaListFile = str(s.tls_ca) if s.tls_ca else ""
    tls.verifyClient = s.tls_verify_client
    tls.requireClientCert = s.tls_verify_client
    tls.verifyServer = s.tls_verify_server
    return tc


def _host(address: str) -> str:
    """'1.2.3.4:5060' or '[::1]:5060' → the address without the port."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address
