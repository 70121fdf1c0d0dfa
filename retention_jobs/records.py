"""Destruction records: proof of what was destroyed, when, why and by which run — holding no
personal data — each written with its hash-chained audit event in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import AuditLog
from storage.catalogue.models import DestructionRecord


def destruction_view(dr: DestructionRecord) -> dict[str, Any]:
    return {
        "kind": dr.kind,
        "recording_id": dr.recording_id,
        "consent_record_id": dr.consent_record_id,
        "object_key": dr.object_key,
        "versions_removed": dr.versions_removed,
        "key_destroyed": dr.key_destroyed,
        "consent_records_removed": dr.consent_records_removed,
        "retention_class": dr.retention_class,
        "retention_period": dr.retention_period,
        "policy_id": dr.policy_id,
        "policy_fingerprint": dr.policy_fingerprint,
        "expired_at": dr.expired_at.isoformat(),
        "as_of": dr.as_of.isoformat(),
        "destroyed_at": dr.destroyed_at.isoformat(),
        "run_id": dr.run_id,
        "resumed_from_run": dr.resumed_from_run,
        "node": dr.node,
        "audit_seq": dr.audit_seq,
    }


def write_records(
    session: Session, audit: AuditLog, records: list[DestructionRecord], *, actor: str
) -> list[dict[str, Any]]:
    """Append each record's audit event (the same fields), then insert the records together,
    each pointing at its event. Returns the records as JSON-ready dicts."""
    views = []
    for dr in records:
        view = destruction_view(dr)
        action = "recording.destroy" if dr.kind == "recording" else "consent.destroy"
        details = {k: v for k, v in view.items() if k != "audit_seq"}
        ev = audit.append(
            session, actor=actor, action=action, recording_id=dr.recording_id, details=details
        )
        dr.audit_seq = view["audit_seq"] = ev.seq
        views.append(view)
    session.add_all(records)
    session.flush()
    return views


def find_record(session: Session, recording_id: str) -> DestructionRecord | None:
    return session.scalar(
        select(DestructionRecord).where(DestructionRecord.recording_id == recording_id)
    )


def destroyed_between(
    session: Session, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    stmt = select(DestructionRecord).order_by(DestructionRecord.destroyed_at, DestructionRecord.id)
    if since:
        stmt = stmt.where(DestructionRecord.destroyed_at >= since)
    if until:
        stmt = stmt.where(DestructionRecord.destroyed_at < until)
    return [destruction_view(dr) for dr in session.scalars(stmt)]
