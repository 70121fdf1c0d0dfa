"""What a data-subject request covers: the recordings and the consent-only calls it finds.

A recording is found by its caller hash or by one of its case IDs, within the request's date
range; so is a consent-only record (a call with no audio) by the caller hash it was stored with.
A recording a request for the same caller decided about stays found after it is destroyed (its
caller hash is scrubbed then), so later requests and the history keep showing it, as destroyed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from consent.restriction import restricted_ids
from storage.catalogue.models import (
    CaseRef,
    ConsentRecordRow,
    DestructionRecord,
    Recording,
    RecordingCaseRef,
    SubjectRequest,
    SubjectRequestDecision,
    SubjectRequestIdentifier,
)

# (session, recording ids) → references of the active legal holds covering each one; wired to
# retention_jobs.holds.holds_for (consent sits below retention_jobs and cannot import it).
HoldLookup = Callable[[Session, Iterable[str]], dict[str, list[str]]]


def no_holds(session: Session, recording_ids: Iterable[str]) -> dict[str, list[str]]:
    return {}


@dataclass
class Found:
    recordings: list[Recording]
    consent_only: list[ConsentRecordRow]


def _in_range(r: SubjectRequest, column: Any) -> list[Any]:
    conds = []
    if r.since:
        conds.append(column >= r.since)
    if r.until:
        conds.append(column < r.until)
    return conds


def find(s: Session, r: SubjectRequest) -> Found:
    hashes = [i.value for i in r.identifiers if i.kind == "caller"]
    cases = [i.value for i in r.identifiers if i.kind == "case-id"]
    by_case = (
        select(RecordingCaseRef.recording_id)
        .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
        .where(CaseRef.reference.in_(cases))
    )
    # Requests naming the same caller (or this one) remember what they decided about, also
    # once a recording is destroyed and its caller hash gone.
    related = select(SubjectRequestIdentifier.request_id).where(
        SubjectRequestIdentifier.kind == "caller", SubjectRequestIdentifier.value.in_(hashes)
    )
    decided = select(SubjectRequestDecision.recording_id).where(
        or_(
            SubjectRequestDecision.request_id == r.id,
            SubjectRequestDecision.request_id.in_(related),
        )
    )
    match = [Recording.caller_hash.in_(hashes), Recording.id.in_(by_case)]
    stmt = (
        select(Recording)
        .options(selectinload(Recording.case_links))
        .where(or_(*match), *_in_range(r, Recording.started_at))
    )
    recs = {x.id: x for x in s.scalars(stmt)}
    for x in s.scalars(select(Recording).where(Recording.id.in_(decided))):
        recs.setdefault(x.id, x)
    consent = list(
        s.scalars(
            select(ConsentRecordRow)
            .where(
                ConsentRecordRow.recording_id.is_(None),
                ConsentRecordRow.caller_hash.in_(hashes),
                *_in_range(r, ConsentRecordRow.received_at),
            )
            .order_by(ConsentRecordRow.received_at, ConsentRecordRow.id)
        )
    )
    ordered = sorted(recs.values(), key=lambda x: (x.started_at, x.id))
    return Found(ordered, consent)


def standing(
    s: Session, recordings: list[Recording], holds_of: HoldLookup
) -> dict[str, dict[str, Any]]:
    """Each recording's state for the reply: stored, restricted, held, destroyed (with when)."""
    ids = [x.id for x in recordings]
    holds = holds_of(s, ids)
    restricted = restricted_ids(s, ids)
    destroyed = {
        d.recording_id: d
        for d in s.scalars(select(DestructionRecord).where(DestructionRecord.recording_id.in_(ids)))
    }
    out: dict[str, dict[str, Any]] = {}
    for x in recordings:
        d = destroyed.get(x.id)
        status = "destroyed" if x.state != "stored" else "stored"
        if status == "stored" and x.id in restricted:
            status = "restricted"
        if status == "stored" and x.id in holds:
            status = "held"
        out[x.id] = {
            "status": status,
            "restricted": x.id in restricted,
            "holds": holds.get(x.id, []),
            "destroyed_at": d.destroyed_at.isoformat() if d else None,
            "destroyed_by": (
                (f"erasure request {d.request_id}" if d.request_id else "retention policy")
                if d
                else None
            ),
        }
    return out


def consent_view(row: ConsentRecordRow) -> dict[str, Any]:
    return {
        "consent_record_id": row.id,
        "call_id": row.call_id,
        "received_at": row.received_at.isoformat(),
        "document": json.loads(row.document),
    }
