"""Consent-only records (the caller objected or hung up during the notice: no audio) have a
retention class of their own; past its expiry the row is deleted with a destruction record.

A consent row with no recording_id belongs to a recording when one exists for the same call
(it is then destroyed with that recording), so only calls with no live recording count here.
Expiry is monotonic in received_at, so scanning oldest first can stop at the first unexpired row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, select

from retention_jobs.policy import RetentionPolicy
from retention_jobs.records import write_records
from retention_jobs.report import PurgeReport
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import ConsentRecordRow, DestructionRecord, Recording


def _consent_only(as_of: datetime) -> Select[ConsentRecordRow]:
    live_recording = exists().where(
        Recording.call_id == ConsentRecordRow.call_id, Recording.state != "destroyed"
    )
    return (
        select(ConsentRecordRow)
        .where(
            ConsentRecordRow.recording_id.is_(None),
            ConsentRecordRow.received_at <= as_of,
            ~live_recording,
        )
        .order_by(ConsentRecordRow.received_at, ConsentRecordRow.id)
    )


def purge_consent_only(
    catalogue: Catalogue,
    policy: RetentionPolicy,
    audit: AuditLog,
    report: PurgeReport,
    *,
    clock: Callable[[], datetime],
    actor: str,
    batch: int,
    should_stop: Callable[[], bool],
) -> None:
    """Delete expired consent-only rows in batches, each with its destruction record."""
    while not should_stop():
        with catalogue.session() as s:
            rows = s.scalars(
                _consent_only(report.as_of)
                .limit(batch)
                .with_for_update(skip_locked=True, of=ConsentRecordRow)
            ).all()
            expired = list(_expired_prefix(rows, policy, report.as_of))
            if expired:
                s.execute(
                    delete(ConsentRecordRow).where(
                        ConsentRecordRow.id.in_([r.id for r, _ in expired])
                    )
                )
            at = clock()
            done: list[DestructionRecord] = []
            for row, expires_at in expired:
                dr = DestructionRecord(
                    kind="consent-record",
                    consent_record_id=row.id,
                    object_key=None,
                    versions_removed=0,
                    key_destroyed=False,
                    consent_records_removed=1,
                    retention_class=policy.consent_only_class,
                    retention_period=str(policy.classes[policy.consent_only_class]),
                    policy_id=policy.policy_id,
                    policy_fingerprint=policy.fingerprint,
                    expired_at=expires_at,
                    as_of=report.as_of,
                    destroyed_at=at,
                    run_id=report.run_id,
                    resumed_from_run=None,
                    node=report.node,
                )
                done.append(dr)
            report.consent_destroyed.extend(write_records(s, audit, done, actor=actor))
        if len(expired) < batch:
            return
    report.stopped_early = True


def preview_consent_only(
    catalogue: Catalogue, policy: RetentionPolicy, report: PurgeReport
) -> None:
    with catalogue.session() as s:
        for row, expires_at in _expired_prefix(
            s.scalars(_consent_only(report.as_of)), policy, report.as_of
        ):
            report.would_destroy_consent.append(_item(row, expires_at, policy))


def _expired_prefix(
    rows: Any, policy: RetentionPolicy, as_of: datetime
) -> Iterator[tuple[ConsentRecordRow, datetime]]:
    for row in rows:
        expires_at = policy.consent_only(row.received_at).expires_at
        if expires_at > as_of:
            return
        yield row, expires_at


def _item(row: ConsentRecordRow, expires_at: datetime, policy: RetentionPolicy) -> dict[str, Any]:
    period = policy.classes[policy.consent_only_class]
    return {
        "consent_record_id": row.id,
        "received_at": row.received_at.isoformat(),
        "expired_at": expires_at.isoformat(),
        "reason": f"consent-only record expired {expires_at.isoformat()} under class "
        f"{policy.consent_only_class} ({period}) of policy {policy.label}",
    }
