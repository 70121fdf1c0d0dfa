"""The agent as a subprocess (`callvault agent`), real sipp peers, real speech."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callvault.settings import load_settings
from callvault.wiring import Services
from tests.conftest import CALLVAULT, espeak
from tests.telephony.sipp import CallerScenario, QueueScenario, free_port, start_sipp

NOTICE_TEXT = "This call may be recorded. Press nine to object."


@pytest.fixture(scope="session")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """u-law WAVs for sipp's rtp_stream, and a short 16-bit notice for the agent."""
    d = tmp_path_factory.mktemp("voices")
    out = {}
    for name, text, voice in (
        (
            "caller",
            "Hello, I am phoning about the bins on Ongar Road. They were not "
            "collected this week and the street is full of rubbish.",
            "en-gb",
        ),
        (
            "staff",
            "Good morning, this is the council. I am sorry to hear that. Let me "
            "book a collection for tomorrow and give you a reference number.",
            "en-us",
        ),
    ):
        pcm = espeak(text, d / f"{name}.pcm.wav", voice=voice)
        ulaw = d / f"{name}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(pcm), "-c:a", "pcm_mulaw", str(ulaw)],
            check=True,
        )
        out[name] = ulaw
        out[name + "_pcm"] = pcm
    out["notice"] = espeak(NOTICE_TEXT, d / "notice.wav")
    return out


PT_PROBE = """
import socket, pjsua2 as pj
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(5)
ep = pj.Endpoint(); ep.libCreate(); cfg = pj.EpConfig(); cfg.logConfig.consoleLevel = 0
cfg.uaConfig.threadCnt = 0; cfg.uaConfig.mainThreadOnly = True; ep.libInit(cfg)
t = pj.TransportConfig(); t.boundAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, t)
ep.audDevManager().setNullDev(); ep.libStart()
acc = pj.Account(); ac = pj.AccountConfig(); ac.idUri = "sip:probe@127.0.0.1"; acc.create(ac, True)
c = pj.Call(acc); c.makeCall("sip:q@127.0.0.1:%d" % s.getsockname()[1], pj.CallOpParam(True))
for _ in range(20): ep.libHandleEvents(10)
sdp = s.recv(8000).decode()
print([l.split()[0].split(":")[1] for l in sdp.splitlines() if "telephone-event" in l][0])
c.hangup(pj.CallOpParam()); ep.libDestroy()
"""


@pytest.fixture(scope="session")
def te_pt() -> int:
    """The payload type this pjsua2 build offers for telephone-event (120 on 2.12.1)."""
    r = subprocess.run(
        [sys.executable, "-c", PT_PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    return int(r.stdout.strip().splitlines()[-1])


@dataclass
class RunningAgent:
    config: Path
    workdir: Path
    process: subprocess.Popen[str] | None
    sip_port: int
    queue_port: int
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [CALLVAULT, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.workdir,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"callvault {' '.join(args)}: {r.stderr}")
        return r

    def services(self) -> Services:
        return Services.build(load_settings(self.config, environ={}))

    def start(self) -> None:
        token = self.workdir / "var/run/control.json"
        token.unlink(missing_ok=True)
        logfh = open(self.log, "a")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [CALLVAULT, "--config", str(self.config), "agent"],
            cwd=self.workdir,
            stdout=logfh,
            stderr=subprocess.STDOUT,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
        )
        logfh.close()
        deadline = time.monotonic() + 30
        while not token.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"agent did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        try:
            rc = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            rc = self.process.wait()
        self.process = None
        return rc

    def wait_idle(self, timeout: float = 30) -> None:
        """Until no call is live and every handed-over call has left the spool."""
        deadline = time.monotonic() + timeout
        calls_dir = self.workdir / "var/spool/calls"
        jobs_dir = self.workdir / "var/spool/jobs"
        while time.monotonic() < deadline:
            busy = any(calls_dir.iterdir()) if calls_dir.exists() else False
            busy = busy or (any(jobs_dir.iterdir()) if jobs_dir.exists() else False)
            if not busy:
                return
            time.sleep(0.2)
        raise AssertionError(f"agent not idle after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def call(
        self, caller: CallerScenario, queue: QueueScenario | None = None, timeout: float = 90
    ) -> tuple[int, str]:
        """Place one call with sipp (and serve the queue with sipp); returns the UAC result."""
        uas = None
        if queue is not None:
            uas = start_sipp(queue.xml(), self.workdir, "queue", port=self.queue_port)
            time.sleep(0.3)
        uac = start_sipp(caller.xml(), self.workdir, "caller", target=self.target)
        try:
            _, err = uac.communicate(timeout=timeout)
        finally:
            if uas is not None:
                try:
                    uas.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    uas.kill()
                    uas.communicate()
        return uac.returncode, err


def free_rtp_base(span: int = 200) -> int:
    """An even RTP port base below the kernel's ephemeral range (where sipp's ports come
    from) whose first ports are free right now."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(10000, 30000 - span, 2)
        socks = []
        try:
            for port in range(base, base + 20):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free RTP port range found")


@pytest.fixture
def agent(tmp_path: Path, voices: dict[str, Path]) -> Iterator[RunningAgent]:
    sip_port, queue_port, control_port = free_port(), free_port(), free_port()
    rtp = free_rtp_base()
    config = tmp_path / "callvault.toml"
    config.write_text(f"""
[sip]
port = {sip_port}
transports = ["udp"]
rtp_port = {rtp}
max_calls = 10
queue_uri = "sip:queue@127.0.0.1:{queue_port}"
control_port = {control_port}

[portal]
port = {free_port()}

[consent]
objection_grace_s = 2

[[consent.notices]]
id = "test-notice"
version = "7"
language = "en-GB"
file = "{voices["notice"]}"
dialled = "*"
service = "waste"
""")
    a = RunningAgent(config, tmp_path, None, sip_port, queue_port, tmp_path / "agent.log")
    a.cli("init")
    a.start()
    yield a
    a.stop()
