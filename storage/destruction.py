"""Crypto-shredding one recording at a time, for whatever cause (retention purge, erasure request).

Destroying a recording is two steps, each safe to crash after:

1. ``ObjectStore.destroy`` removes every object version (idempotent);
2. :func:`finalise`, in one transaction, deletes the wrapped data key and the consent records,
   scrubs the caller fields and the QA comments and free-text answers, sets "destroyed" and
   writes the destruction record (naming the run, and the request if there is one) with its
   audit event.

The retention purge drives these steps with its own claims; :func:`destroy` is the whole path
for a caller that already decided which recordings go (an approved erasure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import (
    ConsentRecordRow,
    DestructionRecord,
    QaComment,
    QaEvaluation,
    Recording,
    RecordingKey,
)
from storage.compression_queue import object_keys
from storage.errors import StorageError
from storage.objects.base import ObjectStore
from storage.outbox import emit


@dataclass(frozen=True)
class Cause:
    """Why and by what these recordings are destroyed; copied onto every destruction record.

    ``run_id`` names the purge run (or the erasure's run); ``request_id`` the data-subject request
    when there is one. ``periods`` maps a retention class to its period as text.
    """

    run_id: str
    as_of: datetime
    node: str
    policy_id: str
    policy_fingerprint: str
    periods: Mapping[str, str] = field(default_factory=dict)
    unknown_period: str = "not in the current policy"
    request_id: str | None = None


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
        "request_id": dr.request_id,
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
        if dr.kind == "recording":  # webhooks, in the destruction's transaction
            emit(session, "recording.destroyed", {"recording_id": dr.recording_id})
        views.append(view)
    session.add_all(records)
    session.flush()
    return views


def scrub_evaluations(s: Session, recording_ids: Sequence[str]) -> None:
    """QA comments and free-text answers may describe the call: they go with its audio. The
    scores, the form version and who evaluated whom stay (they concern the staff member)."""
    evaluations = select(QaEvaluation.id).where(QaEvaluation.recording_id.in_(recording_ids))
    s.execute(delete(QaComment).where(QaComment.evaluation_id.in_(evaluations)))
    s.execute(
        update(QaEvaluation).where(QaEvaluation.recording_id.in_(recording_ids)).values(notes=None)
    )


def finalise(
    s: Session,
    audit: AuditLog,
    recordings: Sequence[tuple[Recording, str | None]],
    removed: Mapping[str, int],
    cause: Cause,
    *,
    actor: str,
    at: datetime,
) -> list[dict[str, Any]]:
    """Shred ``recordings`` (each with the run it was resumed from, if any) whose objects are
    gone (``removed``: versions per object key). The caller holds the rows locked."""
    ids = [rec.id for rec, _ in recordings]
    every = object_keys(s, ids)  # a recording compressed (or being) has two objects
    keyed, consents = _key_and_consent_counts(s, ids)
    s.execute(delete(RecordingKey).where(RecordingKey.recording_id.in_(ids)))
    s.execute(delete(ConsentRecordRow).where(ConsentRecordRow.recording_id.in_(ids)))
    scrub_evaluations(s, ids)
    done: list[DestructionRecord] = []
    for rec, resumed_from in recordings:
        rec.caller_hash = None
        rec.caller_ciphertext = None
        rec.state = "destroyed"
        rec.purge_claimed_at = None
        done.append(
            DestructionRecord(
                kind="recording",
                recording_id=rec.id,
                object_key=rec.object_key,
                versions_removed=sum(removed.get(k, 0) for k in every.get(rec.id, [])),
                key_destroyed=rec.id in keyed,
                consent_records_removed=consents.get(rec.id, 0),
                retention_class=rec.retention_class or "unassigned",
                retention_period=cause.periods.get(rec.retention_class or "", cause.unknown_period),
                policy_id=cause.policy_id,
                policy_fingerprint=rec.retention_policy or cause.policy_fingerprint,
                expired_at=rec.expires_at or cause.as_of,
                as_of=cause.as_of,
                destroyed_at=at,
                run_id=cause.run_id,
                resumed_from_run=resumed_from,
                request_id=cause.request_id,
                node=cause.node,
            )
        )
    return write_records(s, audit, done, actor=actor)


def destroy(
    catalogue: Catalogue,
    store: ObjectStore,
    audit: AuditLog,
    recording_ids: Sequence[str],
    cause: Cause,
    *,
    actor: str,
    clock: Callable[[], datetime],
) -> list[dict[str, Any]]:
    """Destroy these recordings for this cause; returns their destruction records.

    The rows are first marked "destroying" under ``cause.run_id`` (so a crash leaves them for
    a re-run, or the retention purge once the claim is stale, to finish). A recording already
    destroyed is skipped; one claimed by another run is refused.
    """
    ids = sorted(set(recording_ids))
    with catalogue.session() as s:
        rows = s.scalars(select(Recording).where(Recording.id.in_(ids)).with_for_update()).all()
        missing = set(ids) - {r.id for r in rows}
        if missing:
            raise StorageError(f"no recording {sorted(missing)[0]} in the catalogue")
        busy = [r for r in rows if r.state == "destroying" and r.purge_run_id != cause.run_id]
        if busy:
            raise StorageError(
                f"recording {busy[0].id} is being destroyed by run {busy[0].purge_run_id}; "
                "try again once it has finished"
            )
        todo = [r for r in rows if r.state != "destroyed"]
        at = clock()
        for r in todo:
            r.state, r.purge_run_id, r.purge_claimed_at = "destroying", cause.run_id, at
        keys = object_keys(s, [r.id for r in todo])
    if not keys:
        return []
    removed = store.destroy(all_keys(keys))
    with catalogue.session() as s:
        mine = s.scalars(
            select(Recording)
            .where(
                Recording.id.in_(list(keys)),
                Recording.state == "destroying",
                Recording.purge_run_id == cause.run_id,
            )
            .with_for_update()
        ).all()
        return finalise(
            s, audit, [(r, None) for r in mine], removed, cause, actor=actor, at=clock()
        )


def all_keys(keys: Mapping[str, Sequence[str]]) -> list[str]:
    return sorted({k for ks in keys.values() for k in ks})


def objects_of(catalogue: Catalogue, recording_ids: Sequence[str]) -> list[str]:
    """Every object key the recordings have (the current one and, while or after it was
    compressed, the other version's): what destroying them must remove."""
    with catalogue.session() as s:
        return all_keys(object_keys(s, recording_ids))


def _key_and_consent_counts(s: Session, ids: list[str]) -> tuple[set[str], dict[str, int]]:
    if not ids:
        return set(), {}
    keyed = set(
        s.scalars(select(RecordingKey.recording_id).where(RecordingKey.recording_id.in_(ids))).all()
    )
    rows = s.execute(
        select(ConsentRecordRow.recording_id, func.count())
        .where(ConsentRecordRow.recording_id.in_(ids))
        .group_by(ConsentRecordRow.recording_id)
    ).all()
    return keyed, {str(rid): int(n) for rid, n in rows}
