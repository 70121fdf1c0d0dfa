"""Rectification (GDPR art. 16; issue 11 item 5): corrections to a recording's metadata.

What can be corrected: the service, the case IDs (added or removed) and a correction statement
attached to the recording (for what cannot be corrected by changing a field: "the caller says
the address given at 02:10 is wrong"). Each correction is one row of an append-only history
with the old and new value, who, when and why, and an audit event; the audio never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from consent.errors import ConsentError
from storage import fields
from storage.audit import AuditLog
from storage.catalogue.models import (
    LegalHold,
    LegalHoldItem,
    Recording,
    Rectification,
)
from storage.clock import utcnow
from storage.commit import link_case
from storage.fields import FieldError, check_reason

CHANGES = ("service", "add-case-id", "remove-case-id", "statement")


class RectificationError(ConsentError):
    """A correction that cannot be made; the message names the recording and the field."""


@dataclass(frozen=True)
class Change:
    """One correction: kind is one of CHANGES, value the new service, case ID or statement."""

    kind: str
    value: str


def rectification_view(r: Rectification) -> dict[str, Any]:
    return {
        "id": r.id,
        "recording_id": r.recording_id,
        "at": r.at.isoformat(),
        "actor": r.actor,
        "field": r.field,
        "change": r.change,
        "old_value": r.old_value,
        "new_value": r.new_value,
        "reason": r.reason,
        "request_id": r.request_id,
    }


def history(session: Session, recording_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The corrections of each recording, oldest first (every id given is a key)."""
    ids = list(dict.fromkeys(recording_ids))
    out: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
    if ids:
        stmt = (
            select(Rectification)
            .where(Rectification.recording_id.in_(ids))
            .order_by(Rectification.at, Rectification.id)
        )
        for r in session.scalars(stmt):
            out[r.recording_id].append(rectification_view(r))
    return out


def _checked(change: Change) -> Change:
    try:
        if change.kind == "service":
            return Change(change.kind, fields.SERVICE.check(change.value.strip()))
        if change.kind in ("add-case-id", "remove-case-id"):
            return Change(change.kind, fields.CASE_ID.check(change.value.strip()))
        if change.kind == "statement":
            return Change(change.kind, check_reason(change.value, "correction statement"))
    except FieldError as exc:
        raise RectificationError(str(exc)) from None
    raise RectificationError(f"correction {change.kind!r}; allowed: {', '.join(CHANGES)}")


def _hold_on_case(session: Session, case_id: str) -> str | None:
    return session.scalar(
        select(LegalHold.reference)
        .join(LegalHoldItem, LegalHoldItem.hold_id == LegalHold.id)
        .where(LegalHoldItem.case_reference == case_id, LegalHold.released_at.is_(None))
        .limit(1)
    )


def rectify(
    session: Session,
    recording_id: str,
    changes: Sequence[Change],
    *,
    actor: str,
    reason: str,
    request_id: str | None = None,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> list[dict[str, Any]]:
    """Apply the corrections in the caller's transaction; returns the history rows written."""
    try:
        reason = check_reason(reason, "rectification reason (--reason)")
    except FieldError as exc:
        raise RectificationError(f"{exc}; it is written to the audit log") from None
    if not changes:
        raise RectificationError(
            "say what to correct: --service, --add-case-id, --remove-case-id or --statement"
        )
    checked = [_checked(c) for c in changes]
    rec = session.get(
        Recording, recording_id, options=[selectinload(Recording.case_links)], with_for_update=True
    )
    if rec is None:
        raise RectificationError(f"no recording with id {recording_id!r}")
    if rec.state != "stored":
        raise RectificationError(
            f"recording {rec.id} is {rec.state}; only a stored recording can be rectified"
        )
    audit = audit or AuditLog(clock)
    now = clock()
    written = []
    for c in checked:
        row = _apply(session, rec, c, actor=actor, now=now)
        row.reason, row.request_id = reason, request_id
        session.add(row)
        session.flush()
        written.append(rectification_view(row))
        details = {k: v for k, v in written[-1].items() if k not in ("recording_id", "at")}
        if c.kind == "statement":
            # The statement may describe the caller: the log keeps that there is one.
            details["new_value"] = None
        audit.append(
            session, actor=actor, action="recording.rectify", recording_id=rec.id, details=details
        )
    return written


def _apply(
    session: Session, rec: Recording, c: Change, *, actor: str, now: datetime
) -> Rectification:
    row = Rectification(recording_id=rec.id, at=now, actor=actor)
    if c.kind == "service":
        if rec.service == c.value:
            raise RectificationError(f"recording {rec.id} already has service {c.value!r}")
        row.field, row.change, row.old_value, row.new_value = "service", "set", rec.service, c.value
        rec.service = c.value
    elif c.kind == "add-case-id":
        if not link_case(session, rec, c.value, source="rectification", actor=actor, now=now):
            raise RectificationError(f"recording {rec.id} already has case id {c.value!r}")
        row.field, row.change, row.new_value = "case_id", "add", c.value
    elif c.kind == "remove-case-id":
        link = next((lk for lk in rec.case_links if lk.case_ref.reference == c.value), None)
        if link is None:
            have = ", ".join(lk.case_ref.reference for lk in rec.case_links) or "none"
            raise RectificationError(
                f"recording {rec.id} has no case id {c.value!r} (it has: {have})"
            )
        hold = _hold_on_case(session, c.value)
        if hold is not None:
            raise RectificationError(
                f"case id {c.value!r} of recording {rec.id} is under legal hold {hold}; removing "
                "it would lift the hold from this recording (release the hold first)"
            )
        rec.case_links.remove(link)  # delete-orphan: the link row goes at the flush
        row.field, row.change, row.old_value = "case_id", "remove", c.value
    else:
        row.field, row.change, row.new_value = "statement", "statement", c.value
    return row
