"""The last step of an ingest job: the catalogue rows (recording, data key, case links,
consent record) and the ingest audit event, in one transaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import AuditLog, canonical_json
from storage.catalogue.models import (
    CaseRef,
    CompressionJob,
    ConsentRecordRow,
    Recording,
    RecordingCaseRef,
    RecordingKey,
)
from storage.outbox import emit
from storage.spool import Job


def commit_job(
    s: Session,
    job: Job,
    *,
    now: datetime,
    audit: AuditLog,
    on_committed: Callable[[Any, Recording], None] | None = None,
) -> None:
    """Insert what the job's manifest describes, unless the recording is already there."""
    m = job.manifest
    req, audio, enc = m["request"], m["audio"], m["encrypted"]
    started = datetime.fromisoformat(audio["started_at"])
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
        caller_ciphertext=base64.b64decode(enc["caller_sealed"]) if enc["caller_sealed"] else None,
        format=m["transcoded"]["format"],
        plaintext_bytes=enc["plaintext_bytes"],
        stored_bytes=enc["ciphertext_bytes"],
        sha256_plaintext=enc["sha256_plaintext"],
        sha256_ciphertext=enc["sha256_ciphertext"],
        object_key=m["uploaded"]["object_key"],
        invalid_fields=json.dumps(req["invalid_fields"]) if req.get("invalid_fields") else None,
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
    later = m["transcoded"].get("compress_to")
    if later:  # committed in its cheap form: a worker compresses it (storage/compression.py)
        s.add(
            CompressionJob(
                recording_id=job.id,
                target_format=later,
                state="queued",
                old_object_key=rec.object_key,
                attempts=0,
                not_before=now,
                created_at=now,
            )
        )
    s.flush()
    if on_committed:
        on_committed(s, rec)
    audit.append(
        s,
        actor=m["actor"],
        action="recording.ingest",
        recording_id=job.id,
        # No call ID or case references here: the audit log outlives the recording
        # and must not keep identifiers that point back at the caller.
        details={
            "object_key": rec.object_key,
            "format": rec.format,
            **({"compress_to": later} if later else {}),
            "duration_s": rec.duration_s,
            "sha256_ciphertext": rec.sha256_ciphertext,
            "kek_id": enc["kek_id"],
            "case_refs": len(dict.fromkeys(req["case_ids"])),
            "complete": rec.complete,
            "invalid_fields": req.get("invalid_fields") or [],
        },
    )
    emit(s, "recording.stored", {"recording_id": job.id})  # webhooks: same transaction


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
