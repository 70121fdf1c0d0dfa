"""Per-call consent records that come without audio (objected, abandoned, do-not-record)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from storage.audit import AuditLog, canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import ConsentRecordRow
from storage.clock import utcnow
from storage.outbox import emit


def store_consent_only(
    catalogue: Catalogue,
    call_id: str,
    document: dict[str, Any],
    *,
    actor: str,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
    caller_hash: str | None = None,
    emit_objected: bool = True,
) -> int:
    """Append the record (and its audit event) in one transaction; returns its row id.

    Idempotent per call: a record already stored for this call with the same document is
    not stored twice (the agent may retry after a crash). ``caller_hash`` (the keyed E.164
    hash, never the number) lets a data-subject request find the call. An objected call's
    record writes its `consent.objected` webhook event in the same transaction (unless
    ``emit_objected`` is False: the caller emitted it when the objection happened).
    """
    audit = audit or AuditLog(clock)
    doc = canonical_json(document)
    with catalogue.session() as s:
        existing = s.query(ConsentRecordRow).filter_by(call_id=call_id, document=doc).first()
        if existing is not None:
            return existing.id
        row = ConsentRecordRow(
            call_id=call_id,
            recording_id=None,
            received_at=clock(),
            document=doc,
            caller_hash=caller_hash,
        )
        s.add(row)
        s.flush()
        audit.append(
            s,
            actor=actor,
            action="consent.record",
            details={  # the row, not the call ID: the audit log outlives the record
                "outcome": document.get("outcome"),
                "consent_record": row.id,
            },
        )
        if emit_objected and document.get("outcome") == "objected":
            emit(s, "consent.objected", {"consent_record_id": row.id})  # ids only
        return row.id
