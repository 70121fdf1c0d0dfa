"""Issue 8 items 3 and 8: owner-only files whatever the umask; nothing rejected lies in clear;
a WAV from a streaming encoder is accepted."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from callvault.settings import load_settings
from callvault.wiring import Services
from storage.call_record import CallRecord
from telephony.calldir import CallDir
from tests.conftest import Backend, write_config


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    out = {}
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        out[str(p.relative_to(root.parent))] = stat.S_IMODE(p.stat().st_mode)
    return out


def test_everything_made_is_owner_only_under_umask_022(
    tmp_path: Path, speech_call: Path, umask_022: None
) -> None:
    config = write_config(tmp_path)
    backend = Backend("sqlite-fs", config, load_settings(config, environ={}))
    backend.cli("init", check=True)
    backend.cli("ingest", str(speech_call), "--call-id", "c1", "--caller", "+441277000013",
                check=True)  # fmt: skip
    junk = tmp_path / "junk.wav"
    junk.write_bytes(os.urandom(5000))
    assert backend.cli("ingest", str(junk), "--call-id", "c2").returncode == 1
    svc = Services.build(backend.settings)
    try:
        live = CallDir(svc.spool.calls_dir, "44444444-4444-4444-8444-444444444444")
        live.lock()
        live.write(CallRecord(live.flow_id, "c3", {}, caller="+441277000013").to_json())
        live.release()
    finally:
        svc.close()
    var = tmp_path / "var"
    found = modes(var)
    assert found, "nothing was created"
    loose = {
        p: oct(m)
        for p, m in found.items()
        if (Path(tmp_path, p).is_dir() and m != 0o700)
        or (Path(tmp_path, p).is_file() and m & 0o077)
    }
    assert loose == {}
    names = {Path(p).name for p in found}
    assert {"callvault.db", "call.json", "caller-hash.key", "audit-chain.key"} <= names


def test_rejected_input_is_sealed_and_can_be_restored(
    backend: Backend, services: Services, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.wav"
    secret = b"RIFF-not-really-" + os.urandom(4000)
    junk.write_bytes(secret)
    r = backend.cli("ingest", str(junk), "--call-id", "c", "--caller", "+441277000013")
    assert r.returncode == 1 and "rejected" in r.stderr
    (entry,) = services.spool.rejected_dir.iterdir()
    for p in entry.iterdir():
        data = p.read_bytes()
        assert b"RIFF-not-really" not in data and b"441277000013" not in data, p.name
    q = services.pipeline().quarantine
    q.open_file("rejected", entry.name, "source.wav", tmp_path / "back.wav")
    assert (tmp_path / "back.wav").read_bytes() == secret


def test_a_wav_from_a_streaming_encoder_is_accepted(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    streamed = tmp_path / "streamed.wav"
    with open(streamed, "wb") as out:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(speech_call), "-f", "wav", "-bitexact", "pipe:1"],
            stdout=out,
            check=True,
        )
    assert streamed.read_bytes()[4:8] == b"\xff\xff\xff\xff"  # the header length unknown
    r = backend.cli("ingest", str(streamed), "--call-id", "streamed", "--json")
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    expected = services.audio.probe(speech_call).duration_s
    assert view["channels"] == 2 and abs(view["duration_s"] - expected) < 0.1
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(speech_call.read_bytes()[:44])  # still refused: a real header, no data
    assert backend.cli("ingest", str(truncated), "--call-id", "t").returncode == 1
