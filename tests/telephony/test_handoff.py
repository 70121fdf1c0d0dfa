"""Recovering calls a stopped agent left in the spool (no pjsua2 needed)."""

from __future__ import annotations

import json
import os
import struct
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from callvault.settings import load_settings
from callvault.wiring import Services
from storage.call_record import CallRecord, CallTiming
from telephony.handoff import Handoff, repair_wav


def write_leg(path: Path, seconds: float, stale_header: bool) -> None:
    samples = (3000 * np.sin(np.arange(int(8000 * seconds)) / 5)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    if stale_header:  # what pjmedia leaves when the recorder was never closed
        with open(path, "r+b") as fh:
            fh.seek(4)
            fh.write(struct.pack("<I", 36))
            fh.seek(40)
            fh.write(struct.pack("<I", 0))


def test_repair_wav_restores_the_sizes(tmp_path: Path) -> None:
    leg = tmp_path / "caller.wav"
    write_leg(leg, 2.5, stale_header=True)
    assert repair_wav(leg) == 2.5
    with wave.open(str(leg)) as w:
        assert w.getnframes() == 20000


def call_dir(root: Path, flow_id: str, seconds: float) -> Path:
    """A call directory as the agent before storage/call_record.py left it (version 1)."""
    d = root / flow_id
    d.mkdir(parents=True)
    write_leg(d / "caller.wav", seconds, stale_header=True)
    write_leg(d / "staff.wav", seconds - 0.5, stale_header=True)
    consent = {"outcome": "recorded", "recorded": True, "bridged_at": None, "ended_by": None}
    (d / "call.json").write_text(
        json.dumps(
            {
                "flow_id": flow_id,
                "call_id": f"sip-{flow_id}",
                "caller": "+441277000000",
                "service": "waste",
                "queue_uri": "sip:q@x",
                "case_ids": ["C-1"],
                "consent": consent,
            }
        )
    )
    return d


def test_recover_stores_partial_calls_and_keeps_broken_ones(tmp_path: Path) -> None:
    # The storage side of a hand-over is the ingest pipeline, covered on both backend pairs.
    services = Services.build(load_settings(environ={}, cwd=tmp_path))
    try:
        services.init()
        root = services.spool.calls_dir
        good = call_dir(root, "11111111-1111-4111-8111-111111111111", 3.0)
        bad = call_dir(root, "22222222-2222-4222-8222-222222222222", 3.0)
        (bad / "staff.wav").write_bytes(b"not a wav at all")
        results = {r.flow_id: r for r in Handoff(services.pipeline()).recover()}
        assert results[good.name].kind == "recording"
        assert results[bad.name].kind.startswith("failed: ")
        assert not good.exists() and not bad.exists()  # the broken one: sealed, with why
        sealed = services.pipeline().quarantine.entries("quarantine")
        assert [e["id"] for e in sealed] == [bad.name] and sealed[0]["kind"]
        view = services.recordings().show(good.name)
        assert view["complete"] is False and view["consent"]["incomplete"] is True
        assert view["channels"] == 2 and abs(view["duration_s"] - 3.0) < 0.05
        assert view["consent"]["ended_by"] == "agent-stopped" and view["case_ids"] == ["C-1"]
        # running it again stores nothing twice
        again = {r.flow_id: r for r in Handoff(services.pipeline()).recover()}
        assert list(again) == []
    finally:
        services.close()


def test_the_legs_end_when_the_hang_up_arrived(tmp_path: Path) -> None:
    """The recorders run on until the loop destroys them; the hand-off cuts them at ended_at."""
    services = Services.build(load_settings(environ={}, cwd=tmp_path))
    try:
        services.init()
        flow_id = "33333333-3333-4333-8333-333333333333"
        d = call_dir(services.spool.calls_dir, flow_id, 3.0)
        t0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
        consent = {"recorded": True, "outcome": "recorded", "bridged_at": t0.isoformat()}
        consent["ended_at"] = (t0 + timedelta(seconds=2.2)).isoformat()
        record = CallRecord(
            flow_id,
            f"sip-{flow_id}",
            consent,
            queue_uri="sip:q@x",
            timing=CallTiming(recording_started_at=t0 + timedelta(seconds=0.1)),
        )
        (d / "call.json").write_bytes(record.to_json())
        result = Handoff(services.pipeline()).finish(d)
        assert result.kind == "recording" and result.ingest and result.ingest.state == "stored"
        view = services.recordings().show(flow_id)
        assert view["complete"] is True and abs(view["duration_s"] - 2.1) < 0.05
    finally:
        services.close()


def test_a_call_directory_without_a_record_is_never_left_silently(tmp_path: Path) -> None:
    """The agent died between taking a call and writing its first record: a directory that
    holds only its lock goes (nothing was recorded); one with audio is sealed with why; a
    young one is left alone (a live agent may be creating it)."""
    services = Services.build(load_settings(environ={}, cwd=tmp_path))
    try:
        services.init()
        root = services.spool.calls_dir
        empty, audio, young = (root / name for name in ("empty-call", "audio-call", "young-call"))
        for d in (empty, audio, young):
            d.mkdir(parents=True)
            (d / ".lock").touch()
        write_leg(audio / "caller.wav", 1.0, stale_header=True)
        old = time.time() - 60
        for d in (empty, audio):
            os.utime(d, (old, old))
        results = {r.flow_id: r for r in Handoff(services.pipeline()).recover()}
        assert results["empty-call"].kind == "nothing-recorded" and not empty.exists()
        assert (
            results["audio-call"].kind.startswith("failed: no call record") and not audio.exists()
        )
        sealed = services.pipeline().quarantine.entries("quarantine")
        assert [e["id"] for e in sealed] == ["audio-call"]
        assert "young-call" not in results and young.is_dir()
        being_taken = root / "being-taken"  # mkdir done, the agent's lock not yet taken
        being_taken.mkdir()
        assert Handoff(services.pipeline()).recover() == []
        assert list(being_taken.iterdir()) == [], "recovery must not race the agent's lock"
    finally:
        services.close()
