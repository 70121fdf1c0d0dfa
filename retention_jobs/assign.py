"""Giving recordings their retention class and expiry: at ingest, and again after a policy
change (`callvault retention apply`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention_jobs.policy import Assignment, RetentionPolicy
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import CaseRef, Recording, RecordingCaseRef


def assign_at_ingest(policy: RetentionPolicy) -> Callable[[Any, Recording], None]:
    """The IngestPipeline `on_committed` hook: sets class and expiry in the commit transaction."""

    def on_committed(_session: Any, rec: Recording) -> None:
        refs = [link.case_ref.reference for link in rec.case_links]
        set_assignment(rec, policy.assign(rec.started_at, rec.service, refs), policy)

    return on_committed


def set_assignment(rec: Recording, a: Assignment, policy: RetentionPolicy) -> None:
    rec.retention_class = a.retention_class
    rec.expires_at = a.expires_at
    rec.retention_policy = policy.fingerprint


def case_refs_of(session: Session, recording_ids: Iterable[str]) -> dict[str, list[str]]:
    """Case references per recording, in one query."""
    ids = list(recording_ids)
    refs: dict[str, list[str]] = defaultdict(list)
    if not ids:
        return refs
    rows = session.execute(
        select(RecordingCaseRef.recording_id, CaseRef.reference)
        .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
        .where(RecordingCaseRef.recording_id.in_(ids))
        .order_by(RecordingCaseRef.id)
    )
    for rid, ref in rows:
        refs[rid].append(ref)
    return refs


@dataclass
class ApplyReport:
    """What `retention apply` changed (or, with dry_run, would change)."""

    policy: str
    as_of: datetime
    dry_run: bool
    examined: int = 0
    earlier: int = 0
    later: int = 0
    unchanged: int = 0
    newly_assigned: int = 0
    now_expired: int = 0  # moved earlier (or newly assigned) and expired as of `as_of`
    class_changes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "examined": self.examined,
            "moved_earlier": self.earlier,
            "moved_later": self.later,
            "unchanged": self.unchanged,
            "newly_assigned": self.newly_assigned,
            "now_expired": self.now_expired,
            "class_changes": dict(self.class_changes),
        }


def apply_policy(
    catalogue: Catalogue,
    policy: RetentionPolicy,
    *,
    now: datetime,
    actor: str,
    audit: AuditLog,
    dry_run: bool = False,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> ApplyReport:
    """Recompute class and expiry of every stored recording, in committed batches
    (``progress(n)`` is told after each).

    Rows are locked as they are read (FOR UPDATE), so a concurrent purge either sees the new
    expiry or has already claimed the row (and then this skips it). Running it again is harmless.
    """
    report = ApplyReport(policy.label, now, dry_run)
    after = ""
    while True:
        with catalogue.session() as s:
            stmt = (
                select(Recording)
                .where(Recording.state == "stored", Recording.id > after)
                .order_by(Recording.id)
                .limit(batch)
            )
            rows = s.scalars(stmt if dry_run else stmt.with_for_update()).all()
            if not rows:
                break
            refs = case_refs_of(s, (r.id for r in rows))
            for rec in rows:
                _apply_one(
                    rec,
                    policy.assign(rec.started_at, rec.service, refs[rec.id]),
                    policy,
                    report,
                    now,
                    dry_run,
                )
            after = rows[-1].id
        if progress:
            progress(len(rows))
    if not dry_run:
        with catalogue.session() as s:
            audit.append(s, actor=actor, action="retention.apply", details=report.as_dict())
    return report


def _apply_one(
    rec: Recording,
    a: Assignment,
    policy: RetentionPolicy,
    report: ApplyReport,
    now: datetime,
    dry_run: bool,
) -> None:
    report.examined += 1
    old_expiry, old_class = rec.expires_at, rec.retention_class
    if old_expiry is None:
        report.newly_assigned += 1
    elif a.expires_at < old_expiry:
        report.earlier += 1
    elif a.expires_at > old_expiry:
        report.later += 1
    else:
        report.unchanged += 1
    if (old_expiry is None or a.expires_at < old_expiry) and a.expires_at <= now:
        report.now_expired += 1
    if old_class != a.retention_class:
        report.class_changes[f"{old_class or '-'}->{a.retention_class}"] += 1
    if not dry_run and (
        old_expiry != a.expires_at
        or old_class != a.retention_class
        or rec.retention_policy != policy.fingerprint
    ):
        set_assignment(rec, a, policy)
