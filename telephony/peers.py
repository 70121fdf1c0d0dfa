"""A caller and a service queue made of pjsua2, for `callvault demo` (not used in production).

Both live on one Endpoint in this process (the agent runs in its own process): the queue
answers and speaks the staff side, the caller dials the agent, speaks, and hangs up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pjsua2 as pj

from telephony.pjlog import stdout_to_stderr


class _PeerCall(pj.Call):  # type: ignore[misc]
    def __init__(self, acc: Any, wav: Path, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.wav = wav
        self.player: Any = None
        self.state = "new"

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        self.state = {
            pj.PJSIP_INV_STATE_CONFIRMED: "up",
            pj.PJSIP_INV_STATE_DISCONNECTED: "down",
        }.get(info.state, self.state)

    def onCallMediaState(self, prm: Any) -> None:
        info = self.getInfo()
        for i, m in enumerate(info.media):
            if (
                m.type == pj.PJMEDIA_TYPE_AUDIO
                and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                and self.player is None
            ):
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(str(self.wav))  # loops
                self.player.startTransmit(self.getAudioMedia(i))


class _Queue(pj.Account):  # type: ignore[misc]
    def __init__(self, wav: Path) -> None:
        super().__init__()
        self.wav = wav
        self.calls: list[_PeerCall] = []

    def onIncomingCall(self, prm: Any) -> None:
        call = _PeerCall(self, self.wav, prm.callId)
        self.calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


def place_demo_call(
    agent_uri: str,
    queue_port: int,
    caller_wav: Path,
    staff_wav: Path,
    talk_s: float,
    progress: Callable[[str], None],
    headers: dict[str, str] | None = None,
) -> None:
    """Answer as the queue on queue_port, dial agent_uri, talk for talk_s once bridged."""
    ep = pj.Endpoint()
    with stdout_to_stderr():
        ep.libCreate()
    try:
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.level = 0
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        with stdout_to_stderr():
            ep.libInit(cfg)
        tc = pj.TransportConfig()
        tc.boundAddress = "127.0.0.1"
        tc.port = queue_port
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        ep.audDevManager().setNullDev()
        ep.libStart()
        queue = _Queue(staff_wav)
        qcfg = pj.AccountConfig()
        qcfg.idUri = f"sip:queue@127.0.0.1:{queue_port}"
        queue.create(qcfg, True)
        caller = pj.Account()
        ccfg = pj.AccountConfig()
        ccfg.idUri = f"sip:+441277312500@127.0.0.1:{queue_port}"
        caller.create(ccfg, False)
        call = _PeerCall(caller, caller_wav)
        prm = pj.CallOpParam(True)
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            prm.txOption.headers.append(h)
        call.makeCall(agent_uri, prm)
        progress(f"caller dialled {agent_uri}; the agent answers and plays the notice")
        deadline = time.monotonic() + 120
        bridged_at = None
        while time.monotonic() < deadline and call.state != "down":
            ep.libHandleEvents(20)
            if bridged_at is None and queue.calls and queue.calls[0].state == "up":
                bridged_at = time.monotonic()
                progress("the agent bridged the caller to the queue; both sides talk")
            if bridged_at and time.monotonic() - bridged_at > talk_s:
                progress(f"caller hangs up after {talk_s:.0f} s of conversation")
                call.hangup(pj.CallOpParam())
                bridged_at = float("inf")
        end = time.monotonic() + 2
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        del call, queue, caller
    finally:
        ep.libDestroy()
