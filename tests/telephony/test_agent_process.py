"""The agent's process: killed mid-call it leaves a recoverable partial recording;
`callvault serve` runs the agent and the scheduled jobs."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from tests.conftest import CALLVAULT
from tests.pipes import communicate, lines_until
from tests.telephony.calls import (
    RATE,
    export,
    recordings,
)
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step, start_sipp


def test_agent_killed_mid_call_leaves_a_recoverable_partial_recording(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    uas = start_sipp(
        QueueScenario(voices["staff"]).xml(),
        agent.workdir,
        "queue",
        port=agent.queue_port,
        timeout_s=20,
    )
    uac = start_sipp(
        CallerScenario(voices["caller"], [Step(30000, "bye")]).xml(),
        agent.workdir,
        "caller",
        target=agent.target,
        timeout_s=20,
    )
    # Killed once the caller's WAV in the spool holds 2 s of audio (the agent's own artefact,
    # not a guess at how long sipp and the notice take to start on a busy machine).
    two_seconds = 44 + 2 * RATE * 2
    deadline = time.monotonic() + 60
    while not any(
        p.stat().st_size >= two_seconds
        for p in (agent.workdir / "var/spool/calls").glob("*/caller.wav")
    ):
        assert time.monotonic() < deadline, agent.log.read_text()[-2000:]
        time.sleep(0.1)
    assert agent.process is not None
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait()
    agent.process = None
    for p in (uac, uas):
        p.kill()
        p.communicate()
    calls = list((agent.workdir / "var/spool/calls").iterdir())
    assert len(calls) == 1 and (calls[0] / "caller.wav").stat().st_size >= two_seconds
    r = agent.cli("ingest", "--resume")
    assert "recovered call (recording, partial: it was still live)" in r.stderr
    [rec] = recordings(agent)
    assert rec["complete"] is False and rec["consent"]["incomplete"] is True
    assert 1.9 < rec["duration_s"] < 30  # at least what was on disk when it was killed
    audio = export(agent, rec["id"])
    assert abs(len(audio) / RATE - rec["duration_s"]) < 0.1
    assert np.sqrt((audio[:, 0] ** 2).mean()) > 300  # the partial audio is there
    assert not any((agent.workdir / "var/spool/calls").iterdir())
    agent.cli("audit", "verify")


def test_serve_runs_the_agent_and_the_scheduler(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    """`make run` runs `callvault serve`: both the SIP agent and the scheduled jobs."""
    agent.stop()
    proc = subprocess.Popen(
        [CALLVAULT, "--config", str(agent.config), "serve"],
        cwd=agent.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    agent.process = proc
    seen = "".join(lines_until(proc.stdout, "call it: sip:100@", 30, "serve"))
    assert "call it: sip:100@127.0.0.1:" in seen, seen
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(7000, "bye")]), QueueScenario(voices["staff"])
    )
    assert rc == 0, err
    agent.wait_idle()
    [rec] = recordings(agent)
    deadline = time.monotonic() + 120  # serve's compression worker looks every 5 s
    while rec["format"] != "opus" and time.monotonic() < deadline:
        time.sleep(1)
        [rec] = recordings(agent)
    assert rec["format"] == "opus", "serve's worker compresses the call it committed as WAV"
    proc.send_signal(signal.SIGTERM)
    out, _ = communicate(proc, timeout=60)
    agent.process = None
    assert proc.returncode == 0, seen + out
