"""Issue 8 items 2, 3 and 8, issue 7 item 5: an export never clobbers, never escapes its audit
row, never outlives the recording's destruction; its format follows the file name."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import delete, select, text

from callvault.wiring import Services
from storage.catalogue.models import AuditEvent, Recording, RecordingKey
from storage.errors import StorageError
from storage.ingest import IngestRequest
from storage.objects.base import ObjectStore, StoredObject
from storage.retrieval import Recordings
from tests.conftest import Backend


def ingest(services: Services, path: Path) -> str:
    result = services.pipeline().ingest(path, IngestRequest("c-1"), actor="t")
    assert result.state == "stored", result.message
    return result.recording_id


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def events(services: Services, rid: str) -> list[str]:
    with services.catalogue.session() as s:
        stmt = select(AuditEvent.action).where(AuditEvent.recording_id == rid)
        return list(s.scalars(stmt.order_by(AuditEvent.seq)))


def test_existing_symlink_device_and_fifo_are_never_written(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "x.wav"
    existing.write_bytes(b"keep me")

    def export(target: Path, *extra: str) -> tuple[int, str]:
        r = backend.cli("recordings", "export", rid, "--out", str(target), "--reason", "t", *extra)
        return r.returncode, r.stderr

    code, err = export(existing)
    assert code == 1 and "already exists; give --force" in err and "Traceback" not in err
    assert existing.read_bytes() == b"keep me"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"not yours")
    link = out / "link.wav"
    link.symlink_to(victim)
    for extra in ((), ("--force",)):
        code, err = export(link, *extra)
        assert code == 1 and "symbolic link" in err
    assert victim.read_bytes() == b"not yours" and link.is_symlink()
    fifo = out / "fifo.wav"
    os.mkfifo(fifo)
    code, err = export(fifo, "--force")
    assert code == 1 and "not a regular file" in err and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    try:  # the reported case: `mknod ./full c 1 7` became a plaintext recording
        os.mknod(out / "full.wav", stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pass
    else:
        code, err = export(out / "full.wav", "--force")
        assert code == 1 and "not a regular file" in err
        assert stat.S_ISCHR(os.lstat(out / "full.wav").st_mode)
    code, err = export(existing, "--force")
    assert code == 0, err
    assert existing.read_bytes()[:4] == b"RIFF"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert leftovers(out) == []
    failed = [e for e in events(services, rid) if e == "recording.export.failed"]
    assert len(failed) == 5 if (out / "full.wav").exists() else 4


def test_format_follows_the_file_name(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    for name, magic in (("a.wav", b"RIFF"), ("b.ogg", b"OggS"), ("c.opus", b"OggS")):
        r = backend.cli("recordings", "export", rid, "--out", str(tmp_path / name), "--reason", "t")
        assert r.returncode == 0, r.stderr
        assert (tmp_path / name).read_bytes()[:4] == magic, name
    r = backend.cli("recordings", "export", rid, "--out", str(tmp_path / "d.mp3"), "--reason", "t")
    assert r.returncode == 1 and ".wav, .ogg or .opus" in r.stderr and "--format" in r.stderr
    r = backend.cli(
        "recordings", "export", rid, "--out", str(tmp_path / "e.bin"), "--reason", "t",
        "--format", "wav",
    )  # fmt: skip
    assert r.returncode == 0 and (tmp_path / "e.bin").read_bytes()[:4] == b"RIFF"


def _refuse_export_audit(services: Services) -> None:
    """A real database refusal of the export's audit row (as a full disk would give)."""
    with services.catalogue.engine.begin() as conn:
        if services.catalogue.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_export BEFORE INSERT ON audit_events "
                    "WHEN NEW.action = 'recording.export' "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_export() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.action = 'recording.export' THEN "
                    "RAISE EXCEPTION 'could not extend file: No space left on device'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_export BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_export()"
                )
            )


def test_no_output_without_a_committed_audit_row(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    _refuse_export_audit(services)
    out = tmp_path / "o.wav"
    r = backend.cli("recordings", "export", rid, "--out", str(out), "--reason", "t")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "audit log could not be written" in lines[0], r.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def test_missing_data_key_is_an_audited_failed_export(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    with services.catalogue.session() as s:
        s.execute(delete(RecordingKey).where(RecordingKey.recording_id == rid))
    r = backend.cli("recordings", "export", rid, "--out", str(tmp_path / "o.wav"), "--reason", "x")
    assert r.returncode == 1 and "no data key" in r.stderr
    assert events(services, rid)[-1] == "recording.export.failed"
    assert not (tmp_path / "o.wav").exists()


def test_export_output_is_owner_only_under_umask_022(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    old = os.umask(0o022)
    try:
        services.recordings().export(rid, tmp_path / "new" / "o.ogg", reason="t", actor="t")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "o.ogg").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


class _Paused(ObjectStore):
    """The real store, whose reads stop after the first block until the test lets them go."""

    name = "paused"

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.reading = threading.Event()
        self.go = threading.Event()

    def open(self, key: str) -> BinaryIO:
        src, outer = self.inner.open(key), self

        class Reader:
            def __init__(self) -> None:
                self.calls = 0

            def read(self, n: int = -1) -> bytes:
                self.calls += 1
                if self.calls == 2:
                    outer.reading.set()
                    assert outer.go.wait(60)
                return src.read(n)

            def close(self) -> None:
                src.close()

        return Reader()  # type: ignore[return-value]

    def check(self) -> None:
        self.inner.check()

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        return self.inner.put_file(key, path, sha256)

    def head(self, key: str) -> StoredObject | None:
        return self.inner.head(key)

    def versions(self, key: str) -> list[str]:
        return self.inner.versions(key)

    def destroy(self, keys: list[str]) -> dict[str, int]:
        return self.inner.destroy(keys)

    def put_bytes(self, key: str, data: bytes, *, retain_until: object = None) -> None:
        self.inner.put_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def list_keys(self, prefix: str) -> list[str]:
        return self.inner.list_keys(prefix)


def test_purge_during_an_export_never_leaves_a_copy_after_destruction(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rid = ingest(services, speech_call)
    store = _Paused(services.store)
    recs = Recordings(
        catalogue=services.catalogue, store=store, envelope=services.envelope, audio=services.audio
    )
    out = tmp_path / "o.wav"
    outcome: dict[str, object] = {}

    def export() -> None:
        try:
            outcome["result"] = recs.export(rid, out, reason="complaint 7", actor="dpo")
        except StorageError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=export)
    worker.start()
    try:
        assert store.reading.wait(60)  # the export is streaming decrypted audio now
        with services.catalogue.session() as s:
            started = s.get(Recording, rid).started_at  # type: ignore[union-attr]
        report = services.purger().run(now=started + timedelta(days=36500), actor="retention")
    finally:
        store.go.set()
        worker.join(60)
    destroyed = [d["recording_id"] for d in report.destroyed]
    order = events(services, rid)
    if rid in destroyed:  # the purge went first: the export must fail and leave nothing
        assert isinstance(outcome.get("error"), StorageError), outcome  # destroyed, or cut off
        assert not out.exists() and leftovers(tmp_path) == []
        assert "recording.export" not in order
        assert order.index("recording.destroy") < order.index("recording.export.failed")
    else:  # the purge left it for its next run; the export was audited before any destruction
        assert "result" in outcome and out.exists()
        assert "recording.destroy" not in order
    with services.catalogue.session() as s:
        details = [
            json.loads(e.details)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.recording_id == rid))
        ]
    assert all(d.get("reason") == "complaint 7" for d in details if "error" in d)


def test_s3_client_closed_by_whoever_created_it(backend: Backend) -> None:
    if backend.s3 is None:
        pytest.skip("an S3 concern")
    from storage.objects.s3 import S3Options, S3Store

    given = backend.s3.client()
    closed: list[str] = []

    def record(name: str, then: Callable[[], None] | None = None) -> Callable[[], None]:
        def close() -> None:
            closed.append(name)
            if then is not None:
                then()

        return close

    store = S3Store(S3Options(bucket="b", endpoint_url=backend.s3.endpoint_url), client=given)
    given.close = record("given")
    store.close()
    assert closed == []  # the test made it, the test closes it
    given.close()
    svc = Services.build(backend.settings)
    made = svc.store._client  # type: ignore[attr-defined]
    made.close = record("made", made.close)
    svc.close()
    assert closed == ["given", "made"]
