"""Key rotation: re-wrap every data key under the active KEK; the audio is never touched."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import RecordingKey
from storage.clock import utcnow
from storage.crypto import Envelope


@dataclass(frozen=True)
class RotationResult:
    new_kek_id: str
    rewrapped: int
    from_keks: dict[str, int]


def rewrap_all(
    catalogue: Catalogue,
    envelope: Envelope,
    *,
    actor: str,
    batch: int = 500,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
    progress: Callable[[int], None] | None = None,
) -> RotationResult:
    """Re-wrap, in committed batches, every key not yet under the active KEK.

    A crash part-way leaves each row under either the old or the new KEK, both readable;
    running it again finishes the rest. ``progress(n)`` is told after each committed batch.
    """
    audit = audit or AuditLog(clock)
    target = envelope.active.current_kek_id
    moved: Counter[str] = Counter()
    while True:
        with catalogue.session() as s:
            rows = s.scalars(
                select(RecordingKey)
                .where(RecordingKey.kek_id != target)
                .order_by(RecordingKey.recording_id)
                .limit(batch)
                # A concurrent purge may delete a key row: wait for it rather than update a
                # row that is gone (PostgreSQL then leaves the deleted row out).
                .with_for_update()
            ).all()
            if not rows:
                break
            now = clock()
            for row in rows:
                moved[row.kek_id] += 1
                row.kek_id, row.wrapped_keyset = envelope.rewrap(
                    row.recording_id, row.kek_id, row.wrapped_keyset
                )
                row.rotated_at = now
        if progress:
            progress(len(rows))
    with catalogue.session() as s:
        audit.append(
            s,
            actor=actor,
            action="keys.rotate",
            details={"to": target, "rewrapped": sum(moved.values()), "from": dict(moved)},
        )
    return RotationResult(target, sum(moved.values()), dict(moved))


def keys_to_rewrap(catalogue: Catalogue, target: str) -> int:
    """How many data keys are not yet wrapped under ``target``."""
    with catalogue.session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(RecordingKey).where(RecordingKey.kek_id != target)
            )
            or 0
        )


def keys_in_use(catalogue: Catalogue) -> dict[str, int]:
    with catalogue.session() as s:
        rows = s.execute(select(RecordingKey.kek_id, func.count()).group_by(RecordingKey.kek_id))
        return {str(k): int(n) for k, n in rows}
