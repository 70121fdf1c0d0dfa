"""Destruction records: proof of what was destroyed, when, why and by which run — holding no
personal data — each written with its hash-chained audit event in the same transaction (see
storage/destruction.py, which writes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.catalogue.models import DestructionRecord
from storage.destruction import destruction_view, write_records

__all__ = ["destroyed_between", "destruction_view", "find_record", "write_records"]


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
