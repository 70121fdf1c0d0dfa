"""Pausing and resuming a recording, from the staff keypad and through the CLI: silent
while paused, the timeline keeps its length, the keypad is not audible."""

from __future__ import annotations

import json
import subprocess
import time
import wave
from pathlib import Path

import numpy as np

from tests.telephony.calls import (
    RATE,
    export,
    read_wav,
    recordings,
    wait_for_live_calls,
)
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step, start_sipp


def goertzel_share(frame: np.ndarray, freq: float) -> float:
    """Share of the frame's energy at one frequency."""
    n = len(frame)
    k = np.exp(-2j * np.pi * freq * np.arange(n) / RATE)
    energy = float((frame**2).sum()) or 1.0
    return float(abs((frame * k).sum()) ** 2 * 2 / n) / energy


def dtmf_frames(x: np.ndarray, low: float = 770, high: float = 1336) -> int:
    n = RATE // 20
    count = 0
    for i in range(0, len(x) - n, n):
        f = x[i : i + n]
        if (
            np.sqrt((f**2).mean()) > 100
            and goertzel_share(f, low) > 0.15
            and goertzel_share(f, high) > 0.15
        ):
            count += 1
    return count


def test_pause_resume_from_the_staff_keypad(
    agent: RunningAgent, voices: dict[str, Path], te_pt: int, tmp_path: Path
) -> None:
    # The caller's audio: speech, then the keypad tone for "5" while recording is paused.
    speech = read_wav(voices["caller_pcm"])[:, 0]
    t = np.arange(int(1.5 * RATE)) / RATE
    tone = 8000 * (np.sin(2 * np.pi * 770 * t) + np.sin(2 * np.pi * 1336 * t)) / 2
    start = int(6.0 * RATE)
    body = np.concatenate([np.tile(speech, 3)[:start], tone, np.tile(speech, 3)[: 10 * RATE]])
    pcm = tmp_path / "caller-with-tone.pcm.wav"
    with wave.open(str(pcm), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(body.astype("<i2").tobytes())
    assert dtmf_frames(body) > 10  # the check below can see the tone
    ulaw = tmp_path / "caller-with-tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(pcm), "-c:a", "pcm_mulaw", str(ulaw)], check=True
    )
    rc, err = agent.call(
        CallerScenario(ulaw, [Step(6500, "dtmf", "5"), Step(13000, "bye")]),
        QueueScenario(
            voices["staff"], te_pt=te_pt, digits=[(700, "*"), (900, "7"), (4500, "*"), (4700, "8")]
        ),
    )
    assert rc == 0, err
    agent.wait_idle()
    [rec] = recordings(agent)
    [pause] = rec["consent"]["paused_intervals"]
    assert pause["source"] == "staff-dtmf" and pause["end"] is not None
    a, b = pause["offset_s"], pause["end_offset_s"]
    assert 3.0 < b - a < 4.5
    audio = export(agent, rec["id"])
    assert abs(len(audio) / RATE - rec["duration_s"]) < 0.1  # the timeline keeps its length
    paused = audio[int((a + 0.1) * RATE) : int((b - 0.1) * RATE)]
    assert np.sqrt((paused**2).mean()) < 30, "silence while paused (both channels)"
    before = audio[: int(a * RATE)]
    after = audio[int(b * RATE) + RATE // 2 :]
    assert np.sqrt((before[:, 0] ** 2).mean()) > 300 and np.sqrt((after[:, 0] ** 2).mean()) > 300
    assert dtmf_frames(audio[:, 0]) == 0, "the caller's keypad is not audible"


def silent_run_s(audio: np.ndarray, at_s: float, floor: float = 30) -> float:
    """Length of the run of 20 ms frames, silent on both channels, that contains ``at_s``."""
    n = RATE // 50
    frames = audio[: len(audio) // n * n].reshape(-1, n, audio.shape[1])
    silent = np.sqrt((frames**2).mean(axis=1)).max(axis=1) < floor
    i = int(at_s * RATE) // n
    if not silent[i]:
        return 0.0
    lo, hi = i, i
    while lo > 0 and silent[lo - 1]:
        lo -= 1
    while hi + 1 < len(silent) and silent[hi + 1]:
        hi += 1
    return (hi - lo + 1) * n / RATE


def test_pause_and_resume_through_the_cli(agent: RunningAgent, voices: dict[str, Path]) -> None:
    """The pause is judged from the agent's own record and the WAV, never from how long the
    two CLI processes took to start: it lasts at least the 2 s slept between the pause
    command's answer and the resume command's start, and the audio is silent exactly then."""
    uas = start_sipp(
        QueueScenario(voices["staff"]).xml(), agent.workdir, "queue", port=agent.queue_port
    )
    time.sleep(0.3)
    uac = start_sipp(
        CallerScenario(voices["caller"], [Step(20000, "bye")], case_id="CT-9").xml(),
        agent.workdir,
        "caller",
        target=agent.target,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            calls = wait_for_live_calls(agent, 1)
            if calls[0]["state"] == "bridged":
                break
            time.sleep(0.2)
        [live] = calls
        assert live["recording"] and live["case_ids"] == ["CT-9"]
        r = json.loads(agent.cli("calls", "pause", live["call_id"], "--json").stdout)
        assert r["state"] == "paused"
        time.sleep(2)
        r = json.loads(agent.cli("calls", "resume", live["flow_id"][:8], "--json").stdout)
        assert r["state"] == "bridged"
        bad = agent.cli("calls", "pause", "no-such-call", check=False)
        assert bad.returncode == 1 and "no live call 'no-such-call'" in bad.stderr
    finally:
        assert uac.wait(30) == 0
        uas.communicate(timeout=15)
        uac.communicate()
    agent.wait_idle()
    [rec] = recordings(agent)
    [pause] = rec["consent"]["paused_intervals"]
    a, b = pause["offset_s"], pause["end_offset_s"]
    assert pause["source"] == "control" and b - a >= 1.95  # 2 s between the two commands
    assert b < rec["duration_s"]  # resumed while the call lasted
    audio = export(agent, rec["id"])
    assert abs(len(audio) / RATE - rec["duration_s"]) < 0.1  # the timeline keeps its length
    paused = audio[int((a + 0.1) * RATE) : int((b - 0.1) * RATE)]
    assert np.sqrt((paused**2).mean()) < 30, "silence while paused (both channels)"
    # The silence in the WAV is the interval the consent record names: as long (speech on
    # either side may touch it, so up to a second longer), and not a longer gap elsewhere.
    silence = silent_run_s(audio, (a + b) / 2)
    assert b - a - 0.2 <= silence <= b - a + 1.0, (silence, a, b)
    before, after = audio[: int(a * RATE)], audio[int(b * RATE) + RATE // 2 :]
    assert np.sqrt((before[:, 0] ** 2).mean()) > 300 and np.sqrt((after[:, 0] ** 2).mean()) > 300
