"""POST /hooks/v1/recordings: the upload becomes an ingest job, durably, before it is answered.

The audio part is streamed to `<spool>/hooks/<id>/` and fsync'd, then handed to the ingest
pipeline's public entry point `IngestPipeline.submit(move=True)`, which makes the job durable
in the spool (fsync'd, renamed in). Only then is the request answered; so a 202 means the
job survives a SIGKILL, and `IngestPipeline.resume()` (at start-up and on the scheduler's
interval) finishes it. The job is then processed on a worker thread; the request waits for it
up to `answer_within_s` so bad audio is answered 422 with its reason (the job is then sealed in
spool/rejected/ by the pipeline), and a job not done by then is answered 202 `queued`.
"""

from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal.hooks.idempotency import Answer, Keys
from portal.hooks.manifest import to_request
from portal.hooks.multipart import BadUpload, Parts
from storage.catalogue.db import Catalogue
from storage.catalogue.models import HookUpload, PlatformCall, Recording
from storage.ingest import IngestPipeline, IngestResult
from storage.spool import Spool

log = logging.getLogger("callvault.hooks")
DONE = {"stored": "stored", "already-stored": "stored", "rejected": "rejected"}


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 2 * 1024**3  # a 2-hour 16-bit stereo 48 kHz WAV is ~1.4 GB
    answer_within_s: float = 10.0


class Uploads:
    def __init__(
        self,
        catalogue: Catalogue,
        pipeline: IngestPipeline,
        spool: Spool,
        limits: UploadLimits,
        workers: int = 1,
    ) -> None:
        self.catalogue = catalogue
        self.pipeline = pipeline
        self.spool = spool
        self.limits = limits
        self.keys = Keys(catalogue)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="hook-ingest")

    @property
    def staging(self) -> Path:
        return self.spool.root / "hooks"

    def staging_dir(self, upload_id: str) -> Path:
        self.spool.ensure()
        self.staging.mkdir(mode=0o700, exist_ok=True)
        d = self.staging / upload_id
        d.mkdir(mode=0o700)
        return d

    def discard(self, upload_id: str) -> None:
        shutil.rmtree(self.staging / upload_id, ignore_errors=True)

    def abandon(self, upload_id: str) -> None:
        """The request failed or was cut off: if its job never became durable, nothing was
        accepted, so its bytes go and its key is freed for the retry."""
        self.discard(upload_id)
        if not (self.spool.jobs_dir / upload_id / "manifest.json").is_file():
            self.keys.release(upload_id)

    def accept(self, upload_id: str, parts: Parts, audio: Path, actor: str) -> Answer:
        """Make the job durable, record the answer's basis, then process it (waiting a while)."""
        try:
            manifest = json.loads(parts.manifest)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadUpload(f"manifest: not valid JSON ({exc})") from None
        request = to_request(manifest, self._facts(manifest))
        audio = audio.rename(audio.with_suffix(suffix_of(parts)))
        self.keys.set(upload_id, fingerprint=parts.fingerprint)  # before the job is durable
        job = self.pipeline.submit(audio, request, actor=actor, move=True, recording_id=upload_id)
        self.discard(upload_id)
        self.keys.set(upload_id, state="processing")
        log.info("upload %s accepted into the spool (%d audio bytes)", job.id, parts.audio_bytes)
        return self._answer(upload_id, self._pool.submit(self.pipeline.process, job.id))

    def _answer(self, upload_id: str, running: Future[IngestResult]) -> Answer:
        queued = Answer(202, {"id": upload_id, "status_url": status_url(upload_id)})
        try:
            result = running.result(timeout=self.limits.answer_within_s)
        except TimeoutError:
            self.keys.answer(upload_id, queued, "queued", None)
            running.add_done_callback(lambda f: self._finished(upload_id, f))
            return queued
        except Exception as exc:  # the pipeline keeps the job; resume retries it
            log.error("upload %s: processing failed: %s", upload_id, type(exc).__name__)
            self.keys.answer(upload_id, queued, "queued", None)
            return queued
        state = DONE.get(result.state, "queued")
        if state == "rejected":
            reason = result.message.split("; input sealed in")[0]
            answer = Answer(
                422,
                {
                    "type": "about:blank",
                    "title": "Audio rejected",
                    "status": 422,
                    "detail": f"{reason}; the upload is kept in spool/rejected/{upload_id}",
                    "id": upload_id,
                    "status_url": status_url(upload_id),
                },
            )
            self.keys.answer(upload_id, answer, "rejected", reason)
            return answer
        self.keys.answer(upload_id, queued, state, result.message or None)
        return queued

    def _finished(self, upload_id: str, f: Future[IngestResult]) -> None:
        try:
            r = f.result()
        except Exception:
            return
        if r.state in DONE:
            self.keys.set(upload_id, state=DONE[r.state], detail=r.message or None)

    def _facts(self, manifest: Any) -> dict[str, Any] | None:
        """What the call's events reported (calls.py), if the decision hook opened the call."""
        call_id = manifest.get("platform_call_id") if isinstance(manifest, dict) else None
        if not isinstance(call_id, str):
            return None
        with self.catalogue.session() as s:
            row = s.get(PlatformCall, call_id)
            return json.loads(row.facts) if row is not None else None

    def status(self, upload_id: str, principal_id: int) -> dict[str, Any] | None:
        with self.catalogue.session() as s:
            row = s.get(HookUpload, upload_id)
            if row is None or row.principal_id != principal_id or row.state == "receiving":
                return None
            state, detail = row.state, row.detail
            if state in ("processing", "queued"):
                if s.get(Recording, upload_id) is not None:
                    state, detail = "stored", None
                elif (self.spool.rejected_dir / upload_id).exists():
                    state = "rejected"
                    detail = f"rejected; the reason is sealed in spool/rejected/{upload_id}"
                else:
                    state = "queued"
                if state != row.state and row.state == "queued":
                    row.state, row.detail = state, detail
        return {"id": upload_id, "state": state, "detail": detail}

    def recover(self) -> list[str]:
        """At start-up: uploads a crash interrupted. One whose job reached the spool was
        accepted (its answer is 202 queued; the pipeline's resume stores it); one that did
        not was never acknowledged, so its key is freed for the retry and its bytes dropped."""
        done = []
        with self.catalogue.session() as s:
            rows = s.scalars(select(HookUpload).where(HookUpload.response_status.is_(None))).all()
            for row in rows:
                durable = (self.spool.jobs_dir / row.id / "manifest.json").is_file() or (
                    s.get(Recording, row.id) is not None
                )
                if durable:
                    row.state, row.response_status = "queued", 202
                    row.response_body = json.dumps({"id": row.id, "status_url": status_url(row.id)})
                    done.append(f"upload {row.id}: accepted before the restart, queued")
                else:
                    s.delete(row)
                    done.append(f"upload {row.id}: interrupted before it was accepted, dropped")
                self.discard(row.id)
        if self.staging.is_dir():
            for leftover in self.staging.iterdir():
                shutil.rmtree(leftover, ignore_errors=True)
        return done

    def resume_in_background(self) -> None:
        """Finish the spool's jobs (those accepted before a crash among them) off the start-up
        path; the scheduler's resume (`callvault serve`) does the same on its interval."""
        self._pool.submit(self._resume)

    def _resume(self) -> None:
        for r in self.pipeline.resume():
            log.info("start-up resume: %s %s", r.recording_id, r.state)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


_TYPES = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/ogg": ".ogg"}
_SUFFIXES = (".wav", ".ogg", ".opus", ".mp3", ".flac", ".gsm", ".sln", ".ulaw", ".alaw")


def suffix_of(parts: Parts) -> str:
    """The spooled file's suffix, from the part's filename or type (ffprobe reads the content
    whatever it is called; the suffix only helps a person reading the spool)."""
    name = (parts.audio_name or "").lower()
    for s in _SUFFIXES:
        if name.endswith(s):
            return s
    return _TYPES.get((parts.audio_type or "").split(";")[0].strip().lower(), ".bin")


def status_url(upload_id: str) -> str:
    return f"/hooks/v1/recordings/{upload_id}"
