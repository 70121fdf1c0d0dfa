"""Finding, describing, tagging and exporting recordings. Every export is audited, failed or not."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage import fields
from storage.audio import AudioTools
from storage.audio_stream import AudioStream as AudioStream
from storage.audio_stream import AudioVersion, open_stream
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import (
    CaseRef,
    ConsentRecordRow,
    DestructionRecord,
    Recording,
    RecordingCaseRef,
    SubjectRequest,
)
from storage.clock import utcnow
from storage.crypto import Envelope
from storage.errors import NotFoundError, StorageError, VersionGoneError
from storage.export import OutputFile, decrypt_to, format_for
from storage.fields import FieldError, check_reason
from storage.identity import CallerHasher
from storage.ingest import link_case
from storage.objects.base import ObjectStore


class RecordingDestroyedError(StorageError):
    """The recording was destroyed (by retention or an approved erasure), or is being destroyed."""


def _erasure_request(s: Session, run_id: str | None) -> str | None:
    """The data-subject request a destruction runs under, if it is one (an erasure's run id is
    its request's id, consent/erasure.py), else None (a retention run)."""
    if run_id is None:
        return None
    return run_id if s.get(SubjectRequest, run_id) is not None else None


def _not_exportable(s: Session, rec: Recording) -> str:
    """Why a recording that is not "stored" cannot be exported: how it was (or is being)
    destroyed, from its destruction record (or its claim)."""
    if rec.state == "destroyed":
        dr = s.scalar(select(DestructionRecord).where(DestructionRecord.recording_id == rec.id))
        if dr is None:
            return f"recording {rec.id} was destroyed; its audio and key no longer exist"
        if dr.request_id is not None:
            return (
                f"recording {rec.id} was erased at {dr.destroyed_at.isoformat()} on approval "
                f"of erasure request {dr.request_id}; its audio and data key no longer exist"
            )
        return (
            f"recording {rec.id} was destroyed at {dr.destroyed_at.isoformat()} under "
            f"retention policy {dr.policy_id} ({dr.policy_fingerprint}), class "
            f"{dr.retention_class} ({dr.retention_period}, expired "
            f"{dr.expired_at.isoformat()}), by retention run {dr.run_id}; its audio and "
            "data key no longer exist"
        )
    if rec.state == "destroying":
        request = _erasure_request(s, rec.purge_run_id)
        if request is not None:
            return (
                f"recording {rec.id} is being erased on approval of erasure request "
                f"{request}; it cannot be exported"
            )
        expired = rec.expires_at.isoformat() if rec.expires_at else "?"
        return (
            f"recording {rec.id} is being destroyed by retention run {rec.purge_run_id} "
            f"(class {rec.retention_class}, expired {expired}); it cannot be exported"
        )
    return f"recording {rec.id} is {rec.state}; it cannot be exported"


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
        "caller_withheld": rec.caller_withheld,
        "format": rec.format,
        "stored_bytes": rec.stored_bytes,
        "sha256_plaintext": rec.sha256_plaintext,
        "sha256_ciphertext": rec.sha256_ciphertext,
        "object_key": rec.object_key,
        "kek_id": rec.key.kek_id if rec.key else None,
        "retention_class": rec.retention_class,
        "expires_at": _iso(rec.expires_at),
        "case_ids": [link.case_ref.reference for link in rec.case_links],
        "invalid_fields": json.loads(rec.invalid_fields) if rec.invalid_fields else [],
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
        clock: Callable[[], datetime] = utcnow,
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

    def open_audio(
        self, recording_id: str, start: int = 0, version: AudioVersion | None = None
    ) -> AudioStream:
        """The stored audio from plaintext byte `start`, decrypting as it is read (the portal
        streams it to a browser). A parted object (storage/parts.py) is fetched from the part
        that holds `start`; an older single-stream object is decrypted from its beginning.

        `version` pins what a reader opened earlier (`audio_version`): while a worker replaces
        the WAV by its compact form, the pinned WAV is read until it is deleted (`[worker]
        old_object_grace_s` after the switch), then VersionGoneError says to open it again."""
        with self.catalogue.session() as s:
            rec = self._get(s, recording_id)
            if rec.state != "stored":
                raise RecordingDestroyedError(_not_exportable(s, rec))
            if rec.key is None:
                raise StorageError(f"recording {rec.id} has no data key in the catalogue")
            now = AudioVersion(rec.object_key, rec.format, rec.plaintext_bytes)
            rid, kek_id, wrapped = rec.id, rec.key.kek_id, rec.key.wrapped_keyset
        v = version or now
        data_key = self.envelope.open_data_key(rid, kek_id, wrapped)
        try:
            return open_stream(
                store=self.store,
                object_key=v.object_key,
                data_key=data_key,
                recording_id=rid,
                fmt=v.format,
                length=v.length,
                start=start,
            )
        except NotFoundError as err:
            if v == now:
                raise
            raise VersionGoneError(
                f"recording {rid} is now stored as {now.format}: the {v.format} version this "
                "player opened has been deleted since; open the recording again"
            ) from err

    def tag(
        self, recording_id: str, case_id: str, *, actor: str, reason: str | None = None
    ) -> dict[str, Any]:
        fields.CASE_ID.check(case_id)
        if reason is not None:
            reason = check_reason(reason, "tag reason")
        with self.catalogue.session() as s:
            rec = self._get(s, recording_id)
            if link_case(s, rec, case_id, source="tag", actor=actor, now=self.clock()):
                self.audit.append(
                    s,
                    actor=actor,
                    action="recording.tag",
                    recording_id=rec.id,
                    details={"case_id": case_id, **({"reason": reason} if reason else {})},
                )
            s.flush()
            return recording_view(rec, self._consent(s, rec.id))

    def export(
        self,
        recording_id: str,
        out: Path,
        *,
        reason: str,
        actor: str,
        fmt: str | None = None,
        force: bool = False,
    ) -> ExportResult:
        """Decrypt into a private temp file beside `out`, verify both checksums, commit the
        audit row (the recording still stored), and only then move the file into place."""
        try:
            reason = check_reason(reason, "export reason (--reason)")
        except FieldError as exc:
            raise StorageError(f"{exc}; it is written to the audit log") from None
        fmt = format_for(out, fmt)
        with self.catalogue.session() as s:
            rec = self._get(s, recording_id)
            refusal = None if rec.state == "stored" else _not_exportable(s, rec)
            if refusal is None and rec.key is None:
                refusal = (
                    f"recording {rec.id} has no data key in the catalogue; "
                    "its audio cannot be decrypted"
                )
            if refusal is None and rec.key is not None:
                kek_id, wrapped = rec.key.kek_id, rec.key.wrapped_keyset
                info = (rec.format, rec.sample_rate, rec.object_key)
                sums = (rec.sha256_plaintext, rec.sha256_ciphertext)
        rid = rec.id
        if refusal is not None:
            self._audit_failure(rid, actor, reason, refusal)
            if rec.state != "stored":
                raise RecordingDestroyedError(refusal)
            raise StorageError(refusal)
        stored_fmt, rate, key = info
        try:
            output = OutputFile(out, force=force)
        except StorageError as exc:
            self._audit_failure(rid, actor, reason, str(exc))
            raise
        try:
            done = decrypt_to(
                output,
                rid=rid,
                data_key=self.envelope.open_data_key(rid, kek_id, wrapped),
                store=self.store,
                object_key=key,
                sha_plain=sums[0],
                sha_cipher=sums[1],
                stored_fmt=stored_fmt,
                fmt=fmt,
                rate=rate,
                audio=self.audio,
            )
            self._audit_release(rid, actor, reason, fmt, out, done.sha256)
        except StorageError as exc:
            output.discard()
            if not isinstance(exc, _AuditUnwritable):
                self._audit_failure(rid, actor, reason, str(exc))
            raise
        except BaseException:
            output.discard()
            raise
        try:
            output.release()
        except StorageError as exc:
            self._audit_failure(rid, actor, reason, f"not released after the audit: {exc}")
            raise
        return ExportResult(rid, out, fmt, done.bytes_written, done.sha256)

    def _audit_release(
        self, rid: str, actor: str, reason: str, fmt: str, out: Path, sha256: str
    ) -> None:
        """Commit the export's audit row while the recording is still stored (its row locked,
        so a purge skips it until we are done), or fail without releasing anything."""
        try:
            with self.catalogue.session() as s:
                rec = s.get(Recording, rid, with_for_update=True)
                if rec is None or rec.state != "stored":
                    refusal = (
                        _not_exportable(s, rec) if rec else f"recording {rid} no longer exists"
                    )
                    raise RecordingDestroyedError(f"{refusal}; the export was discarded")
                self.audit.append(
                    s,
                    actor=actor,
                    action="recording.export",
                    recording_id=rid,
                    details={"reason": reason, "format": fmt, "out": str(out), "sha256": sha256},
                )
        except StorageError:
            raise
        except Exception as exc:  # the database refused the audit row: nothing is released
            raise _AuditUnwritable(
                f"recording {rid}: export not released, the audit log could not be written "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            ) from None

    def _audit_failure(self, rid: str, actor: str, reason: str, error: str) -> None:
        try:
            with self.catalogue.session() as s:
                self.audit.append(
                    s,
                    actor=actor,
                    action="recording.export.failed",
                    recording_id=rid,
                    details={"reason": reason, "error": error},
                )
        except Exception:  # noqa: S110 - the export's own error is the one to report
            pass


class _AuditUnwritable(StorageError):
    """The export's audit row could not be committed, so its output was discarded."""
