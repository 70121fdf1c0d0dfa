"""Restriction of processing (GDPR art. 18; issue 11 item 4).

A restricted recording is kept but set aside: supervisors and QA cannot find, open or play it
(the portal answers 404, as for a missing one), it cannot be evaluated, and the retention purge
does not destroy it while the restriction lasts (the caller may need it for a legal claim). The
DPO still sees it, marked restricted, and may export or disclose it with a reason. Restricting
and lifting are audited; a lifted restriction stays in the table with who lifted it and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from consent.errors import ConsentError
from storage.audit import AuditLog
from storage.catalogue.models import Recording, RecordingRestriction
from storage.clock import utcnow
from storage.fields import FieldError, check_reason


class RestrictionError(ConsentError):
    """A restriction that cannot be made or lifted; the message names the recording."""


def _active() -> ColumnElement[bool]:
    return RecordingRestriction.lifted_at.is_(None)


def is_restricted_sql(recording_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """SQL: the recording (by its id column) is under an active restriction."""
    test = exists().where(RecordingRestriction.recording_id == recording_id, _active())
    return test.correlate(recording_id.class_)


def not_restricted_sql(recording_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """SQL: no active restriction covers the recording (a NOT EXISTS, an anti join)."""
    return ~is_restricted_sql(recording_id)


def restricted_ids(session: Session, recording_ids: Iterable[str]) -> set[str]:
    """Those of the recordings that are restricted now."""
    ids = list(dict.fromkeys(recording_ids))
    if not ids:
        return set()
    stmt = select(RecordingRestriction.recording_id).where(
        RecordingRestriction.recording_id.in_(ids), _active()
    )
    return set(session.scalars(stmt))


def active(session: Session, recording_id: str) -> RecordingRestriction | None:
    return session.scalar(
        select(RecordingRestriction).where(
            RecordingRestriction.recording_id == recording_id, _active()
        )
    )


def restriction_view(r: RecordingRestriction) -> dict[str, Any]:
    return {
        "recording_id": r.recording_id,
        "restricted_at": r.restricted_at.isoformat(),
        "restricted_by": r.restricted_by,
        "reason": r.reason,
        "request_id": r.request_id,
        "lifted_at": r.lifted_at.isoformat() if r.lifted_at else None,
        "lifted_by": r.lifted_by,
        "lift_reason": r.lift_reason,
    }


def history(session: Session, recording_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every restriction (active and lifted) of each recording, oldest first."""
    ids = list(dict.fromkeys(recording_ids))
    out: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
    if ids:
        stmt = (
            select(RecordingRestriction)
            .where(RecordingRestriction.recording_id.in_(ids))
            .order_by(RecordingRestriction.id)
        )
        for r in session.scalars(stmt):
            out[r.recording_id].append(restriction_view(r))
    return out


def _reason(reason: str, what: str) -> str:
    try:
        return check_reason(reason, what)
    except FieldError as exc:
        raise RestrictionError(f"{exc}; it is written to the audit log") from None


def restrict(
    session: Session,
    recording_ids: Sequence[str],
    *,
    actor: str,
    reason: str,
    request_id: str | None = None,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Restrict the recordings (in the caller's transaction); returns the ids newly restricted
    (one already restricted is left as it is). A missing or destroyed recording is refused."""
    reason = _reason(reason, "restriction reason (--reason)")
    ids = list(dict.fromkeys(recording_ids))
    if not ids:
        raise RestrictionError("name at least one recording to restrict")
    # Locking the recordings serialises with the purge's claim (FOR UPDATE on PostgreSQL).
    rows = {
        r.id: r
        for r in session.scalars(select(Recording).where(Recording.id.in_(ids)).with_for_update())
    }
    for rid in ids:
        rec = rows.get(rid)
        if rec is None:
            raise RestrictionError(f"no recording with id {rid!r}")
        if rec.state != "stored":
            raise RestrictionError(
                f"recording {rid} is {rec.state}; only a stored recording can be restricted"
            )
    already = restricted_ids(session, ids)
    audit = audit or AuditLog(clock)
    now = clock()
    done = []
    for rid in ids:
        if rid in already:
            continue
        session.add(
            RecordingRestriction(
                recording_id=rid,
                restricted_at=now,
                restricted_by=actor,
                reason=reason,
                request_id=request_id,
            )
        )
        details: dict[str, Any] = {"reason": reason}
        if request_id:
            details["request_id"] = request_id
        audit.append(
            session, actor=actor, action="recording.restrict", recording_id=rid, details=details
        )
        done.append(rid)
    session.flush()
    return done


def lift(
    session: Session,
    recording_ids: Sequence[str],
    *,
    actor: str,
    reason: str,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Lift the active restriction of each recording (audited); one that is not restricted
    is refused, naming it."""
    reason = _reason(reason, "reason for lifting the restriction (--reason)")
    ids = list(dict.fromkeys(recording_ids))
    if not ids:
        raise RestrictionError("name at least one recording whose restriction to lift")
    found = {
        r.recording_id: r
        for r in session.scalars(
            select(RecordingRestriction)
            .where(RecordingRestriction.recording_id.in_(ids), _active())
            .with_for_update()
        )
    }
    missing = [rid for rid in ids if rid not in found]
    if missing:
        raise RestrictionError(f"recording {', '.join(missing)} is not restricted")
    audit = audit or AuditLog(clock)
    now = clock()
    for rid in ids:
        r = found[rid]
        r.lifted_at, r.lifted_by, r.lift_reason = now, actor, reason
        audit.append(
            session,
            actor=actor,
            action="recording.unrestrict",
            recording_id=rid,
            details={"reason": reason, "restricted_at": r.restricted_at.isoformat()},
        )
    session.flush()
    return ids
