"""The ingest pipeline: spool → probe → transcode → encrypt → upload → commit → leave the spool.

Each step records its result in the job manifest before the next begins, and each is
idempotent, so `resume()` finishes whatever a crash or an outage interrupted: at most one
catalogue row per job (the commit checks for it) and no orphan object (the key is the
recording ID, so a repeated upload overwrites the same object).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.audio import FORMATS, AudioTools
from storage.audit import AuditLog, canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import (
    CaseRef,
    ConsentRecordRow,
    Recording,
    RecordingCaseRef,
    RecordingKey,
)
from storage.clock import utcnow
from storage.crypto import Envelope
from storage.errors import ObjectStoreUnavailable, RejectedAudioError, StorageError
from storage.fsutil import atomic_writer
from storage.identity import CallerHasher
from storage.objects.base import ObjectStore, object_key
from storage.spool import Job, Spool

log = logging.getLogger(__name__)
MAX_CASE_ID = 120


@dataclass(frozen=True)
class IngestRequest:
    """What arrives with the audio. Consent is the per-call record as received (a JSON object)."""

    call_id: str
    caller: str | None = None
    service: str | None = None
    agent: str | None = None
    case_ids: tuple[str, ...] = ()
    case_source: str = "ingest"
    consent: dict[str, Any] | None = None
    started_at: datetime | None = None
    complete: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.call_id or len(self.call_id) > 255:
            raise StorageError(f"call id {self.call_id!r} must be 1..255 characters")
        for c in self.case_ids:
            if not c or len(c) > MAX_CASE_ID or not c.isprintable():
                raise StorageError(f"case id {c!r} must be 1..{MAX_CASE_ID} printable characters")
        if self.consent is not None and not isinstance(self.consent, dict):
            raise StorageError("consent record must be a JSON object")
        if self.started_at is not None and self.started_at.tzinfo is None:
            raise StorageError(f"started_at {self.started_at!r} must carry a timezone")


@dataclass(frozen=True)
class IngestResult:
    recording_id: str
    state: str  # stored | already-stored | rejected | deferred | busy
    message: str = ""


StepHook = Callable[[str, Job], None]


class IngestPipeline:
    """Wired with everything it needs; owns none of it (the composition root closes them)."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        store: ObjectStore,
        spool: Spool,
        audio: AudioTools,
        envelope: Envelope,
        hasher: CallerHasher,
        stored_format: str = "opus",
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_step: StepHook | None = None,
        on_committed: Callable[[Any, Recording], None] | None = None,
    ) -> None:
        if stored_format not in FORMATS:
            raise StorageError(f"stored format {stored_format!r}; allowed: {', '.join(FORMATS)}")
        self.catalogue = catalogue
        self.store = store
        self.spool = spool
        self.audio = audio
        self.envelope = envelope
        self.hasher = hasher
        self.stored_format = stored_format
        self.audit = audit or AuditLog(clock)
        self.clock = clock
        self._on_step = on_step
        self._on_committed = on_committed

    # -- entry points -----------------------------------------------------------------------

    def submit(
        self,
        source: Path,
        request: IngestRequest,
        *,
        actor: str,
        move: bool = False,
        recording_id: str | None = None,
    ) -> Job:
        """Make the job durable in the spool. Nothing else happens before this returns.

        A caller that names the recording ID (the SIP agent does) can submit again after a
        crash without creating a second job.
        """
        request.validate()
        if not source.is_file():
            raise StorageError(f"{source}: no such file")
        manifest = {
            "version": 1,
            "created_at": self.clock().isoformat(),
            "actor": actor,
            "request": {
                "call_id": request.call_id,
                "caller": request.caller,
                "service": request.service,
                "agent": request.agent,
                "case_ids": list(request.case_ids),
                "case_source": request.case_source,
                "consent": request.consent,
                "started_at": request.started_at.isoformat() if request.started_at else None,
                "complete": request.complete,
                "extra": request.extra,
                "source_mtime": source.stat().st_mtime,
            },
        }
        return self.spool.create(recording_id or str(uuid.uuid4()), source, manifest, move=move)

    def ingest(self, source: Path, request: IngestRequest, *, actor: str) -> IngestResult:
        job = self.submit(source, request, actor=actor)
        return self.process(job.id)

    def resume(self) -> list[IngestResult]:
        """Finish every job left in the spool (by a crash, an outage or another process)."""
        return [self.process(job_id) for job_id in self.spool.pending()]

    def process(self, recording_id: str) -> IngestResult:
        with self.spool.lock(recording_id) as mine:
            if not mine:
                return IngestResult(recording_id, "busy", "another process is working on it")
            job = self.spool.load(recording_id)
            try:
                return self._run(job)
            except RejectedAudioError as exc:
                where = self.spool.reject(job, str(exc))
                log.warning("rejected %s: %s (kept in %s)", job.id, exc, where)
                return IngestResult(job.id, "rejected", f"{exc}; input kept in {where}")
            except ObjectStoreUnavailable as exc:
                log.warning("deferred %s at step %s: %s", job.id, job.state, exc)
                return IngestResult(
                    job.id,
                    "deferred",
                    f"{exc}; the job is safe in the spool, run `callvault ingest --resume`",
                )

    # -- the steps --------------------------------------------------------------------------

    def _step(self, job: Job, state: str) -> None:
        job.manifest["state"] = state
        job.save()
        if self._on_step:
            self._on_step(state, job)

    def _run(self, job: Job) -> IngestResult:
        if self._already_committed(job.id):
            self.spool.finish(job)  # crashed after commit, before leaving the spool
            return IngestResult(job.id, "already-stored", "was committed before; spool cleared")
        if self._on_step:
            self._on_step("spooled", job)
        if job.state == "spooled":
            self._probe(job)
        if job.state == "probed":
            self._transcode(job)
        if job.state == "transcoded":
            self._encrypt(job)
        if job.state == "encrypted":
            self._upload(job)
        if job.state != "uploaded":
            raise StorageError(f"job {job.id}: unknown state {job.state!r} in its manifest")
        self._commit(job)
        if self._on_step:
            self._on_step("committed", job)
        self.spool.finish(job)
        return IngestResult(job.id, "stored")

    def _probe(self, job: Job) -> None:
        info = self.audio.probe(job.file(job.manifest["source"]))
        req = job.manifest["request"]
        if req["started_at"]:
            started = datetime.fromisoformat(req["started_at"])
        else:  # the recorder wrote until the end of the call: the file's mtime is its end
            ended = datetime.fromtimestamp(req["source_mtime"], UTC)
            started = ended - timedelta(seconds=info.duration_s)
        job.manifest["audio"] = {
            "duration_s": info.duration_s,
            "channels": info.channels,
            "sample_rate": info.sample_rate,
            "codec": info.codec,
            "container": info.container,
            "started_at": started.isoformat(),
        }
        self._step(job, "probed")

    def _transcode(self, job: Job) -> None:
        name = "audio." + FORMATS[self.stored_format][0]
        tmp = job.file(name + ".part")
        self.audio.transcode(job.file(job.manifest["source"]), tmp, self.stored_format)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        tmp.replace(job.file(name))
        job.manifest["transcoded"] = {"file": name, "format": self.stored_format}
        self._step(job, "transcoded")

    def _encrypt(self, job: Job) -> None:
        key, kek_id, wrapped = self.envelope.new_data_key(job.id)
        with atomic_writer(job.file("audio.enc")) as out:
            result = key.encrypt_file(job.file(job.manifest["transcoded"]["file"]), out)
        req = job.manifest["request"]
        caller = req.pop("caller", None)
        # One form for every spelling; a value that is no number is kept (sealed, as given)
        # and marked withheld, never hashed as if it were a number.
        e164 = self.hasher.canonical(caller) if caller else None
        withheld = bool(caller is not None and e164 is None)
        sealed = e164 or (caller if caller else None)
        job.manifest["encrypted"] = {
            "file": "audio.enc",
            "kek_id": kek_id,
            "wrapped_keyset": base64.b64encode(wrapped).decode(),
            "sha256_plaintext": result.sha256_plaintext,
            "sha256_ciphertext": result.sha256_ciphertext,
            "plaintext_bytes": result.plaintext_bytes,
            "ciphertext_bytes": result.ciphertext_bytes,
            "caller_hash": self.hasher.hash_e164(e164) if e164 else None,
            "caller_withheld": withheld,
            "caller_sealed": base64.b64encode(key.seal(sealed, "caller")).decode()
            if sealed
            else None,
        }
        # The caller number now exists only sealed under the data key and as a keyed hash.
        self._step(job, "encrypted")
        job.file(job.manifest["transcoded"]["file"]).unlink(missing_ok=True)

    def _upload(self, job: Job) -> None:
        enc = job.manifest["encrypted"]
        key = object_key(job.id, datetime.fromisoformat(job.manifest["audio"]["started_at"]))
        stored = self.store.put_file(key, job.file(enc["file"]), enc["sha256_ciphertext"])
        if stored.size != enc["ciphertext_bytes"]:
            raise StorageError(
                f"job {job.id}: object store kept {stored.size} bytes of {enc['ciphertext_bytes']}"
            )
        job.manifest["uploaded"] = {"object_key": key, "version_id": stored.version_id}
        self._step(job, "uploaded")

    def _already_committed(self, recording_id: str) -> bool:
        with self.catalogue.session() as s:
            return s.get(Recording, recording_id) is not None

    def _commit(self, job: Job) -> None:
        m, now = job.manifest, self.clock()
        req, audio, enc = m["request"], m["audio"], m["encrypted"]
        started = datetime.fromisoformat(audio["started_at"])
        with self.catalogue.session() as s:
            if s.get(Recording, job.id) is not None:
                return
            rec = Recording(
                id=job.id,
                call_id=req["call_id"],
                state="stored",
                complete=req["complete"],
                started_at=started,
                ended_at=started + timedelta(seconds=audio["duration_s"]),
                ingested_at=now,
                duration_s=audio["duration_s"],
                channels=audio["channels"],
                sample_rate=audio["sample_rate"],
                service=req["service"],
                agent=req["agent"],
                caller_hash=enc["caller_hash"],
                caller_withheld=enc.get("caller_withheld", False),
                caller_ciphertext=base64.b64decode(enc["caller_sealed"])
                if enc["caller_sealed"]
                else None,
                format=m["transcoded"]["format"],
                plaintext_bytes=enc["plaintext_bytes"],
                stored_bytes=enc["ciphertext_bytes"],
                sha256_plaintext=enc["sha256_plaintext"],
                sha256_ciphertext=enc["sha256_ciphertext"],
                object_key=m["uploaded"]["object_key"],
            )
            rec.key = RecordingKey(
                kek_id=enc["kek_id"],
                wrapped_keyset=base64.b64decode(enc["wrapped_keyset"]),
                created_at=now,
            )
            s.add(rec)
            s.flush()  # the recording row first: consent and case links refer to it
            for ref in dict.fromkeys(req["case_ids"]):
                link_case(s, rec, ref, source=req["case_source"], actor=m["actor"], now=now)
            if req["consent"] is not None:
                s.add(
                    ConsentRecordRow(
                        call_id=req["call_id"],
                        recording_id=job.id,
                        received_at=now,
                        document=canonical_json(req["consent"]),
                    )
                )
            s.flush()
            if self._on_committed:
                self._on_committed(s, rec)
            self.audit.append(
                s,
                actor=m["actor"],
                action="recording.ingest",
                recording_id=job.id,
                # No call ID or case references here: the audit log outlives the recording
                # and must not keep identifiers that point back at the caller.
                details={
                    "object_key": rec.object_key,
                    "format": rec.format,
                    "duration_s": rec.duration_s,
                    "sha256_ciphertext": rec.sha256_ciphertext,
                    "kek_id": enc["kek_id"],
                    "case_refs": len(dict.fromkeys(req["case_ids"])),
                    "complete": rec.complete,
                },
            )


def link_case(
    session: Any, rec: Recording, reference: str, *, source: str, actor: str, now: datetime
) -> bool:
    """Attach a case reference (created on first use); False when it was already attached."""
    ref = session.scalar(select(CaseRef).where(CaseRef.reference == reference))
    if ref is None:
        ref = CaseRef(reference=reference, created_at=now)
        session.add(ref)
        session.flush()
    elif any(link.case_ref_id == ref.id for link in rec.case_links):
        return False
    rec.case_links.append(
        RecordingCaseRef(case_ref=ref, source=source, added_at=now, added_by=actor)
    )
    return True


def load_consent_file(path: Path) -> dict[str, Any]:
    """Read a consent JSON document, failing with the file name and what is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(f"consent file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StorageError(f"consent file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise StorageError(f"consent file {path} must hold a JSON object, not {type(doc).__name__}")
    return doc
