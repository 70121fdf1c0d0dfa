"""SIP over TLS with SRTP (issue 13 item 3), against the real agent: a pjsua2 caller dials the
agent over TLS, the agent bridges it to a pjsua2 queue over TLS; a raw AF_PACKET socket on the
loopback captures the call's SIP and RTP. With srtp = "mandatory" no SIP is in clear and the
caller's known PCMU bytes are nowhere in the RTP; with srtp = "off" (the control, same capture)
they are found, so the check can fail.

Certificates: a throwaway self-signed test fixture made here with the openssl CLI."""

from __future__ import annotations

import audioop
import socket
import struct
import subprocess
import threading
import time
import wave
from pathlib import Path
from typing import Any

import pjsua2 as pj
import pytest

from telephony.peers import _PeerCall, _Queue
from telephony.pjlog import stdout_to_stderr
from tests.telephony.calls import recordings
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import free_port

AMPLITUDE = 8000
RUN = 16  # identical PCMU bytes in a row that only the known square wave produces


def _square_wav(path: Path) -> bytes:
    """A 100 Hz square wave, ±AMPLITUDE; returns the two PCMU bytes it encodes to."""
    half = struct.pack("<h", AMPLITUDE) * 40 + struct.pack("<h", -AMPLITUDE) * 40
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(half * 100)
    return audioop.lin2ulaw(struct.pack("<hh", AMPLITUDE, -AMPLITUDE), 2)


class _Capture(threading.Thread):
    """Every IPv4 packet on lo whose UDP/TCP port is one of `ports` (or in the RTP range)."""

    def __init__(self, ports: set[int], rtp: range) -> None:
        super().__init__(daemon=True)
        self.ports, self.rtp = ports, rtp
        self.udp: list[bytes] = []
        self.tcp: list[bytes] = []
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)

    def run(self) -> None:
        with self.sock:
            self._read()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                frame, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            if addr[2] == socket.PACKET_OUTGOING:  # lo shows each packet twice
                continue
            ip = frame[14:]
            if len(ip) < 20 or ip[0] >> 4 != 4:
                continue
            ihl, proto = (ip[0] & 15) * 4, ip[9]
            l4 = ip[ihl:]
            sport, dport = struct.unpack("!HH", l4[:4])
            mine = {sport, dport} & self.ports or sport in self.rtp or dport in self.rtp
            if not mine:
                continue
            if proto == 17:
                self.udp.append(l4[8:])
            elif proto == 6:
                self.tcp.append(l4[(l4[12] >> 4) * 4 :])


def _call(
    agent_tls: int, queue_tls: int, d: Path, caller_wav: Path, staff_wav: Path, srtp: int
) -> int:
    """Caller → agent over TLS, queue answers over TLS; returns the queue's confirmed calls."""
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
        tc.port = queue_tls
        tc.tlsConfig.certFile = str(d / "sip.crt")
        tc.tlsConfig.privKeyFile = str(d / "sip.key")
        ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tc)
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 0)
        ep.codecSetPriority("PCMU/8000/1", 200)
        ep.libStart()

        def acc_cfg(uri: str) -> Any:
            a = pj.AccountConfig()
            a.idUri = uri
            a.mediaConfig.srtpUse = srtp
            a.mediaConfig.srtpSecureSignaling = 1 if srtp == pj.PJMEDIA_SRTP_MANDATORY else 0
            a.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
            return a

        queue = _Queue(staff_wav)
        queue.create(acc_cfg(f"sip:queue@127.0.0.1:{queue_tls};transport=tls"), True)
        caller = pj.Account()
        caller.create(acc_cfg(f"sip:+441277000015@127.0.0.1:{queue_tls};transport=tls"), False)
        call = _PeerCall(caller, caller_wav)
        call.makeCall(f"sip:council@127.0.0.1:{agent_tls};transport=tls", pj.CallOpParam(True))
        deadline, bridged = time.monotonic() + 60, None
        while time.monotonic() < deadline and call.state != "down":
            ep.libHandleEvents(20)
            if bridged is None and queue.calls and queue.calls[0].state == "up":
                bridged = time.monotonic()
            if bridged and time.monotonic() - bridged > 4:
                call.hangup(pj.CallOpParam())
                bridged = float("inf")
        end = time.monotonic() + 2
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        answered = len(queue.calls)
        del call, queue, caller
        return answered
    finally:
        ep.libDestroy()


def _tls_agent(agent: RunningAgent, srtp: str) -> tuple[int, int, int]:
    """Restart the agent with a TLS listener, a TLS queue leg and the given srtp; returns the
    agent's TLS port, the queue's and the agent's RTP base."""
    d = agent.workdir
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(d / "sip.key"), "-out", str(d / "sip.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    agent_tls, queue_tls = free_port(), free_port()
    agent.stop()
    cfg = agent.config.read_text()
    rtp = int(cfg.split("rtp_port = ", 1)[1].split("\n", 1)[0])
    cfg = cfg.replace(f'127.0.0.1:{agent.queue_port}"', f'127.0.0.1:{queue_tls};transport=tls"')
    extra = (
        f'tls_port = {agent_tls}\ntls_cert = "{d}/sip.crt"\ntls_key = "{d}/sip.key"\n'
        f'tls_ca = "{d}/sip.crt"\nsrtp = "{srtp}"\n'
    )
    agent.config.write_text(cfg.replace("max_calls = 10\n", "max_calls = 10\n" + extra))
    agent.start()
    return agent_tls, queue_tls, rtp


@pytest.mark.parametrize("srtp", ["mandatory", "off"])
def test_tls_and_srtp_hide_sip_and_audio_on_the_wire(
    agent: RunningAgent, voices: dict[str, Path], srtp: str
) -> None:
    d = agent.workdir
    agent_tls, queue_tls, rtp = _tls_agent(agent, srtp)
    known = _square_wav(d / "square.wav")
    cap = _Capture({agent_tls, queue_tls}, range(rtp, rtp + 200))
    cap.start()
    try:
        mode = pj.PJMEDIA_SRTP_MANDATORY if srtp == "mandatory" else pj.PJMEDIA_SRTP_DISABLED
        answered = _call(agent_tls, queue_tls, d, d / "square.wav", voices["staff"], mode)
    finally:
        cap.stop.set()
        cap.join()
    assert answered == 1, agent.log.read_text()[-3000:]
    sip = [p for p in cap.tcp + cap.udp if b"SIP/2.0" in p or b"INVITE sip:" in p]
    assert cap.tcp and not sip, sip[:1]  # TLS records flowed, no SIP text in any of them
    rtp_packets = [p for p in cap.udp if len(p) > 12 and p[0] >> 6 == 2 and p[1] & 0x7F == 0]
    assert len(rtp_packets) > 100, len(rtp_packets)
    runs = [bytes([b]) * RUN for b in known]
    clear = sum(1 for p in rtp_packets if any(r in p[12:] for r in runs))
    if srtp == "mandatory":
        assert clear == 0, f"{clear} of {len(rtp_packets)} RTP packets carry the audio in clear"
    else:
        assert clear > 50, f"control: only {clear} of {len(rtp_packets)} packets in clear"
    agent.wait_idle()
    [rec] = recordings(agent)
    assert rec["state"] == "stored"


def test_plain_rtp_is_refused_when_srtp_is_mandatory(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    agent_tls, queue_tls, _ = _tls_agent(agent, "mandatory")
    d = agent.workdir
    _square_wav(d / "square.wav")
    answered = _call(
        agent_tls, queue_tls, d, d / "square.wav", voices["staff"], pj.PJMEDIA_SRTP_DISABLED
    )
    assert answered == 0  # never bridged to the queue
    agent.wait_idle()
    assert recordings(agent) == []
