"""The ingest pipeline: spool → probe → transcode → encrypt → upload → commit → leave the spool.

Each step records its result in the job manifest before the next begins, and each is
idempotent, so `resume()` finishes whatever a crash or an outage interrupted: at most one
catalogue row per job (the commit checks for it) and no orphan object (the key is the
recording ID, so a repeated upload overwrites the same object).
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage import fields, metrics
from storage.audio import FORMATS, AudioInfo, AudioTools, fix_streamed_wav, is_cheap_form
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import (
    Recording,
)
from storage.clock import utcnow
from storage.commit import commit_job, link_case
from storage.crypto import Envelope
from storage.errors import (
    KeyUnavailableError,
    ObjectStoreUnavailable,
    RejectedAudioError,
    StorageError,
)
from storage.fsutil import atomic_writer, create_private
from storage.identity import CallerHasher
from storage.objects.base import ObjectStore, object_key
from storage.quarantine import Quarantine
from storage.request import IngestRequest, load_consent_file
from storage.spool import Job, Spool

log = logging.getLogger(__name__)
MAX_CASE_ID = fields.CASE_ID.max_len
__all__ = ["IngestPipeline", "IngestRequest", "IngestResult", "link_case", "load_consent_file"]


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
        compress_later: bool = True,
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
        # The cheap form (16-bit PCM WAV) is committed as it is and a worker compresses it
        # later (storage/compression.py); anything else is transcoded here (docs/adr/0009).
        self.compress_later = compress_later
        self.audit = audit or AuditLog(clock)
        self.clock = clock
        self._on_step = on_step
        self._on_committed = on_committed
        self.quarantine = Quarantine(spool.root, envelope, clock)

    # -- entry points -----------------------------------------------------------------------

    def submit(
        self,
        source: Path,
        request: IngestRequest,
        *,
        actor: str,
        move: bool = False,
        recording_id: str | None = None,
        lenient: bool = False,
    ) -> Job:
        """Make the job durable in the spool. Nothing else happens before this returns.

        A caller that names the recording ID (the SIP agent does) can submit again after a
        crash without creating a second job. Every field is checked before the first byte is
        spooled; audio that is already recorded (`lenient`, the SIP hand-over) is kept with
        its bad fields dropped and named in `invalid_fields` instead.
        """
        rid = recording_id or str(uuid.uuid4())
        request = request.sanitised(rid) if lenient else request
        request.validate()
        fields.ACTOR.check(actor)
        if not source.is_file():
            raise StorageError(f"{source}: no such file")
        manifest = {
            "version": 1,
            "created_at": self.clock().isoformat(),
            "actor": actor,
            "request": request.to_manifest() | {"source_mtime": source.stat().st_mtime},
        }
        return self.spool.create(rid, source, manifest, move=move)

    def ingest(self, source: Path, request: IngestRequest, *, actor: str) -> IngestResult:
        job = self.submit(source, request, actor=actor)
        return self.process(job.id)

    def resume(self) -> list[IngestResult]:
        """Finish every job left in the spool (by a crash, an outage or another process).

        One bad job never stops the others: what cannot be stored is sealed into the
        quarantine (or the rejected area) with its reason and an alarm, and the rest go on.
        """
        try:
            for rid in self.quarantine.seal_legacy():
                log.warning("sealed %s, left in clear by an older version", rid)
        except Exception as exc:  # never a reason not to store the jobs that can be
            log.error("ALARM could not seal the entries an older version left in clear: %s", exc)
        results = []
        for job_id in self.spool.pending():
            try:
                results.append(self.process(job_id))
            except Exception as exc:  # e.g. the job left the spool meanwhile (another node)
                log.error("ALARM job %s: %s: %s", job_id, type(exc).__name__, exc)
                results.append(IngestResult(job_id, "failed", f"{type(exc).__name__}: {exc}"))
        return results

    def process(self, recording_id: str) -> IngestResult:
        result = self._process(recording_id)
        metrics.ingest_result(result.state)
        return result

    def _process(self, recording_id: str) -> IngestResult:
        with self.spool.lock(recording_id) as mine:
            if not mine:
                return IngestResult(recording_id, "busy", "another process is working on it")
            path = self.spool.jobs_dir / recording_id
            try:
                return self._run(self.spool.load(recording_id))
            except RejectedAudioError as exc:
                return self._set_aside(path, recording_id, exc, "rejected")
            except ObjectStoreUnavailable as exc:
                log.warning("deferred %s: %s", recording_id, exc)
                return IngestResult(
                    recording_id,
                    "deferred",
                    f"{exc}; the job is safe in the spool, run `callvault ingest --resume`",
                )
            except KeyUnavailableError as exc:  # this node's keys, not the job: keep it
                log.error("ALARM ingest of %s failed, kept in the spool: %s", recording_id, exc)
                return IngestResult(recording_id, "failed", f"{exc}; the job stays in the spool")
            except StorageError as exc:  # the job itself cannot be stored, however often tried
                return self._set_aside(path, recording_id, exc, "quarantine")
            except Exception as exc:  # a database or disk error: the next resume retries it
                log.error(
                    "ALARM ingest of %s failed, kept in the spool: %s: %s",
                    recording_id,
                    type(exc).__name__,
                    exc,
                )
                return IngestResult(
                    recording_id,
                    "failed",
                    f"{type(exc).__name__}: {exc}; the job stays in the spool",
                )

    def _set_aside(self, path: Path, rid: str, exc: Exception, area: str) -> IngestResult:
        try:
            where = self.quarantine.put(path, rid, exc, area=area)
        except Exception as err:  # cannot even seal it: leave it where it is, loudly
            log.error("ALARM job %s (%s) could not be moved to %s: %s", rid, exc, area, err)
            return IngestResult(rid, "failed", f"{exc}; could not be moved to {area}: {err}")
        state = "rejected" if area == "rejected" else "quarantined"
        log.error("ALARM %s %s: %s (sealed in %s)", state, rid, exc, where)
        return IngestResult(rid, state, f"{exc}; input sealed in {where}")

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
        self._check_manifest(job)
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

    def _check_manifest(self, job: Job) -> None:
        """Check a job spooled by an older version (or edited) as if it had just arrived."""
        req = job.manifest.get("request")
        if not isinstance(req, dict):
            raise StorageError(f"job {job.id}: its manifest has no request")
        request = IngestRequest.from_manifest(req)
        if req.get("case_source") == "sip-header":  # recorded already: keep it, mark fields
            fixed = request.sanitised(job.id)
            if fixed is not request:
                kept = {k: v for k, v in fixed.to_manifest().items() if k in req or k != "caller"}
                req.update(kept)
                job.save()
            return
        request.validate()

    def _probe(self, job: Job) -> None:
        source = job.file(job.manifest["source"])
        if fix_streamed_wav(source):
            log.info("job %s: filled in the sizes of a streamed WAV header", job.id)
        info = self.audio.probe(source)
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
        a = job.manifest["audio"]
        info = AudioInfo(
            a["duration_s"], a["channels"], a["sample_rate"], a["codec"], a["container"]
        )
        if is_cheap_form(info) and (self.compress_later or self.stored_format == "wav"):
            later = self.stored_format if self.stored_format != "wav" else None
            job.manifest["transcoded"] = {
                "file": job.manifest["source"],
                "format": "wav",
                "compress_to": later,
            }
            self._step(job, "transcoded")
            return
        name = "audio." + FORMATS[self.stored_format][0]
        tmp = job.file(name + ".part")
        tmp.unlink(missing_ok=True)
        os.close(create_private(tmp))  # 0600 before ffmpeg writes into it
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
        with self.catalogue.session() as s:
            commit_job(s, job, now=self.clock(), audit=self.audit, on_committed=self._on_committed)
