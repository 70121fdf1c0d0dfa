"""The compression queue in the catalogue: claims with leases, updates fenced by the claim.

A claim is a lease (`lease_until`) and a token: a worker that dies loses its job when the lease
passes, and any later write of the old holder (`held`) finds another token and fails with
LeaseLost, so two workers never both commit. On PostgreSQL the candidate row is picked with
`SELECT … FOR UPDATE SKIP LOCKED` (claimers never wait on each other); on SQLite, where a
transaction holds the write lock from BEGIN, the conditional UPDATE alone decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.catalogue.models import CompressionJob, Recording
from storage.errors import StorageError

OPEN_STATES = ("queued", "replaced")


class LeaseLost(StorageError):
    """Another worker took the job over (this one's lease had passed); it stops touching it."""


@dataclass(frozen=True)
class Claim:
    recording_id: str
    token: str
    worker: str
    state: str  # queued | replaced
    target_format: str
    old_object_key: str | None
    new_object_key: str | None
    attempts: int


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        CompressionJob.state.in_(OPEN_STATES),
        CompressionJob.not_before <= now,
        or_(CompressionJob.lease_until.is_(None), CompressionJob.lease_until < now),
    )


def claim(s: Session, *, now: datetime, worker: str, lease: timedelta) -> Claim | None:
    """Take the oldest due job nobody holds (or whose holder's lease has passed)."""
    rid = s.scalar(
        select(CompressionJob.recording_id)
        .where(_claimable(now))
        .order_by(CompressionJob.not_before, CompressionJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if rid is None:
        return None
    token = str(uuid.uuid4())
    taken = s.execute(
        update(CompressionJob)
        .where(CompressionJob.recording_id == rid, _claimable(now))
        .values(
            claimed_by=worker,
            claim_token=token,
            lease_until=now + lease,
            attempts=CompressionJob.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    job = s.get(CompressionJob, rid, populate_existing=True)
    if job is None:  # pragma: no cover - we have just updated it
        return None
    return Claim(
        rid,
        token,
        worker,
        job.state,
        job.target_format,
        job.old_object_key,
        job.new_object_key,
        job.attempts,
    )


def held(s: Session, c: Claim) -> CompressionJob:
    """The job row, locked, while c still holds it; LeaseLost once another worker took it."""
    job = s.scalar(
        select(CompressionJob)
        .where(CompressionJob.recording_id == c.recording_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if job is None or job.claim_token != c.token:
        raise LeaseLost(
            f"recording {c.recording_id}: compression job taken over by "
            f"{job.claimed_by if job else 'nobody'} (lease of {c.worker} passed)"
        )
    return job


def release(
    s: Session, c: Claim, *, state: str, not_before: datetime, error: str | None = None
) -> CompressionJob:
    """Let go of the job: state set, claim cleared, not to be taken again before not_before."""
    job = held(s, c)
    job.state = state
    job.claimed_by = job.claim_token = None
    job.lease_until = None
    job.not_before = not_before
    job.last_error = error
    return job


def object_keys(s: Session, recording_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every object a recording may have in the store: the current one, and both ends of a
    compression in progress (or finished: deleting an absent key is harmless)."""
    ids = list(recording_ids)
    keys: dict[str, set[str]] = {rid: set() for rid in ids}
    if not ids:
        return {}
    for rid, key in s.execute(
        select(Recording.id, Recording.object_key).where(Recording.id.in_(ids))
    ):
        keys[rid].add(key)
    for rid, old, new in s.execute(
        select(
            CompressionJob.recording_id,
            CompressionJob.old_object_key,
            CompressionJob.new_object_key,
        ).where(CompressionJob.recording_id.in_(ids))
    ):
        keys[rid].update(k for k in (old, new) if k)
    return {rid: sorted(v) for rid, v in keys.items()}


def backlog(s: Session) -> dict[str, int]:
    """How many jobs are in each state (the `worker --once --json` summary)."""
    rows = s.execute(
        select(CompressionJob.state, func.count()).group_by(CompressionJob.state)
    ).all()
    return {str(state): int(n) for state, n in rows}
