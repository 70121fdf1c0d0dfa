"""Scheduled secure destruction of expired, unheld recordings (crypto-shredding).

One batch goes through three steps, each safe to crash after:

1. claim    — one transaction marks the rows "destroying" with this run's ID (SKIP LOCKED);
2. destroy  — every object version goes (S3 DeleteObjects batches via ObjectStore.destroy);
3. finalise — one transaction deletes the wrapped data keys and the consent records, scrubs
              the caller fields and the QA comments and free-text answers, sets "destroyed"
              and writes a destruction record + audit event.

A run that dies leaves its rows "destroying"; once the claim is stale, any later run takes them
over, deletes whatever objects are left (deleting is idempotent) and finalises them. Only the
run holding the claim may finalise a row, and a destruction record is unique per recording, so
nothing is recorded twice and nothing is left behind.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from retention_jobs import claims
from retention_jobs.assign import case_refs_of, set_assignment
from retention_jobs.consent import purge_consent_only
from retention_jobs.errors import RetentionError
from retention_jobs.holds import holds_for
from retention_jobs.policy import RetentionPolicy
from retention_jobs.preview import preview, survey_restricted
from retention_jobs.report import PurgeReport
from storage import metrics
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import Recording
from storage.clock import utcnow
from storage.destruction import Cause, finalise, objects_of
from storage.objects.base import ObjectStore

StepHook = Callable[[str, list[str]], None]
STEPS = ("claimed", "objects-destroyed", "finalised")


class PurgeFailed(RetentionError):
    """A run stopped by an error; ``report`` says what it had destroyed before."""

    def __init__(self, message: str, report: PurgeReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class _Claim:
    recording_id: str
    object_key: str
    resumed_from_run: str | None


class Purger:
    """Destroys what the policy says has expired; time is a parameter (``run(now=...)``)."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        store: ObjectStore,
        policy: RetentionPolicy,
        audit: AuditLog,
        clock: Callable[[], datetime] = utcnow,
        node: str | None = None,
        batch_size: int = 200,
        claim_timeout_s: float = 900,
        on_step: StepHook | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock
        self.node = node or socket.gethostname()
        self.batch_size = batch_size
        self.claim_timeout = timedelta(seconds=claim_timeout_s)
        self._on_step = on_step

    def run(
        self,
        *,
        now: datetime,
        actor: str,
        dry_run: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> PurgeReport:
        """Destroy (or, dry, list) everything expired as of ``now`` and not held."""
        if now.tzinfo is None:
            raise RetentionError(f"purge time {now!r} has no time zone; give UTC")
        stop = should_stop or (lambda: False)
        report = PurgeReport(
            str(uuid.uuid4()),
            now.astimezone(UTC),
            dry_run,
            self.node,
            self.policy.label,
            self.clock(),
        )
        if dry_run:
            preview(self.catalogue, self.policy, report, stale_before=self._stale_before())
            self._survey(report)
            report.finished_at = self.clock()
            return report
        try:
            self._destroy_recordings(report, actor, stop)
            if not report.stopped_early:
                purge_consent_only(
                    self.catalogue,
                    self.policy,
                    self.audit,
                    report,
                    clock=self.clock,
                    actor=actor,
                    batch=self.batch_size,
                    should_stop=stop,
                )
            self._survey(report)
        except BaseException as exc:
            metrics.PURGE_FAILURES.inc()
            metrics.RECORDINGS_DESTROYED.inc(len(report.destroyed))
            report.error = f"{type(exc).__name__}: {exc}"
            report.finished_at = self.clock()
            left = self._record_failure(report, actor)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit stay what they are
            raise PurgeFailed(
                f"retention run {report.run_id} failed after destroying "
                f"{len(report.destroyed)} recording(s): {exc}"
                + (
                    f"; {left} recording(s) are mid-destruction and the next run finishes them"
                    if left
                    else ""
                ),
                report,
            ) from exc
        report.finished_at = self.clock()
        with self.catalogue.session() as s:
            self.audit.append(s, actor=actor, action="retention.run", details=_summary(report))
        metrics.RECORDINGS_DESTROYED.inc(len(report.destroyed))
        metrics.PURGE_LAST_SUCCESS.set_to_current_time()
        return report

    # -- the three steps --------------------------------------------------------------------

    def _destroy_recordings(
        self, report: PurgeReport, actor: str, stop: Callable[[], bool]
    ) -> None:
        while True:
            if stop():
                report.stopped_early = True
                return
            batch = self._claim(report)
            if batch is None:
                return
            if not batch:
                continue  # every candidate was kept by the current policy; look again
            ids = [c.recording_id for c in batch]
            try:
                self._step("claimed", ids)
                removed = self.store.destroy(objects_of(self.catalogue, ids))
                self._step("objects-destroyed", ids)
                self._finalise(report, batch, removed, actor)
            except BaseException:
                self._abandon(report.run_id, ids)
                raise
            self._step("finalised", ids)

    def _claim(self, report: PurgeReport) -> list[_Claim] | None:
        with self.catalogue.session() as s:
            at = self.clock()
            stale = s.scalars(
                claims.lock(claims.interrupted(at - self.claim_timeout), self.batch_size)
            ).all()
            batch = [_Claim(r.id, r.object_key, r.purge_run_id) for r in stale]
            room = self.batch_size - len(batch)
            fresh = s.scalars(claims.lock(claims.due(report.as_of), room)).all() if room else []
            if not batch and not fresh:
                return None
            refs = case_refs_of(s, (r.id for r in fresh))
            for rec in fresh:
                a = self.policy.assign(rec.started_at, rec.service, refs[rec.id])
                if (a.retention_class, a.expires_at) != (rec.retention_class, rec.expires_at):
                    report.reassigned.append(
                        {
                            "recording_id": rec.id,
                            "from_class": rec.retention_class,
                            "to_class": a.retention_class,
                            "from_expires_at": _iso(rec.expires_at),
                            "to_expires_at": a.expires_at.isoformat(),
                            "destroyed": a.expires_at <= report.as_of,
                        }
                    )
                    set_assignment(rec, a, self.policy)
                if a.expires_at <= report.as_of:  # never destroy on an outdated expiry
                    batch.append(_Claim(rec.id, rec.object_key, None))
            claims.mark_claimed(s, [c.recording_id for c in batch], report.run_id, at)
            return batch

    def _finalise(
        self, report: PurgeReport, batch: list[_Claim], removed: dict[str, int], actor: str
    ) -> None:
        ids = [c.recording_id for c in batch]
        with self.catalogue.session() as s:
            rows = {
                r.id: r
                for r in s.scalars(
                    select(Recording).where(Recording.id.in_(ids)).with_for_update()
                ).all()
            }
            mine = [
                c
                for c in batch
                if c.recording_id in rows
                and rows[c.recording_id].state == "destroying"
                and rows[c.recording_id].purge_run_id == report.run_id
            ]
            report.claims_lost += len(batch) - len(mine)  # taken over after our claim went stale
            cause = Cause(
                run_id=report.run_id,
                as_of=report.as_of,
                node=self.node,
                policy_id=self.policy.policy_id,
                policy_fingerprint=self.policy.fingerprint,
                periods={name: str(p) for name, p in self.policy.classes.items()},
            )
            shredded = [(rows[c.recording_id], c.resumed_from_run) for c in mine]
            report.destroyed.extend(
                finalise(s, self.audit, shredded, removed, cause, actor=actor, at=self.clock())
            )

    # -- bookkeeping ------------------------------------------------------------------------

    def _step(self, step: str, ids: list[str]) -> None:
        if self._on_step:
            self._on_step(step, ids)

    def _stale_before(self) -> datetime:
        return self.clock() - self.claim_timeout

    def _abandon(self, run_id: str, ids: list[str]) -> None:
        try:
            with self.catalogue.session() as s:
                claims.abandon(s, ids, run_id)
        except Exception:  # noqa: S110 - the claim goes stale instead; the original error wins
            pass

    def _survey(self, report: PurgeReport) -> None:
        with self.catalogue.session() as s:
            held = s.execute(claims.due_but_held(report.as_of)).all()
            refs = holds_for(s, (rid for rid, _ in held))
            report.held = [
                {"recording_id": rid, "expires_at": _iso(exp), "holds": refs.get(rid, [])}
                for rid, exp in held
            ]
            report.unassigned = claims.unassigned_count(s)
            report.in_progress_elsewhere = claims.in_progress_count(s, self._stale_before())
        survey_restricted(self.catalogue, report)

    def _record_failure(self, report: PurgeReport, actor: str) -> int:
        """Audit the failure (best effort); returns how many rows this run left mid-way."""
        try:
            with self.catalogue.session() as s:
                left = int(
                    s.scalar(
                        select(func.count())
                        .select_from(Recording)
                        .where(
                            Recording.state == "destroying", Recording.purge_run_id == report.run_id
                        )
                    )
                    or 0
                )
                details = _summary(report) | {"left_destroying": left}
                self.audit.append(s, actor=actor, action="retention.run.failed", details=details)
                return left
        except Exception:
            return 0


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _summary(report: PurgeReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "as_of": report.as_of.isoformat(),
        "node": report.node,
        "policy": report.policy,
        "destroyed": len(report.destroyed),
        "consent_records_destroyed": len(report.consent_destroyed),
        "held": len(report.held),
        "restricted": len(report.restricted),
        "reassigned": report.reassigned,
        "claims_lost": report.claims_lost,
        "unassigned": report.unassigned,
        "stopped_early": report.stopped_early,
        "error": report.error,
    }
