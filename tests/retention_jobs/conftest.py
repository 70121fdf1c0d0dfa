"""Retention fixtures: a backend whose callvault.toml carries a retention policy, and helpers to
put recordings into the catalogue and the object store directly through the storage APIs."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callvault.wiring import Services
from storage.audit import AuditLog, canonical_json, verify_chain
from storage.catalogue.models import (
    Base,
    ConsentRecordRow,
    DestructionRecord,
    Recording,
    RecordingKey,
    apscheduler_jobs,
)
from storage.ingest import link_case
from storage.objects.base import object_key
from tests.conftest import Backend

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

POLICY = """
[retention]
policy_id = "RP-TEST"
batch_size = {batch}
claim_timeout_s = {claim_timeout}

[retention.classes]
standard = "{standard}"
complaint = "2 years"
evidence = "6 years"
consent-only = "30 days"

[[retention.rules]]
class = "complaint"
case_ref = "COMP-*"

[[retention.rules]]
class = "evidence"
service = "fraud"
"""


def policy_toml(standard: str = "90 days", batch: int = 7, claim_timeout: int = 900) -> str:
    return POLICY.format(standard=standard, batch=batch, claim_timeout=claim_timeout)


def set_policy(backend: Backend, **kw: object) -> None:
    """Rewrite the [retention] part of the backend's callvault.toml (keeps the rest)."""
    text = backend.config.read_text()
    base = text.split("\n[retention]\n", 1)[0]
    backend.config.write_text(base + "\n" + policy_toml(**kw))  # type: ignore[arg-type]
    backend.settings = backend.reload()


@pytest.fixture
def rsvc(backend: Backend) -> Iterator[Services]:
    """Services on the backend, with the test retention policy (90-day standard class)."""
    set_policy(backend)
    svc = Services.build(backend.settings)
    svc.init()
    yield svc
    svc.close()


@dataclass(frozen=True)
class Made:
    id: str
    object_key: str


def make_recordings(
    svc: Services,
    n: int,
    *,
    started_at: datetime = T0,
    service: str | None = "waste",
    case_ids: Sequence[str] = (),
    extra_version: bool = True,
    consent: bool = True,
    tmp: Path,
) -> list[Made]:
    """Encrypted objects (a second version too on versioned S3), keys, rows, consent, cases."""
    policy = svc.retention_policy()
    audit = AuditLog()
    made = []
    for i in range(n):
        rid = str(uuid.uuid4())
        key = object_key(rid, started_at)
        data_key, kek_id, wrapped = svc.envelope.new_data_key(rid)
        src, enc = tmp / f"{rid}.plain", tmp / f"{rid}.enc"
        src.write_bytes(b"audio " * 200 + rid.encode())
        for _ in range(2 if extra_version else 1):  # the same audio, encrypted afresh
            with open(enc, "wb") as out:
                result = data_key.encrypt_file(src, out)
            svc.store.put_file(key, enc, result.sha256_ciphertext)
        caller = f"+44 1277 {i:06d}"
        with svc.catalogue.session() as s:
            rec = Recording(
                id=rid,
                call_id=f"call-{rid[:8]}",
                state="stored",
                complete=True,
                started_at=started_at,
                ended_at=started_at,
                ingested_at=started_at,
                duration_s=1.0,
                channels=2,
                sample_rate=8000,
                service=service,
                agent="a1",
                caller_hash=svc.hasher.hash(caller),
                caller_ciphertext=data_key.seal(caller, "caller"),
                format="opus",
                plaintext_bytes=result.plaintext_bytes,
                stored_bytes=result.ciphertext_bytes,
                sha256_plaintext=result.sha256_plaintext,
                sha256_ciphertext=result.sha256_ciphertext,
                object_key=key,
            )
            rec.key = RecordingKey(kek_id=kek_id, wrapped_keyset=wrapped, created_at=started_at)
            s.add(rec)
            for c in case_ids:
                link_case(s, rec, c, source="ingest", actor="test", now=started_at)
            s.flush()  # the recording row first: consent_records refers to it
            if consent:
                s.add(
                    ConsentRecordRow(
                        call_id=rec.call_id,
                        recording_id=rid,
                        received_at=started_at,
                        document=canonical_json({"recorded": True}),
                    )
                )
            s.flush()
            refs = [link.case_ref.reference for link in rec.case_links]
            a = policy.assign(started_at, service, refs)
            rec.retention_class, rec.expires_at = a.retention_class, a.expires_at
            rec.retention_policy = policy.fingerprint
            audit.append(s, actor="test", action="recording.ingest", recording_id=rid)
        src.unlink()
        enc.unlink()
        made.append(Made(rid, key))
    return made


def versions(svc: Services, key: str) -> list[str]:
    return svc.store.versions(key)


def count(svc: Services, model: type[Base]) -> int:
    with svc.catalogue.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def records(svc: Services) -> list[DestructionRecord]:
    with svc.catalogue.session() as s:
        return list(s.scalars(select(DestructionRecord).order_by(DestructionRecord.id)))


def rows(svc: Services, ids: Sequence[str]) -> dict[str, Recording]:
    with svc.catalogue.session() as s:
        return {r.id: r for r in s.scalars(select(Recording).where(Recording.id.in_(ids)))}


def keys_left(svc: Services, ids: Sequence[str]) -> int:
    with svc.catalogue.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(RecordingKey)
                .where(RecordingKey.recording_id.in_(ids))
            )
            or 0
        )


def audit_ok(svc: Services) -> bool:
    with svc.catalogue.session() as s:
        return verify_chain(s).ok


def snapshot(svc: Services, keys: Sequence[str]) -> dict[str, object]:
    """Every catalogue row and every object version: to prove that nothing changed."""
    with svc.catalogue.session() as s:
        tables = {
            t.name: sorted(map(repr, s.execute(t.select()).all()))
            for t in Base.metadata.sorted_tables
            if t is not apscheduler_jobs
        }
    return {"tables": tables, "objects": {k: sorted(svc.store.versions(k)) for k in keys}}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
