"""Finding, describing, tagging and exporting recordings. Every export is audited, failed or not."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tink
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.audio import AudioTools
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import CaseRef, ConsentRecordRow, Recording, RecordingCaseRef
from storage.crypto import CHUNK, Envelope, raise_integrity
from storage.errors import IntegrityError, NotFoundError, StorageError
from storage.fsutil import fsync_dir
from storage.identity import CallerHasher
from storage.ingest import MAX_CASE_ID, link_case
from storage.objects.base import ObjectStore


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def recording_view(rec: Recording, consent: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON shape of one recording (design.md section 5)."""
    return {
        "id": rec.id,
        "state": rec.state,
        "complete": rec.complete,
        "call_id": rec.call_id,
        "started_at": _iso(rec.started_at),
        "ended_at": _iso(rec.ended_at),
        "ingested_at": _iso(rec.ingested_at),
        "duration_s": round(rec.duration_s, 3),
        "channels": rec.channels,
        "sample_rate": rec.sample_rate,
        "service": rec.service,
        "agent": rec.agent,
        "caller_hash": rec.caller_hash,
        "format": rec.format,
        "stored_bytes": rec.stored_bytes,
        "sha256_plaintext": rec.sha256_plaintext,
        "sha256_ciphertext": rec.sha256_ciphertext,
        "object_key": rec.object_key,
        "kek_id": rec.key.kek_id if rec.key else None,
        "retention_class": rec.retention_class,
        "expires_at": _iso(rec.expires_at),
        "case_ids": [link.case_ref.reference for link in rec.case_links],
        "consent": consent,
    }


@dataclass(frozen=True)
class ListFilter:
    case_id: str | None = None
    caller: str | None = None
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True)
class ExportResult:
    recording_id: str
    path: Path
    format: str
    bytes_written: int
    sha256: str


class Recordings:
    """Read side of the store: the supervisor's and the DPO's view."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        store: ObjectStore,
        envelope: Envelope,
        audio: AudioTools,
        hasher: CallerHasher | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.envelope = envelope
        self.audio = audio
        self.hasher = hasher
        self.audit = audit or AuditLog(clock)
        self.clock = clock

    @staticmethod
    def _consent(s: Session, recording_id: str) -> dict[str, Any] | None:
        row = s.scalar(
            select(ConsentRecordRow)
            .where(ConsentRecordRow.recording_id == recording_id)
            .order_by(ConsentRecordRow.id.desc())
            .limit(1)
        )
        return json.loads(row.document) if row else None

    @staticmethod
    def _get(s: Session, recording_id: str) -> Recording:
        rec = s.get(Recording, recording_id, options=[selectinload(Recording.case_links)])
        if rec is None:
            raise NotFoundError(f"no recording with id {recording_id!r}")
        return rec

    def list(self, f: ListFilter) -> list[dict[str, Any]]:
        stmt = select(Recording).options(selectinload(Recording.case_links))
        if f.case_id:
            stmt = stmt.join(RecordingCaseRef).join(CaseRef).where(CaseRef.reference == f.case_id)
        if f.caller:
            if self.hasher is None:
                raise StorageError("searching by caller needs the caller-hash key on this node")
            stmt = stmt.where(Recording.caller_hash == self.hasher.hash(f.caller))
        if f.service:
            stmt = stmt.where(Recording.service == f.service)
        if f.since:
            stmt = stmt.where(Recording.started_at >= f.since)
        if f.until:
            stmt = stmt.where(Recording.started_at < f.until)
        stmt = stmt.order_by(Recording.started_at.desc(), Recording.id).limit(f.limit)
        with self.catalogue.session() as s:
            return [recording_view(r, None) for r in s.scalars(stmt).unique()]

    def show(self, recording_id: str) -> dict[str, Any]:
        with self.catalogue.session() as s:
            rec = self._get(s, recording_id)
            return recording_view(rec, self._consent(s, rec.id))

    def tag(self, recording_id: str, case_id: str, *, actor: str) -> dict[str, Any]:
        if not case_id or len(case_id) > MAX_CASE_ID or not case_id.isprintable():
            raise StorageError(f"case id {case_id!r} must be 1..{MAX_CASE_ID} printable characters")
        with self.catalogue.session() as s:
            rec = self._get(s, recording_id)
            if link_case(s, rec, case_id, source="tag", actor=actor, now=self.clock()):
                self.audit.append(s, actor=actor, action="recording.tag", recording_id=rec.id,
                                  details={"case_id": case_id})
            s.flush()
            return recording_view(rec, self._consent(s, rec.id))

    def export(self, recording_id: str, out: Path, *, reason: str, actor: str,
               fmt: str | None = None) -> ExportResult:
        """Decrypt as a stream into a temp file beside `out`, verify both checksums, rename."""
        if not reason.strip():
            raise StorageError("an export needs a --reason (it is written to the audit log)")
        with self.catalogue.session() as s:
            rec = self._get(s, recording_id)
            if rec.state != "stored":
                raise StorageError(f"recording {rec.id} is {rec.state}; it cannot be exported")
            if rec.key is None:
                raise StorageError(f"recording {rec.id} has no data key in the catalogue; "
                                   "its audio cannot be decrypted")
            kek_id, wrapped = rec.key.kek_id, rec.key.wrapped_keyset
            info = (rec.format, rec.sample_rate, rec.object_key, rec.sha256_plaintext,
                    rec.sha256_ciphertext)
        stored_fmt, rate, key, sha_plain, sha_cipher = info
        fmt = fmt or stored_fmt
        if fmt not in ("wav", "opus"):
            raise StorageError(f"export format {fmt!r}; allowed: wav, opus")
        if out.exists() and out.is_dir():
            raise StorageError(f"--out {out} is a directory; give a file name")
        try:
            result = self._export_verified(rec.id, kek_id, wrapped, key, sha_plain, sha_cipher,
                                           stored_fmt, fmt, rate, out)
        except StorageError as exc:
            with self.catalogue.session() as s:
                self.audit.append(s, actor=actor, action="recording.export.failed",
                                  recording_id=rec.id, details={"reason": reason,
                                                                "error": str(exc)})
            raise
        with self.catalogue.session() as s:
            self.audit.append(
                s, actor=actor, action="recording.export", recording_id=rec.id,
                details={"reason": reason, "format": fmt, "out": str(out),
                         "sha256": result.sha256},
            )
        return result

    def _export_verified(self, rid: str, kek_id: str, wrapped: bytes, key: str,
                         sha_plain: str, sha_cipher: str, stored_fmt: str, fmt: str,
                         rate: int, out: Path) -> ExportResult:
        data_key = self.envelope.open_data_key(rid, kek_id, wrapped)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
        plain = hashlib.sha256()
        source = self.store.open(key)
        proc: subprocess.Popen[bytes] | None = None
        try:
            with open(tmp, "wb") as fh:
                reader, tap = data_key.decrypt_stream(source)
                if fmt != stored_fmt:
                    proc = self.audio.decoder(fmt, rate, fh)
                sink: Any = proc.stdin if proc else fh
                try:
                    while chunk := reader.read(CHUNK):
                        plain.update(chunk)
                        sink.write(chunk)
                except tink.TinkError:
                    raise raise_integrity(rid) from None
                # Everything was read: the ciphertext and plaintext checksums must both match.
                if tap.sha256.hexdigest() != sha_cipher or plain.hexdigest() != sha_plain:
                    raise raise_integrity(rid)
                if proc:
                    _finish_decoder(proc, rid, fmt)
                    proc = None
                fh.flush()
                os.fsync(fh.fileno())
            with open(tmp, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            size = tmp.stat().st_size
            os.replace(tmp, out)
            fsync_dir(out.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {out}: {exc}") from exc
        finally:
            if proc:  # failed part-way: stop ffmpeg, its output is discarded with tmp
                proc.kill()
                _finish_decoder(proc, rid, fmt, quiet=True)
            tmp.unlink(missing_ok=True)
            source.close()
        return ExportResult(rid, out, fmt, size, digest)


def _finish_decoder(proc: subprocess.Popen[bytes], rid: str, fmt: str,
                    quiet: bool = False) -> None:
    if proc.stdin:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.wait() != 0 and not quiet:
        raise StorageError(f"recording {rid}: ffmpeg could not convert to {fmt}: "
                           f"{err.strip()[-300:]}")
