"""Cross-checks of the audit log against the catalogue: a chain that verifies proves nothing if
the events it should hold were never written (or were all removed, leaving an empty log)."""

from __future__ import annotations

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from storage.catalogue.models import AuditEvent, DestructionRecord, Recording

_SHOWN = 3


def _ids(values: list[str], total: int) -> str:
    more = f" and {total - len(values)} more" if total > len(values) else ""
    return ", ".join(values) + more


def cross_check(session: Session) -> list[str]:
    """Problems found (empty when the log accounts for the catalogue): every recording has
    its ingest event, and every destruction record points at its destruction event."""
    problems = []
    ingest = exists().where(
        AuditEvent.recording_id == Recording.id, AuditEvent.action == "recording.ingest"
    )
    missing = ~ingest
    total = session.scalar(select(func.count()).select_from(Recording).where(missing)) or 0
    if total:
        shown = list(
            session.scalars(
                select(Recording.id).where(missing).order_by(Recording.id).limit(_SHOWN)
            )
        )
        problems.append(
            f"{total} recording(s) have no ingest event in the audit log: {_ids(shown, total)}"
        )
    ev = aliased(AuditEvent)
    matched = exists().where(
        ev.seq == DestructionRecord.audit_seq,
        ev.action.in_(("recording.destroy", "consent.destroy")),
        or_(
            ev.recording_id == DestructionRecord.recording_id,
            and_(ev.recording_id.is_(None), DestructionRecord.recording_id.is_(None)),
        ),
    )
    bad = ~matched
    total = session.scalar(select(func.count()).select_from(DestructionRecord).where(bad)) or 0
    if total:
        rows = session.execute(
            select(DestructionRecord.id, DestructionRecord.recording_id)
            .where(bad)
            .order_by(DestructionRecord.id)
            .limit(_SHOWN)
        ).all()
        shown = [rid or f"consent-only record #{i}" for i, rid in rows]
        problems.append(
            f"{total} destruction record(s) have no matching destruction event in the audit "
            f"log: {_ids(shown, total)}"
        )
    return problems
