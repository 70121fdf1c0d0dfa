"""Builds the storage services from Settings. The only place that knows which adapter is used.

Every service is made on first use, and each module is imported only then: a command that
reads the catalogue does not import boto3 or Tink, and one that talks to the running agent
imports neither SQLAlchemy nor Alembic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callvault.settings import Settings, retention_policy

if TYPE_CHECKING:
    from consent.erasure import Erasure
    from consent.pack import Packs
    from consent.requests import SubjectRequests
    from retention_jobs.holds import Holds
    from retention_jobs.policy import RetentionPolicy
    from retention_jobs.purge import Purger, StepHook
    from storage.audio import AudioTools
    from storage.catalogue.db import Catalogue
    from storage.compression import Compressor
    from storage.crypto import Envelope
    from storage.identity import CallerHasher
    from storage.ingest import IngestPipeline
    from storage.keys.base import KeyWrapper
    from storage.objects.base import ObjectStore
    from storage.retrieval import Recordings
    from storage.spool import Spool


def make_store(settings: Settings) -> ObjectStore:
    if settings.store.backend == "filesystem":
        from storage.objects.filesystem import FilesystemStore

        return FilesystemStore(settings.store.path)
    from storage.objects.s3 import S3Options, S3Store

    s3 = settings.s3
    return S3Store(
        S3Options(
            bucket=s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id.value if s3.access_key_id else None,
            secret_access_key=s3.secret_access_key.value if s3.secret_access_key else None,
            path_style=s3.path_style,
            multipart_threshold=s3.multipart_threshold_mb << 20,
            multipart_chunk=s3.multipart_chunk_mb << 20,
            connect_timeout_s=s3.connect_timeout_s,
            max_attempts=s3.max_attempts,
            create_bucket=s3.create_bucket,
        )
    )


def make_wrappers(settings: Settings, kms_client: Any | None = None) -> dict[str, KeyWrapper]:
    """Every wrapper this node can use, by mode; the configured mode's is the active one."""
    from storage.keys.hpke import HpkeKeyWrapper
    from storage.keys.keydir import KeyDirectory
    from storage.keys.local import LocalKeyWrapper

    k = settings.keys
    wrappers: dict[str, KeyWrapper] = {
        "local": LocalKeyWrapper(KeyDirectory(k.dir / "local")),
        "hpke": HpkeKeyWrapper(KeyDirectory(k.dir / "hpke")),
    }
    if k.kms_key_id:
        from storage.keys.aws_kms import AwsKmsKeyWrapper

        wrappers["aws-kms"] = AwsKmsKeyWrapper(
            k.kms_key_id, region=k.kms_region, endpoint_url=k.kms_endpoint_url, client=kms_client
        )
    return wrappers


def make_envelope(settings: Settings, kms_client: Any | None = None) -> Envelope:
    from storage.crypto import Envelope

    wrappers = make_wrappers(settings, kms_client)
    return Envelope(wrappers[settings.keys.mode], wrappers)


def audit_key_path(settings: Settings) -> Path:
    from storage.audit import AUDIT_KEY_FILE

    return settings.keys.dir / AUDIT_KEY_FILE


def caller_hash_path(settings: Settings) -> Path:
    return settings.keys.dir / "caller-hash.key"


class Services:
    """The wired storage services, each made on first use; `close()` releases what was made."""

    def __init__(self, settings: Settings, *, kms_client: Any | None = None) -> None:
        self.settings = settings
        self._kms_client = kms_client

    @classmethod
    def build(cls, settings: Settings, *, kms_client: Any | None = None) -> Services:
        return cls(settings, kms_client=kms_client)

    @cached_property
    def catalogue(self) -> Catalogue:
        from storage.audit import load_audit_key
        from storage.catalogue.db import Catalogue

        d = self.settings.database
        return Catalogue(
            d.url, echo=d.echo, audit_key=load_audit_key(audit_key_path(self.settings))
        )

    @cached_property
    def store(self) -> ObjectStore:
        return make_store(self.settings)

    @cached_property
    def envelope(self) -> Envelope:
        return make_envelope(self.settings, self._kms_client)

    @cached_property
    def audio(self) -> AudioTools:
        from storage.audio import AudioTools

        a = self.settings.audio
        return AudioTools(a.ffmpeg, a.ffprobe, a.opus_bitrate_kbps, a.opus_complexity)

    @cached_property
    def spool(self) -> Spool:
        from storage.spool import Spool

        return Spool(self.settings.spool.dir)

    @cached_property
    def hasher(self) -> CallerHasher:
        from storage.identity import CallerHasher

        return CallerHasher.from_file(
            caller_hash_path(self.settings), self.settings.identity.default_region
        )

    def pipeline(self, on_step: Callable[..., None] | None = None) -> IngestPipeline:
        from retention_jobs.assign import assign_at_ingest
        from storage.ingest import IngestPipeline

        return IngestPipeline(
            catalogue=self.catalogue,
            store=self.store,
            spool=self.spool,
            audio=self.audio,
            envelope=self.envelope,
            hasher=self.hasher,
            stored_format=self.settings.audio.format,
            compress_later=self.settings.audio.compress == "later",
            on_step=on_step,
            on_committed=assign_at_ingest(self.retention_policy()),
        )

    def compressor(self, *, on_step: Callable[[str, str], None] | None = None) -> Compressor:
        from storage.compression import Compressor

        w = self.settings.worker
        return Compressor(
            catalogue=self.catalogue,
            store=self.store,
            envelope=self.envelope,
            audio=self.audio,
            work_dir=self.spool.root / "compress",
            lease_s=w.lease_s,
            retry_s=w.retry_s,
            old_object_grace_s=w.old_object_grace_s,
            on_step=on_step,
        )

    def retention_policy(self) -> RetentionPolicy:
        return retention_policy(self.settings.retention)

    def purger(
        self, *, on_step: StepHook | None = None, clock: Callable[[], datetime] | None = None
    ) -> Purger:
        from retention_jobs.purge import Purger
        from storage.audit import AuditLog

        r = self.settings.retention
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        return Purger(
            catalogue=self.catalogue,
            store=self.store,
            policy=self.retention_policy(),
            audit=AuditLog(clock) if clock else AuditLog(),
            batch_size=r.batch_size,
            claim_timeout_s=r.claim_timeout_s,
            on_step=on_step,
            **extra,
        )

    def subject_requests(self, clock: Callable[[], datetime] | None = None) -> SubjectRequests:
        from consent.requests import SubjectRequests
        from storage.audit import AuditLog
        from storage.clock import utcnow

        audit = AuditLog(clock) if clock else AuditLog()
        return SubjectRequests(self.catalogue, self.hasher.hash, audit=audit, clock=clock or utcnow)

    def erasure(self, clock: Callable[[], datetime] | None = None) -> Erasure:
        from consent.erasure import Erasure
        from retention_jobs.holds import holds_for
        from storage.clock import utcnow

        return Erasure(self.subject_requests(clock), self.store, holds_for, clock=clock or utcnow)

    def packs(self, clock: Callable[[], datetime] | None = None) -> Packs:
        from consent.pack import Packs
        from retention_jobs.holds import holds_for

        return Packs(self.subject_requests(clock), self.recordings(), self.audio, holds_for)

    def holds(self, clock: Callable[[], datetime] | None = None) -> Holds:
        from retention_jobs.holds import Holds
        from storage.audit import AuditLog
        from storage.clock import utcnow

        audit = AuditLog(clock) if clock else AuditLog()
        return Holds(self.catalogue, audit, clock or utcnow)

    def recordings(self) -> Recordings:
        from storage.retrieval import Recordings

        return Recordings(
            catalogue=self.catalogue,
            store=self.store,
            envelope=self.envelope,
            audio=self.audio,
            hasher=self.hasher,
        )

    def init(self) -> list[str]:
        """Create what is missing (keys, spool, store, schema); idempotent. Returns what it did."""
        from storage.audit import AuditLog, create_audit_key, load_audit_key
        from storage.fsutil import private_dir
        from storage.identity import CallerHasher

        done: list[str] = []
        s = self.settings
        private_dir(s.keys.dir)
        active = self.envelope.active
        if s.keys.mode in ("local", "hpke") and not active.list_keks():
            done.append(f"created {s.keys.mode} key-encryption key {active.rotate()}")
        if CallerHasher.create_file(caller_hash_path(s)):
            done.append(f"created caller-hash key {caller_hash_path(s)}")
        self.spool.ensure()
        self.store.check()
        if create_audit_key(audit_key_path(s)):
            done.append(f"created audit key {audit_key_path(s)}")
        self.catalogue.audit_key = load_audit_key(audit_key_path(s))
        before, after = self.catalogue.migrate()
        with self.catalogue.session() as session:
            if AuditLog().ensure_keyed(session):
                done.append("audit log: keyed from now on (earlier rows keep the unkeyed rule)")
        done.append(
            f"catalogue {self.catalogue.safe_url}: "
            + (f"migrated {before or 'empty'} -> {after}" if before != after else f"at {after}")
        )
        from portal.auth.users import BOOTSTRAP_ADMIN, Users

        password = Users(self.catalogue).bootstrap_admin(actor="callvault init")
        if password is not None:
            done.append(
                f"created portal user {BOOTSTRAP_ADMIN} with one-time password {password} "
                "(shown once; it must be changed at the first login)"
            )
        return done

    def close(self) -> None:
        made = vars(self)
        if "store" in made:
            self.store.close()
        if "catalogue" in made:
            self.catalogue.close()
