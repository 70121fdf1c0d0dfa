"""Compressing committed recordings to the stored format: the job `callvault worker` runs.

One job, each step safe to crash after (the next claim of the job carries on):

1. claim     — a lease on the job row (storage/compression_queue.py);
2. prepare   — the compact object's key is written to the job row *before* it exists, so
               destruction always knows both objects;
3. compress  — download → decrypt → ffmpeg → encrypt (same data key) → a ciphertext file in
               the spool (plaintext only ever in pipes) → upload under the new key;
4. commit    — one transaction: the recording's format, sizes, both checksums and object key,
               and a `recording.compress` audit event (retrieval verifies the new checksums);
5. clean up  — every version of the old object deleted, the job done.

A crash before 4 repeats 3 (the upload overwrites the same key: still one compact version); a
crash after 4 repeats only 5. A recording destroyed meanwhile: its compact object (if any) is
deleted and the job dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from storage import compression_queue as queue
from storage import versions
from storage.audio import FORMATS, AudioTools
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import Recording
from storage.clock import utcnow
from storage.compression_pipe import compress_object
from storage.crypto import DataKey, EncryptResult, Envelope
from storage.errors import (
    IntegrityError,
    KeyUnavailableError,
    ObjectStoreUnavailable,
    StorageError,
)
from storage.fsutil import create_private, private_dir
from storage.objects.base import ObjectStore
from storage.versions import Current

log = logging.getLogger(__name__)
StepHook = Callable[[str, str], None]  # (step, recording id)


@dataclass(frozen=True)
class CompressResult:
    recording_id: str
    state: str  # compressed | old-pending | dropped | failed | retry | lost
    message: str = ""
    stored_bytes: int | None = None


class Compressor:
    """Takes compression jobs from the catalogue and does them; owns none of its services."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        store: ObjectStore,
        envelope: Envelope,
        audio: AudioTools,
        work_dir: Path,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker: str | None = None,
        lease_s: float = 900,
        retry_s: float = 60,
        old_object_grace_s: float = 0,
        max_attempts: int = 10,
        on_step: StepHook | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.envelope = envelope
        self.audio = audio
        self.work_dir = work_dir
        self.audit = audit or AuditLog(clock)
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = timedelta(seconds=lease_s)
        self.retry = timedelta(seconds=retry_s)
        self.grace = timedelta(seconds=old_object_grace_s)
        self.max_attempts = max_attempts
        self._on_step = on_step

    def check_keys(self) -> None:
        """Refuse to run where data keys cannot be unwrapped (a recorder in `hpke` mode holds
        only the public key: compressing workers run where the private key is)."""
        active = self.envelope.active
        try:
            ok = active.can_unwrap(active.current_kek_id)
        except StorageError:
            ok = False
        if not ok:
            raise KeyUnavailableError(
                f"this node cannot unwrap data keys in {active.mode} mode (no private "
                "key-encryption key here); run `callvault worker` where the private key is"
            )

    # -- the loop ---------------------------------------------------------------------------

    def drain(self, should_stop: Callable[[], bool] = lambda: False) -> list[CompressResult]:
        """Do every job that is due now, then return (what `worker --once` runs)."""
        results: list[CompressResult] = []
        while not should_stop():
            r = self.run_once()
            if r is None:
                break
            results.append(r)
        return results

    def run_once(self) -> CompressResult | None:
        """Claim one due job and do it; None when there is none."""
        with self.catalogue.session() as s:
            c = queue.claim(s, now=self.clock(), worker=self.worker, lease=self.lease)
        if c is None:
            return None
        self._step("claimed", c)
        try:
            return self._process(c)
        except queue.LeaseLost as exc:
            log.warning("%s", exc)
            return CompressResult(c.recording_id, "lost", str(exc))
        except Exception as exc:
            return self._give_back(c, exc)

    def _give_back(self, c: queue.Claim, exc: Exception) -> CompressResult:
        """Release the job to be tried again later; an object that fails verification is not
        compressed at all (it stays as it is, with an alarm)."""
        why = f"{type(exc).__name__}: {exc}"[:1000]
        # The store or the keys being unavailable is this node's state, not the job's: those
        # are retried however often; a job that keeps failing otherwise stops, with an alarm.
        transient = isinstance(exc, ObjectStoreUnavailable | KeyUnavailableError | DBAPIError)
        final = isinstance(exc, IntegrityError) or (
            c.attempts >= self.max_attempts and not transient
        )
        wait = self.retry * min(2 ** max(c.attempts - 1, 0), 64)
        try:
            with self.catalogue.session() as s:
                queue.release(
                    s,
                    c,
                    state="failed" if final else c.state,
                    not_before=self.clock() + wait,
                    error=why,
                )
        except Exception as err:  # the lease runs out instead; the job is retaken then
            log.error("compression of %s: could not release the job: %s", c.recording_id, err)
        if final:
            log.error("ALARM compression of %s failed for good: %s", c.recording_id, why)
            return CompressResult(c.recording_id, "failed", why)
        log.warning("compression of %s retried later: %s", c.recording_id, why)
        return CompressResult(c.recording_id, "retry", f"{why}; retried after {wait}")

    def _step(self, step: str, c: queue.Claim) -> None:
        if self._on_step:
            self._on_step(step, c.recording_id)

    # -- the steps --------------------------------------------------------------------------

    def _process(self, c: queue.Claim) -> CompressResult:
        cur = versions.current(self.catalogue, c.recording_id)
        if cur is None or cur.state != "stored" or cur.kek_id is None or cur.wrapped is None:
            return self._drop(c, cur.state if cur else "missing")
        if c.state == "replaced":
            return self._delete_old(c)
        if cur.format == c.target_format:  # nothing to do (e.g. queued twice by hand)
            return self._finish(c, "compressed", "already in the stored format")
        if not self.envelope.can_open(cur.kek_id):
            raise KeyUnavailableError(
                f"recording {c.recording_id}: this worker cannot unwrap its data key "
                f"({cur.kek_id}); in hpke mode run workers where the private key is"
            )
        new_key = c.new_object_key or f"{cur.object_key}.{c.target_format}"
        if c.new_object_key:  # an earlier attempt may have uploaded it: never catalogued, so
            self.store.destroy([new_key])  # it goes, and one version of the compact one stays
        if not self._prepare(c, new_key):
            return self._drop(c, "destroyed meanwhile")
        data_key = self.envelope.open_data_key(c.recording_id, cur.kek_id, cur.wrapped)
        part, result = self._compress(c, data_key, cur)
        try:  # the ciphertext file never outlives this attempt
            self._step("compressed", c)
            stored = self.store.put_file(new_key, part, result.sha256_ciphertext)
        finally:
            part.unlink(missing_ok=True)
        if stored.size != result.ciphertext_bytes:
            raise StorageError(
                f"recording {c.recording_id}: the store kept {stored.size} bytes of "
                f"{result.ciphertext_bytes} for {new_key}"
            )
        self._step("uploaded", c)
        if not self._commit(c, cur, new_key, result):
            return self._drop(c, "destroyed meanwhile")
        self._step("committed", c)
        c = dataclasses.replace(c, state="replaced", old_object_key=cur.object_key)
        if self.grace:
            with self.catalogue.session() as s:
                queue.release(s, c, state="replaced", not_before=self.clock() + self.grace)
            return CompressResult(
                c.recording_id,
                "old-pending",
                f"old object deleted after {self.grace}",
                result.ciphertext_bytes,
            )
        done = self._delete_old(c)
        return CompressResult(c.recording_id, done.state, done.message, result.ciphertext_bytes)

    def _prepare(self, c: queue.Claim, new_key: str) -> bool:
        """Name the compact object in the catalogue before it exists (and renew the lease);
        False when the recording is no longer stored. Its row is locked meanwhile, so a purge
        either claimed it before (and we stop) or sees the new key (and destroys it too)."""
        with self.catalogue.session() as s:
            job = queue.held(s, c)
            state = s.scalar(
                select(Recording.state).where(Recording.id == c.recording_id).with_for_update()
            )
            if state != "stored":
                return False
            job.new_object_key = new_key
            job.lease_until = self.clock() + self.lease
        return True

    def _compress(
        self, c: queue.Claim, data_key: DataKey, cur: Current
    ) -> tuple[Path, EncryptResult]:
        private_dir(self.work_dir)
        part = self.work_dir / f"{c.recording_id}.{c.token}.enc"
        part.unlink(missing_ok=True)
        os.close(create_private(part))
        try:
            result = compress_object(
                self.store,
                self.audio,
                data_key,
                cur.object_key,
                c.target_format,
                part,
                sums=(cur.sha_plain, cur.sha_cipher),
            )
            return part, result
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def _commit(self, c: queue.Claim, cur: Current, new_key: str, result: EncryptResult) -> bool:
        """Switch the recording to the compact version; False when it is no longer stored."""
        with self.catalogue.session() as s:
            job = queue.held(s, c)
            done = versions.switch(
                s,
                self.audit,
                c.recording_id,
                cur,
                fmt=c.target_format,
                object_key=new_key,
                result=result,
                worker=self.worker,
            )
            if done:
                job.state = "replaced"
                job.old_object_key = cur.object_key
                job.lease_until = self.clock() + self.lease
        return done

    def _delete_old(self, c: queue.Claim) -> CompressResult:
        old = c.old_object_key
        with self.catalogue.session() as s:
            current = s.scalar(select(Recording.object_key).where(Recording.id == c.recording_id))
        if old and old != current:
            removed = self.store.destroy([old]).get(old, 0)
            self._step("old-deleted", c)
            msg = f"{old}: {removed} version(s) deleted"
        else:
            msg = "no old object to delete"
        return self._finish(c, "compressed", msg)

    def _drop(self, c: queue.Claim, why: str) -> CompressResult:
        """The recording is gone (or going): its compact object goes too, if it was made
        (the purge may have run before it was uploaded)."""
        with self.catalogue.session() as s:
            key = queue.held(s, c).new_object_key
        if key:
            self.store.destroy([key])
        return self._finish(c, "dropped", f"recording {why}; not compressed", state="dropped")

    def _finish(
        self, c: queue.Claim, result: str, message: str, *, state: str = "done"
    ) -> CompressResult:
        with self.catalogue.session() as s:
            now = self.clock()
            queue.release(s, c, state=state, not_before=now).finished_at = now
        return CompressResult(c.recording_id, result, message)


__all__ = ["FORMATS", "CompressResult", "Compressor"]
