"""Legal holds: a recording under any active hold is never destroyed.

A hold covers recordings by ID or by case reference; a case hold also covers recordings tagged
with that case later. Adding a hold locks the recordings it covers, so it serialises with the
purge's claim: either the hold is seen by the purge, or the hold reports that destruction had
already begun. Holds, releases and their reasons go to the audit log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from retention_jobs.errors import HoldError
from retention_jobs.records import find_record
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import (
    CaseRef,
    LegalHold,
    LegalHoldItem,
    Recording,
    RecordingCaseRef,
)
from storage.fields import FieldError, check_reason

MAX_REFERENCE = 120


def _hold_tests(recording_id: InstrumentedAttribute[str]) -> tuple[Any, Any]:
    """EXISTS tests, correlated by the recording's id column: held directly, held by a case.

    Two plain EXISTS (rather than one with an OR inside) let PostgreSQL plan each as an anti
    join; the OR form was costed so high that JIT compilation dominated the query.
    """
    owner = recording_id.class_
    active = (LegalHoldItem.hold_id == LegalHold.id, LegalHold.released_at.is_(None))
    direct = exists().where(LegalHoldItem.recording_id == recording_id, *active)
    by_case = exists().where(
        RecordingCaseRef.recording_id == recording_id,
        CaseRef.id == RecordingCaseRef.case_ref_id,
        LegalHoldItem.case_reference == CaseRef.reference,
        *active,
    )
    return direct.correlate(owner), by_case.correlate(owner)


def under_active_hold(recording_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """SQL: the recording is covered by an active hold (directly or through a case)."""
    direct, by_case = _hold_tests(recording_id)
    return or_(direct, by_case)


def free_of_holds(recording_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """SQL: no active hold covers the recording."""
    direct, by_case = _hold_tests(recording_id)
    return and_(~direct, ~by_case)


def holds_for(session: Session, recording_ids: Iterable[str]) -> dict[str, list[str]]:
    """References of the active holds covering each recording (absent: not held)."""
    ids = list(recording_ids)
    found: dict[str, set[str]] = defaultdict(set)
    if not ids:
        return {}
    direct = session.execute(
        select(LegalHoldItem.recording_id, LegalHold.reference)
        .join(LegalHold, LegalHold.id == LegalHoldItem.hold_id)
        .where(LegalHold.released_at.is_(None), LegalHoldItem.recording_id.in_(ids))
    )
    by_case = session.execute(
        select(RecordingCaseRef.recording_id, LegalHold.reference)
        .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
        .join(LegalHoldItem, LegalHoldItem.case_reference == CaseRef.reference)
        .join(LegalHold, LegalHold.id == LegalHoldItem.hold_id)
        .where(LegalHold.released_at.is_(None), RecordingCaseRef.recording_id.in_(ids))
    )
    for rid, ref in [*direct, *by_case]:
        found[str(rid)].add(ref)
    return {rid: sorted(refs) for rid, refs in found.items()}


def hold_view(hold: LegalHold, covered: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "reference": hold.reference,
        "reason": hold.reason,
        "active": hold.released_at is None,
        "created_at": hold.created_at.isoformat(),
        "created_by": hold.created_by,
        "released_at": hold.released_at.isoformat() if hold.released_at else None,
        "released_by": hold.released_by,
        "release_reason": hold.release_reason,
        "recordings": [i.recording_id for i in hold.items if i.recording_id],
        "case_ids": [i.case_reference for i in hold.items if i.case_reference],
        "covered_recordings": list(covered),
    }


def _reason(value: str, what: str = "reason") -> str:
    """The one rule for reasons (storage/fields.py): visible text, no control characters."""
    try:
        return check_reason(value, f"hold {what}")
    except FieldError as exc:
        raise HoldError(str(exc)) from None


def _text(value: str, what: str, limit: int | None) -> str:
    value = value.strip()
    if not value or not value.isprintable() or (limit and len(value) > limit):
        size = f"1..{limit} " if limit else ""
        raise HoldError(f"hold {what} {value!r} must be {size}printable characters")
    return value


class Holds:
    """Adds, releases and lists legal holds, each change audited in its own transaction."""

    def __init__(
        self, catalogue: Catalogue, audit: AuditLog, clock: Callable[[], datetime]
    ) -> None:
        self.catalogue = catalogue
        self.audit = audit
        self.clock = clock

    def add(
        self,
        reference: str,
        reason: str,
        *,
        actor: str,
        recordings: Sequence[str] = (),
        case_ids: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Create an active hold; refuses recordings already destroyed or being destroyed."""
        reference = _text(reference, "reference", MAX_REFERENCE)
        reason = _reason(reason)
        if not recordings and not case_ids:
            raise HoldError(f"hold {reference}: give --recording ID and/or --case-id C")
        cases = [_text(c, "case id", MAX_REFERENCE) for c in dict.fromkeys(case_ids)]
        try:
            with self.catalogue.session() as s:
                return self._add(
                    s, reference, reason, actor, list(dict.fromkeys(recordings)), cases
                )
        except IntegrityError as exc:  # a concurrent `hold add` with the same reference
            raise HoldError(
                f"hold {reference} already exists; references are never reused"
            ) from exc

    def _add(
        self,
        s: Session,
        reference: str,
        reason: str,
        actor: str,
        recordings: list[str],
        cases: list[str],
    ) -> dict[str, Any]:
        existing = s.scalar(select(LegalHold).where(LegalHold.reference == reference))
        if existing is not None:
            state = (
                "active"
                if existing.released_at is None
                else f"released at {existing.released_at.isoformat()}"
            )
            raise HoldError(
                f"hold {reference} already exists ({state}); references are never "
                "reused, choose another"
            )
        for rid in recordings:
            rec = s.get(Recording, rid, with_for_update=True)
            if rec is None:
                raise HoldError(f"hold {reference}: no recording with id {rid!r}")
            if rec.state != "stored":
                raise HoldError(
                    f"hold {reference}: recording {rid} is {rec.state}"
                    f"{_destruction_note(s, rec)}; it can no longer be held"
                )
        by_case = (
            s.scalars(
                select(Recording)
                .join(RecordingCaseRef, RecordingCaseRef.recording_id == Recording.id)
                .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
                .where(CaseRef.reference.in_(cases))
                .with_for_update(of=Recording)
            )
            .unique()
            .all()
            if cases
            else []
        )
        lost = sorted(r.id for r in by_case if r.state != "stored")
        covered = sorted({*recordings, *(r.id for r in by_case if r.state == "stored")})
        hold = LegalHold(
            reference=reference, reason=reason, created_at=self.clock(), created_by=actor
        )
        hold.items = [LegalHoldItem(recording_id=rid) for rid in recordings] + [
            LegalHoldItem(case_reference=c) for c in cases
        ]
        s.add(hold)
        s.flush()
        self.audit.append(
            s,
            actor=actor,
            action="hold.add",
            recording_id=recordings[0] if len(recordings) == 1 and not cases else None,
            details={
                "reference": reference,
                "reason": reason,
                "recordings": recordings,
                "case_ids": cases,
                "covered_recordings": covered,
                "already_destroyed_or_destroying": lost,
            },
        )
        view = hold_view(hold, covered)
        view["already_destroyed_or_destroying"] = lost
        return view

    def release(
        self, reference: str, *, actor: str, reason: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """Release an active hold; says how many recordings the next purge run may destroy."""
        with self.catalogue.session() as s:
            hold = s.scalar(
                select(LegalHold).where(LegalHold.reference == reference).with_for_update()
            )
            if hold is None:
                raise HoldError(f"no hold with reference {reference!r}")
            if hold.released_at is not None:
                raise HoldError(
                    f"hold {reference} was already released at "
                    f"{hold.released_at.isoformat()} by {hold.released_by}"
                )
            at = self.clock()
            hold.released_at, hold.released_by = at, actor
            hold.release_reason = _reason(reason, "release reason") if reason else None
            s.flush()
            covered = self._covered(s, hold)
            still = holds_for(s, covered)
            when = now or at
            expired = (
                s.scalars(
                    select(Recording.id).where(
                        Recording.id.in_([r for r in covered if r not in still]),
                        Recording.state == "stored",
                        Recording.expires_at <= when,
                    )
                ).all()
                if covered
                else []
            )
            self.audit.append(
                s,
                actor=actor,
                action="hold.release",
                recording_id=covered[0] if len(covered) == 1 else None,
                details={
                    "reference": reference,
                    "reason": hold.release_reason,
                    "held_since": hold.created_at.isoformat(),
                    "covered_recordings": covered,
                    "still_held_by_other_holds": sorted(still),
                    "expired_now_unheld": sorted(expired),
                },
            )
            view = hold_view(hold, covered)
            view["still_held_by_other_holds"] = sorted(still)
            view["expired_now_unheld"] = sorted(expired)
            return view

    def list_holds(self, *, include_released: bool = False) -> list[dict[str, Any]]:
        with self.catalogue.session() as s:
            stmt = select(LegalHold).order_by(LegalHold.created_at, LegalHold.id)
            if not include_released:
                stmt = stmt.where(LegalHold.released_at.is_(None))
            return [hold_view(h, self._covered(s, h)) for h in s.scalars(stmt).all()]

    @staticmethod
    def _covered(s: Session, hold: LegalHold) -> list[str]:
        """Stored (not destroyed) recordings the hold covers now."""
        direct = [i.recording_id for i in hold.items if i.recording_id]
        cases = [i.case_reference for i in hold.items if i.case_reference]
        ids = (
            set(
                s.scalars(
                    select(Recording.id).where(
                        Recording.id.in_(direct), Recording.state != "destroyed"
                    )
                ).all()
            )
            if direct
            else set()
        )
        if cases:
            ids.update(
                s.scalars(
                    select(RecordingCaseRef.recording_id)
                    .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
                    .join(Recording, Recording.id == RecordingCaseRef.recording_id)
                    .where(CaseRef.reference.in_(cases), Recording.state != "destroyed")
                ).all()
            )
        return sorted(ids)


def _destruction_note(s: Session, rec: Recording) -> str:
    if rec.state == "destroying":
        claimed = rec.purge_claimed_at.isoformat() if rec.purge_claimed_at else "?"
        return f" (by retention run {rec.purge_run_id}, claimed at {claimed})"
    dr = find_record(s, rec.id) if rec.state == "destroyed" else None
    if dr is not None:
        return (
            f" (at {dr.destroyed_at.isoformat()}, class {dr.retention_class}, "
            f"by retention run {dr.run_id})"
        )
    return ""
