"""Per-call consent records that come without audio (objected, abandoned, do-not-record)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from storage.audit import AuditLog, canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import ConsentRecordRow
from storage.clock import utcnow


def store_consent_only(
    catalogue: Catalogue,
    call_id: str,
    document: dict[str, Any],
    *,
    actor: str,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
    caller_hash: str | None = None,
) -> int:
    """Append the record (and its audit event) in one transaction; returns its row id.

    Idempotent per call: a record already stored for this call with the same document is
    not stored twice (the agent may retry after a crash). ``caller_hash`` (the keyed E.164
    hash, never the number) lets a data-subject request find the call.
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
        return row.id
