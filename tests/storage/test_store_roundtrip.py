"""The storage suite, run on SQLite + local directory and on PostgreSQL + SeaweedFS."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from callvault.wiring import Services
from storage import parts
from storage.catalogue.models import Recording, RecordingKey
from storage.errors import IntegrityError, KeyUnavailableError, NotFoundError, StorageError
from storage.ingest import IngestRequest
from tests.conftest import Backend


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()).astype(np.float64), w.getframerate()


def envelope(x: np.ndarray, rate: int) -> np.ndarray:
    """RMS per 20 ms frame: robust to codec phase changes, keeps who spoke when."""
    n = rate // 50
    frames = x[: len(x) // n * n].reshape(-1, n)
    return np.sqrt((frames**2).mean(axis=1))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    m = min(len(a), len(b))
    return float(np.corrcoef(a[:m], b[:m])[0, 1])


def ingest(services: Services, path: Path, **kw: object) -> str:
    req = IngestRequest(call_id=str(kw.pop("call_id", "call-1")), **kw)  # type: ignore[arg-type]
    result = services.pipeline().ingest(path, req, actor="tester")
    assert result.state == "stored", result.message
    return result.recording_id


def test_round_trip_of_real_speech(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(
        services,
        speech_call,
        caller="+44 1277 312 500",
        service="waste",
        case_ids=("WASTE-1",),
        consent={"recorded": True, "notice": {"version": "3"}},
    )
    out = tmp_path / "out.wav"
    services.recordings().export(rid, out, reason="quality check", actor="supervisor", fmt="wav")

    original, rate = read_wav(speech_call)
    decoded, out_rate = read_wav(out)
    with wave.open(str(out)) as w:  # the header's sizes are true (ffmpeg wrote a file, not a pipe)
        assert w.getnframes() == len(decoded) and 44 + w.getnframes() * 4 == out.stat().st_size
    assert out_rate == rate == 8000
    assert decoded.shape[1] == 2
    assert abs(len(decoded) - len(original)) / rate < 0.05  # duration within 50 ms
    env_o = [envelope(original[:, c], rate) for c in (0, 1)]
    env_d = [envelope(decoded[:, c], rate) for c in (0, 1)]
    # Each channel carries its own side: decoded left follows original left, not right.
    assert corr(env_d[0], env_o[0]) > 0.9
    assert corr(env_d[1], env_o[1]) > 0.9
    assert corr(env_d[0], env_o[1]) < 0.6
    view = services.recordings().show(rid)
    assert view["state"] == "stored" and view["channels"] == 2
    assert view["case_ids"] == ["WASTE-1"]
    assert view["consent"] == {"recorded": True, "notice": {"version": "3"}}
    assert abs(view["duration_s"] - len(original) / rate) < 0.05
    assert list(services.spool.jobs_dir.iterdir()) == []


def test_stored_object_has_no_plaintext_audio(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call, caller="01277312500")
    plain = tmp_path / "plain.opus"
    services.recordings().export(rid, plain, reason="test", actor="t")  # stored format
    view = services.recordings().show(rid)
    with services.store.open(view["object_key"]) as fh:
        stored = fh.read()
    clear = plain.read_bytes()
    assert clear[:4] == b"OggS"
    assert b"OggS" not in stored and b"RIFF" not in stored and b"Opus" not in stored
    for i in range(0, len(clear) - 32, 997):  # no 32-byte run of the plaintext survives
        assert clear[i : i + 32] not in stored
    assert rid in view["object_key"] and "01277" not in view["object_key"]
    head = services.store.head(view["object_key"])
    assert head is not None and head.sha256 == view["sha256_ciphertext"]


def _stored_bytes(services: Services, key: str) -> bytes:
    with services.store.open(key) as fh:
        return bytes(fh.read())


def _overwrite(backend: Backend, services: Services, key: str, data: bytes) -> None:
    if backend.s3 is not None:
        backend.s3.client().put_object(Bucket=backend.settings.s3.bucket, Key=key, Body=data)
    else:
        (backend.settings.store.path / key).write_bytes(data)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_tampered_object_fails_clearly_and_writes_nothing(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path, damage: str
) -> None:
    rid = ingest(services, speech_call)
    key = services.recordings().show(rid)["object_key"]
    data = bytearray(_stored_bytes(services, key))
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        del data[-100:]
    _overwrite(backend, services, key, bytes(data))
    out = tmp_path / "x.wav"
    with pytest.raises(IntegrityError, match="failed verification"):
        services.recordings().export(rid, out, reason="test", actor="t", fmt="wav")
    assert not out.exists() and list(tmp_path.glob(".*part")) == []
    r = backend.cli("recordings", "export", rid, "--out", str(out), "--reason", "x")
    assert r.returncode == 1 and "failed verification" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_object_of_another_recording_does_not_open(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    """The recording ID is the associated data: A's object cannot pass for B's."""
    a, b = ingest(services, speech_call, call_id="a"), ingest(services, speech_call, call_id="b")
    key_a = services.recordings().show(a)["object_key"]
    with services.catalogue.session() as s:
        s.execute(update(Recording).where(Recording.id == b).values(object_key=key_a + "x"))
    _overwrite(backend, services, key_a + "x", _stored_bytes(services, key_a))
    with pytest.raises(IntegrityError):
        services.recordings().export(b, tmp_path / "b.wav", reason="t", actor="t")
    # and A's wrapped key moved onto B's row does not unwrap (wrapped with A's ID)
    with services.catalogue.session() as s:
        wrapped = s.get(RecordingKey, a)
        assert wrapped is not None
        s.execute(
            update(RecordingKey)
            .where(RecordingKey.recording_id == b)
            .values(wrapped_keyset=wrapped.wrapped_keyset)
        )
    with pytest.raises(KeyUnavailableError):
        services.recordings().export(b, tmp_path / "b.wav", reason="t", actor="t")
    assert not (tmp_path / "b.wav").exists()


def test_missing_key_fails_clearly(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    with services.catalogue.session() as s:
        s.execute(delete(RecordingKey).where(RecordingKey.recording_id == rid))
    r = backend.cli("recordings", "export", rid, "--out", str(tmp_path / "o.wav"), "--reason", "x")
    assert r.returncode == 1 and "no data key" in r.stderr, r.stderr
    # a missing key-encryption key file is named too
    rid2 = ingest(services, speech_call)
    for f in (backend.settings.keys.dir / "local").glob("*.aead.json"):
        f.unlink()
    r = backend.cli("recordings", "export", rid2, "--out", str(tmp_path / "o.wav"), "--reason", "x")
    assert r.returncode == 1 and "key-encryption key local:" in r.stderr and "is not in" in r.stderr
    assert not (tmp_path / "o.wav").exists()


def test_unknown_id_and_listing(backend: Backend, services: Services, speech_call: Path) -> None:
    with pytest.raises(NotFoundError, match="no recording with id 'nope'"):
        services.recordings().show("nope")
    a = ingest(
        services,
        speech_call,
        call_id="a",
        caller="+44 1277 312500",
        service="waste",
        case_ids=("C-1",),
    )
    ingest(services, speech_call, call_id="b", caller="+44 1277 999999", service="tax")
    r = backend.cli("recordings", "list", "--caller", "+441277312500", "--json", check=True)
    rows = json.loads(r.stdout)
    assert [row["id"] for row in rows] == [a]
    assert (
        json.loads(
            backend.cli("recordings", "list", "--case-id", "C-1", "--json", check=True).stdout
        )[0]["id"]
        == a
    )
    assert len(json.loads(backend.cli("recordings", "list", "--json", check=True).stdout)) == 2
    r = backend.cli("recordings", "tag", a, "--case-id", "C-2", "--json", check=True)
    assert json.loads(r.stdout)["case_ids"] == ["C-1", "C-2"]
    r = backend.cli("recordings", "show", "missing-id")
    assert r.returncode == 1 and "no recording with id 'missing-id'" in r.stderr


def test_multipart_upload_of_a_large_object(
    backend: Backend, tmp_path: Path, speech_call: Path
) -> None:
    if backend.s3 is None:
        pytest.skip("multipart is an S3 concern")
    text = backend.config.read_text() + '\n[audio]\nformat = "wav"\n'
    backend.config.write_text(
        text.replace(
            "connect_timeout_s",
            "multipart_threshold_mb = 5\nmultipart_chunk_mb = 5\nconnect_timeout_s",
        )
    )
    svc = Services.build(backend.reload())
    svc.init()
    try:
        long = tmp_path / "long.wav"
        import subprocess

        subprocess.run(
            ["sox", str(speech_call)] + [str(speech_call)] * 60 + [str(long)], check=True
        )
        rid = ingest(svc, long)
        view = svc.recordings().show(rid)
        assert view["stored_bytes"] > 5 << 20
        s3 = backend.s3.client()
        head = s3.head_object(Bucket=backend.settings.s3.bucket, Key=view["object_key"])
        assert "-" in head["ETag"]  # a multipart upload's ETag is "<md5>-<parts>"
        svc.recordings().export(rid, tmp_path / "back.wav", reason="t", actor="t")
        back, _ = read_wav(tmp_path / "back.wav")
        assert np.array_equal(back, read_wav(long)[0])  # WAV storage is lossless
    finally:
        svc.close()


def test_ingest_refuses_bad_metadata_and_keeps_input(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "consent.json"
    bad.write_text("{not json")
    r = backend.cli("ingest", str(speech_call), "--call-id", "c", "--consent", str(bad))
    assert r.returncode == 1 and "consent.json is not valid JSON" in r.stderr
    r = backend.cli("ingest", str(tmp_path / "absent.wav"), "--call-id", "c")
    assert r.returncode == 1 and "absent.wav: no such file" in r.stderr
    r = backend.cli("ingest", str(speech_call))
    assert r.returncode == 2 and "--call-id is required" in r.stderr  # a usage error
    assert len(r.stderr.strip().splitlines()) == 1
    assert speech_call.exists()
    with services.catalogue.session() as s:
        assert s.scalars(select(Recording)).all() == []
    with pytest.raises(StorageError, match="case id"):
        services.pipeline().ingest(speech_call, IngestRequest("c", case_ids=("",)), actor="t")


def test_audio_opens_at_any_offset_through_the_store(
    backend: Backend, services: Services, tmp_path: Path
) -> None:
    """A seek fetches the object from the part that holds the offset (a ranged GET on S3, a
    seek on the filesystem) and yields exactly the plaintext from there."""
    long_call = tmp_path / "long.wav"  # 75 s of 8 kHz stereo: over two 1 MiB parts as WAV
    t = np.arange(75 * 8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    with wave.open(str(long_call), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.column_stack([tone, tone[::-1]]).tobytes())
    rid = ingest(services, long_call)
    recs = services.recordings()
    with recs.open_audio(rid) as audio:
        whole = b"".join(iter(lambda: audio.read(1 << 16), b""))
    assert len(whole) == audio.length > 2 * parts.PART  # several parts, or the test means little
    for start in (1, parts.PART - 1, parts.PART, parts.PART + 7, len(whole) - 1):
        with recs.open_audio(rid, start) as audio:
            assert audio.read(4096) == whole[start : start + 4096], start
