"""Commit fast, compress later: a WAV committed at once, compressed by `callvault worker` exactly
once whatever step a worker dies at, and destroyed with every version of both objects."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callvault.settings import load_settings
from callvault.wiring import Services
from storage.audit import AuditLog
from storage.catalogue.models import (
    AuditEvent,
    CompressionJob,
    DestructionRecord,
    RecordingKey,
)
from storage.clock import utcnow
from storage.compression import Compressor
from tests.conftest import Backend, write_config
from tests.storage.test_resilience import count_objects

LEASE_S = 900
KILL_WORKER = """
import os, signal, sys
from pathlib import Path
from callvault.settings import load_settings
from callvault.settings import load_settings
from callvault.wiring import Services

config, target = sys.argv[1], sys.argv[2]

def crash(step, rid):
    if step == target:
        os.kill(os.getpid(), signal.SIGKILL)

svc = Services.build(load_settings(Path(config), environ={}))
print(svc.compressor(on_step=crash).drain())
"""


def no_grace(backend: Backend) -> None:
    """The old object is deleted in the same run (the default keeps it 5 minutes)."""
    with backend.config.open("a") as fh:
        fh.write(f"\n[worker]\nold_object_grace_s = 0\nlease_s = {LEASE_S}\n")


def compressor(
    services: Services, *, after_s: float = 0, grace_s: float = 0, **kw: Any
) -> Compressor:
    """A worker in this process whose clock runs `after_s` ahead (past another's lease)."""
    clock: Callable[[], datetime] = lambda: utcnow() + timedelta(seconds=after_s)  # noqa: E731
    return Compressor(
        catalogue=services.catalogue,
        store=services.store,
        envelope=services.envelope,
        audio=services.audio,
        work_dir=services.spool.root / "compress",
        audit=AuditLog(),  # audit rows keep the real time
        clock=clock,
        lease_s=LEASE_S,
        old_object_grace_s=grace_s,
        **kw,
    )


def ingest(backend: Backend, source: Path, call_id: str = "c1") -> dict[str, Any]:
    r = backend.cli("ingest", str(source), "--call-id", call_id, "--json", check=True)
    view: dict[str, Any] = json.loads(r.stdout)
    return view


def count(services: Services, model: Any, *where: Any) -> int:
    with services.catalogue.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def compress_events(services: Services) -> int:
    return count(services, AuditEvent, AuditEvent.action == "recording.compress")


def test_committed_as_wav_then_a_worker_compresses_it_exactly_once(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    no_grace(backend)
    rec = ingest(backend, speech_call)
    assert rec["format"] == "wav" and rec["state"] == "stored"
    # Durable and retrievable at once: the committed WAV is the merged input, byte for byte.
    first = tmp_path / "first.wav"
    backend.cli("recordings", "export", rec["id"], "--out", str(first), "--reason", "t", check=True)
    assert (
        hashlib.sha256(first.read_bytes()).digest()
        == hashlib.sha256(speech_call.read_bytes()).digest()
    )

    r = backend.cli("worker", "--once", "--json", check=True)
    doc = json.loads(r.stdout)
    assert [j["state"] for j in doc["jobs"]] == ["compressed"] and doc["queue"] == {"done": 1}
    after = json.loads(backend.cli("recordings", "show", rec["id"], "--json", check=True).stdout)
    assert after["format"] == "opus" and after["object_key"] != rec["object_key"]
    assert after["stored_bytes"] * 5 < rec["stored_bytes"]
    assert after["sha256_ciphertext"] != rec["sha256_ciphertext"]
    assert count_objects(backend, services) == 1  # every version of the WAV is gone
    assert compress_events(services) == 1

    # Retrieval verifies the new version's checksums; the audio is still the call.
    out = tmp_path / "after.wav"
    backend.cli("recordings", "export", rec["id"], "--out", str(out), "--reason", "t", check=True)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    [stream] = json.loads(probe.stdout)["streams"]
    assert stream["channels"] == 2 and abs(float(stream["duration"]) - rec["duration_s"]) < 0.1

    again = backend.cli("worker", "--once", "--json", check=True)
    assert json.loads(again.stdout)["jobs"] == []
    assert compress_events(services) == 1
    assert backend.cli("audit", "verify").returncode == 0
    assert not any((services.spool.root / "compress").iterdir())


@pytest.mark.parametrize("step", ["uploaded", "committed"])
def test_worker_killed_at_each_stage_another_finishes_exactly_once(
    backend: Backend, services: Services, speech_call: Path, step: str, tmp_path: Path
) -> None:
    no_grace(backend)
    rid = ingest(backend, speech_call)["id"]
    r = subprocess.run(
        [sys.executable, "-c", KILL_WORKER, str(backend.config), step],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert r.returncode == -signal.SIGKILL, r.stdout + r.stderr
    assert count_objects(backend, services) == 2  # the WAV and the compact one, both stored
    assert compressor(services).drain() == []  # the dead worker's lease still holds the job
    began = time.monotonic()
    [done] = compressor(services, after_s=LEASE_S + 60).drain()
    # Recovery: the lease ([worker] lease_s) must run out, then another worker's run.
    print(f"killed at {step}: finished by another {time.monotonic() - began:.1f} s after the lease")
    assert done.state == "compressed", done
    view = services.recordings().show(rid)
    assert view["format"] == "opus" and view["object_key"].endswith(".opus")
    assert count_objects(backend, services) == 1
    assert compress_events(services) == 1
    with services.catalogue.session() as s:
        job = s.get(CompressionJob, rid)
        assert job is not None and job.state == "done" and job.attempts == 2
    exported = services.recordings().export(rid, tmp_path / "x.wav", reason="t", actor="t")
    assert exported.bytes_written > 10000
    assert compressor(services, after_s=2 * LEASE_S).drain() == []


def test_destroying_removes_every_version_of_both_objects_and_the_key(
    backend: Backend, services: Services, speech_call: Path
) -> None:
    no_grace(backend)
    replaced = ingest(backend, speech_call, "replaced")["id"]
    pending = ingest(backend, speech_call, "pending")["id"]
    # One compressed with its WAV still kept (the grace for open streams) ...
    r = compressor(services, grace_s=3600).run_once()
    assert r is not None and r.state == "old-pending" and r.recording_id == replaced

    # ... one whose worker died after uploading the compact object, before the commit.
    def die(step: str, _rid: str) -> None:
        if step == "uploaded":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compressor(services, on_step=die).drain()
    assert count_objects(backend, services) == 4

    report = services.purger().run(now=utcnow() + timedelta(days=400), actor="t")
    assert sorted(d["recording_id"] for d in report.destroyed) == sorted([replaced, pending])
    assert count_objects(backend, services) == 0
    assert count(services, RecordingKey) == 0
    with services.catalogue.session() as s:
        records = s.scalars(select(DestructionRecord)).all()
        assert sorted(d.versions_removed for d in records) == [2, 2]

    # The jobs left behind end without re-creating anything.
    states = sorted(x.state for x in compressor(services, after_s=7200).drain())
    assert states == ["dropped", "dropped"]
    assert count_objects(backend, services) == 0
    assert backend.cli("audit", "verify").returncode == 0


def test_worker_once_on_an_empty_queue_and_without_the_private_key(
    tmp_path: Path, speech_call: Path
) -> None:
    """In hpke mode a recorder holds only the public key: its worker refuses, clearly; the
    job waits for a worker where the private key is."""
    config = write_config(tmp_path, '[keys]\nmode = "hpke"\n\n[worker]\nold_object_grace_s = 0\n')
    b = Backend("sqlite-fs", config, load_settings(config, environ={}))
    b.cli("init", check=True)
    empty = b.cli("worker", "--once")
    assert empty.returncode == 0 and "compressed 0 job(s); queue: empty" in empty.stderr
    rid = ingest(b, speech_call)["id"]
    private = sorted((tmp_path / "var/keys/hpke").glob("*private*"))
    assert private
    away = tmp_path / "elsewhere"
    away.mkdir()
    for p in private:
        p.rename(away / p.name)
    r = b.cli("worker", "--once")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "hpke" in r.stderr and "where the private key is" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    for p in private:
        (away / p.name).rename(p)
    ok = b.cli("worker", "--once", "--json", check=True)
    assert [j["recording_id"] for j in json.loads(ok.stdout)["jobs"]] == [rid]
    assert json.loads(b.cli("recordings", "show", rid, "--json").stdout)["format"] == "opus"


def test_other_formats_and_at_ingest_are_transcoded_before_the_commit(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    """Only a 16-bit PCM WAV is committed as it is: an MP3 is transcoded at ingest (decoding
    it to WAV to compress it again later would be two passes for nothing), and so is every
    input with `[audio] compress = "at-ingest"`. Neither queues a job."""
    mp3 = tmp_path / "call.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(speech_call), "-c:a", "libmp3lame", str(mp3)],
        check=True,
    )
    assert ingest(backend, mp3, "mp3")["format"] == "opus"
    r = backend.cli(
        "ingest", str(speech_call), "--call-id", "now", "--json",
        env={"CALLVAULT_AUDIO_COMPRESS": "at-ingest"}, check=True,
    )  # fmt: skip
    assert json.loads(r.stdout)["format"] == "opus"
    assert count(services, CompressionJob) == 0
    assert json.loads(backend.cli("worker", "--once", "--json", check=True).stdout)["jobs"] == []
