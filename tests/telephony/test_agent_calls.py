"""The SIP agent against real sipp peers sending real RTP (speech made with espeak-ng)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import CALLVAULT
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step, start_sipp

RATE = 8000


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()).astype(np.float64)


def envelope(x: np.ndarray) -> np.ndarray:
    n = RATE // 50  # 20 ms
    frames = x[: len(x) // n * n].reshape(-1, n)
    return np.sqrt((frames**2).mean(axis=1))


def best_corr(recorded: np.ndarray, source: np.ndarray) -> float:
    """Highest correlation of the recorded envelope with the (looped) source at any lag."""
    rec, src = envelope(recorded), envelope(source)
    src = np.tile(src, len(rec) // len(src) + 2)
    rec = (rec - rec.mean()) / (rec.std() or 1)
    best = -1.0
    for lag in range(len(src) - len(rec)):
        seg = src[lag : lag + len(rec)]
        if seg.std() > 0:
            best = max(best, float(np.mean(rec * (seg - seg.mean()) / seg.std())))
    return best


def recordings(agent: RunningAgent) -> list[dict[str, Any]]:
    rows = json.loads(agent.cli("recordings", "list", "--json").stdout)
    return [json.loads(agent.cli("recordings", "show", r["id"], "--json").stdout) for r in rows]


def consent_records(agent: RunningAgent) -> list[dict[str, Any]]:
    svc = agent.services()
    try:
        with svc.catalogue.engine.connect() as conn:
            docs = conn.exec_driver_sql("SELECT document FROM consent_records ORDER BY id")
            return [json.loads(d) for (d,) in docs]
    finally:
        svc.close()


def export(agent: RunningAgent, rid: str) -> np.ndarray:
    out = agent.workdir / f"{rid}.wav"
    agent.cli("recordings", "export", rid, "--out", str(out), "--reason", "test", "--format", "wav")
    return read_wav(out)


def assert_nothing_stored(agent: RunningAgent) -> None:
    assert recordings(agent) == []
    spool = agent.workdir / "var/spool"
    assert not any((spool / "calls").iterdir()) and not any((spool / "jobs").iterdir())
    assert not any((agent.workdir / "var/objects").rglob("*"))


def test_normal_call_records_each_side_on_its_own_channel(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(11000, "bye")], case_id="WASTE-77"),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    [rec] = recordings(agent)
    consent = rec["consent"]
    assert rec["channels"] == 2 and rec["case_ids"] == ["WASTE-77"] and rec["complete"]
    assert consent["outcome"] == "recorded" and consent["recorded"] is True
    assert consent["notice"] == {"id": "test-notice", "version": "7", "language": "en-GB"}
    assert consent["notice_completed"] and consent["objection"] is None
    assert consent["lawful_basis"] and consent["purposes"] and consent["paused_intervals"] == []
    assert consent["notice_seconds_played"] == consent["notice_duration_s"]
    from datetime import datetime

    bridged = (
        datetime.fromisoformat(consent["ended_at"]) - datetime.fromisoformat(consent["bridged_at"])
    ).total_seconds()
    assert bridged > 4
    assert abs(rec["duration_s"] - bridged) / bridged < 0.05
    # Committed at hang-up in its cheap form; a worker compresses it, and the channel checks
    # below run on the compressed version.
    assert rec["format"] == "wav"
    worker = json.loads(agent.cli("worker", "--once", "--json").stdout)
    assert [j["state"] for j in worker["jobs"]] in (["compressed"], ["old-pending"])
    compressed = json.loads(agent.cli("recordings", "show", rec["id"], "--json").stdout)
    assert compressed["format"] == "opus" and compressed["stored_bytes"] * 8 < rec["stored_bytes"]
    audio = export(agent, rec["id"])
    assert abs(len(audio) / RATE - bridged) / bridged < 0.05
    caller_src, staff_src = (
        read_wav(voices["caller_pcm"])[:, 0],
        read_wav(voices["staff_pcm"])[:, 0],
    )
    left, right = audio[:, 0], audio[:, 1]
    assert best_corr(left, caller_src) > 0.75, "caller's speech on the left channel"
    assert best_corr(right, staff_src) > 0.75, "staff's speech on the right channel"
    assert best_corr(left, staff_src) < best_corr(left, caller_src) - 0.2
    assert best_corr(right, caller_src) < best_corr(right, staff_src) - 0.2


@pytest.mark.parametrize("method", ["rfc4733", "sip-info"])
def test_objection_digit_means_no_audio(
    agent: RunningAgent, voices: dict[str, Path], method: str
) -> None:
    kind = "dtmf" if method == "rfc4733" else "info"
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(1500, kind, "9"), Step(8000, "bye")]),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "objected" and consent["recorded"] is False
    assert consent["objection"]["method"] == method
    assert 1.0 < consent["objection"]["seconds_into_notice"] < 3.0
    assert consent["bridged_at"] is not None  # the call still went through, unrecorded


def test_hang_up_during_notice_is_abandoned(agent: RunningAgent, voices: dict[str, Path]) -> None:
    rc, err = agent.call(CallerScenario(voices["caller"], [Step(1500, "bye")]))
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "abandoned during notice"
    assert not consent["notice_completed"]
    assert 1.0 <= consent["notice_seconds_played"] <= 2.5


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


def test_caller_on_the_do_not_record_list(agent: RunningAgent, voices: dict[str, Path]) -> None:
    agent.stop()
    agent.cli("objections", "add", "+44 1277 312500", "--reason", "asked by phone, ref 12")
    agent.start()  # loads the list at start (a running agent reloads it every 5 s)
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(8000, "bye")]), QueueScenario(voices["staff"])
    )
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "do-not-record" and consent["do_not_record"] is True
    listed = json.loads(agent.cli("objections", "list", "--json").stdout)
    assert len(listed) == 1 and "1277" not in json.dumps(listed)  # only the keyed hash


def test_no_common_codec_gets_488_and_the_agent_keeps_serving(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(CallerScenario(voices["caller"], codecs=((3, "GSM/8000"),), expect="488"))
    assert rc == 0, err
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(7000, "bye")]), QueueScenario(voices["staff"])
    )
    assert rc == 0, err
    agent.wait_idle()
    assert len(recordings(agent)) == 1


def test_queue_refusal_plays_apology_and_stores_nothing_half(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], hung_up_by_agent=True),
        QueueScenario(voices["staff"], refuse_with=486),
    )
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "queue-failed" and consent["queue_status"] == 486
    assert consent["ended_by"] == "caller" and consent["recorded"] is False


def wait_for_live_calls(agent: RunningAgent, n: int, timeout: float = 60) -> list[Any]:
    # 60 s: a first INVITE lost while the restarted agent binds is retransmitted by sipp
    # (RFC 3261 timer A doubles from 0.5 s), so on a loaded machine the call may come late.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls: list[Any] = json.loads(agent.cli("calls", "list", "--json").stdout)
        if len(calls) >= n:
            return calls
        time.sleep(0.2)
    raise AssertionError(f"{n} live call(s) expected:\n{agent.log.read_text()[-2000:]}")


def test_calls_beyond_capacity_get_503(agent: RunningAgent, voices: dict[str, Path]) -> None:
    agent.stop()
    agent.config.write_text(agent.config.read_text().replace("max_calls = 10", "max_calls = 1"))
    agent.start()
    assert "capacity 1 concurrent bridged calls" in agent.log.read_text()
    uas = start_sipp(
        QueueScenario(voices["staff"]).xml(), agent.workdir, "queue", port=agent.queue_port
    )
    first = start_sipp(
        CallerScenario(voices["caller"], [Step(8000, "bye")]).xml(),
        agent.workdir,
        "first",
        target=agent.target,
    )
    try:
        wait_for_live_calls(agent, 1)
        rc, err = agent.call(CallerScenario(voices["caller"], expect="503"))
        assert rc == 0, err
        assert first.wait(30) == 0
        uas.wait(15)
    finally:
        for p in (first, uas):
            if p.poll() is None:
                p.kill()
            p.communicate()
    agent.wait_idle()
    assert len(recordings(agent)) == 1


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
    assert "recovered call" in r.stderr
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
    seen = ""
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while "call it: sip:100@" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
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
    out, _ = proc.communicate(timeout=60)
    agent.process = None
    assert proc.returncode == 0, seen + out


def test_staff_hanging_up_ends_the_caller_leg_too(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], hung_up_by_agent=True),
        QueueScenario(voices["staff"], hangup_after_ms=4000),
    )
    assert rc == 0, err
    agent.wait_idle()
    [rec] = recordings(agent)
    assert rec["consent"]["ended_by"] == "staff" and rec["consent"]["outcome"] == "recorded"
    assert 3.5 < rec["duration_s"] < 5
