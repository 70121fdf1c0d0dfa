"""The dry run: what a purge would destroy and why, read in pages, changing nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select

from retention_jobs import claims
from retention_jobs.assign import case_refs_of
from retention_jobs.consent import preview_consent_only
from retention_jobs.policy import RetentionPolicy
from retention_jobs.report import PurgeReport
from storage.catalogue.db import Catalogue
from storage.catalogue.models import Recording, RecordingRestriction

PAGE = 1000


def preview(
    catalogue: Catalogue, policy: RetentionPolicy, report: PurgeReport, *, stale_before: datetime
) -> None:
    with catalogue.session() as s:
        for rec in s.scalars(claims.interrupted(stale_before)):
            report.would_finish.append(
                {
                    "recording_id": rec.id,
                    "retention_class": rec.retention_class,
                    "expired_at": rec.expires_at.isoformat() if rec.expires_at else None,
                    "reason": f"destruction begun by run {rec.purge_run_id} was interrupted; "
                    "the next run finishes it",
                }
            )
    last: tuple[datetime, str] | None = None
    while True:
        with catalogue.session() as s:
            stmt = claims.due(report.as_of)
            if last is not None:
                stmt = stmt.where(
                    or_(
                        Recording.expires_at > last[0],
                        and_(Recording.expires_at == last[0], Recording.id > last[1]),
                    )
                )
            page = s.scalars(stmt.limit(PAGE)).all()
            refs = case_refs_of(s, (r.id for r in page))
            for rec in page:
                a = policy.assign(rec.started_at, rec.service, refs[rec.id])
                if a.expires_at > report.as_of:
                    report.reassigned.append(
                        {
                            "recording_id": rec.id,
                            "from_class": rec.retention_class,
                            "to_class": a.retention_class,
                            "from_expires_at": rec.expires_at.isoformat()
                            if rec.expires_at
                            else None,
                            "to_expires_at": a.expires_at.isoformat(),
                            "destroyed": False,
                        }
                    )
                    continue
                report.would_destroy.append(
                    {
                        "recording_id": rec.id,
                        "started_at": rec.started_at.isoformat(),
                        "retention_class": a.retention_class,
                        "retention_period": str(a.period),
                        "expired_at": a.expires_at.isoformat(),
                        "reason": f"expired {a.expires_at.isoformat()} under class "
                        f"{a.retention_class} ({a.period}) of policy {policy.label}; "
                        "no active hold",
                    }
                )
        if len(page) < PAGE:
            break
        tail = page[-1]
        last = (tail.expires_at or report.as_of, tail.id)
    preview_consent_only(catalogue, policy, report)


def survey_restricted(catalogue: Catalogue, report: PurgeReport) -> None:
    """Expired recordings that a data-subject restriction keeps, with why."""
    with catalogue.session() as s:
        rows = s.execute(claims.due_but_restricted(report.as_of)).all()
        active = select(RecordingRestriction.recording_id, RecordingRestriction.restricted_at)
        since: dict[str, datetime] = {
            rid: at
            for rid, at in s.execute(
                active.where(
                    RecordingRestriction.recording_id.in_([rid for rid, _ in rows]),
                    RecordingRestriction.lifted_at.is_(None),
                )
            )
        }
    report.restricted = [
        {
            "recording_id": rid,
            "expires_at": exp.isoformat() if exp else None,
            "restricted_at": since[rid].isoformat() if rid in since else None,
            "reason": "restricted (a data-subject right): kept until the DPO lifts the restriction",
        }
        for rid, exp in rows
    ]
