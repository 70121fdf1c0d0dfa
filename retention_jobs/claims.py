"""The purge's catalogue queries: which recordings are due, and claiming them.

A claim marks rows "destroying" with the run's ID and the claim time in one transaction. On
PostgreSQL the rows are chosen with SELECT ... FOR UPDATE SKIP LOCKED, so concurrent runs on
several nodes take disjoint batches; SQLite serialises writers (BEGIN IMMEDIATE). A claim
older than the claim timeout (or abandoned after an error) belongs to a run that died: any
later run takes it over and finishes the destruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from consent.restriction import is_restricted_sql, not_restricted_sql
from retention_jobs.holds import free_of_holds, under_active_hold
from storage.catalogue.models import Recording


def due(as_of: datetime) -> Select[Recording]:
    """Stored, expired, not under an active hold and not restricted (a data-subject
    restriction keeps the recording while it lasts), oldest expiry first.

    Served by the index (state, expires_at): destroyed rows are never scanned.
    """
    return (
        select(Recording)
        .where(
            Recording.state == "stored",
            Recording.expires_at <= as_of,
            free_of_holds(Recording.id),
            not_restricted_sql(Recording.id),
        )
        .order_by(Recording.expires_at, Recording.id)
    )


def due_but_held(as_of: datetime) -> Select[str, datetime | None]:
    return (
        select(Recording.id, Recording.expires_at)
        .where(
            Recording.state == "stored",
            Recording.expires_at <= as_of,
            under_active_hold(Recording.id),
        )
        .order_by(Recording.expires_at, Recording.id)
    )


def due_but_restricted(as_of: datetime) -> Select[str, datetime | None]:
    """Expired and free of holds, but kept by a restriction (reported, never destroyed)."""
    return (
        select(Recording.id, Recording.expires_at)
        .where(
            Recording.state == "stored",
            Recording.expires_at <= as_of,
            free_of_holds(Recording.id),
            is_restricted_sql(Recording.id),
        )
        .order_by(Recording.expires_at, Recording.id)
    )


def interrupted(stale_before: datetime) -> Select[Recording]:
    """Rows left "destroying" by a run that died (or gave up after an error)."""
    return (
        select(Recording)
        .where(
            Recording.state == "destroying",
            or_(Recording.purge_claimed_at.is_(None), Recording.purge_claimed_at < stale_before),
        )
        .order_by(Recording.id)
    )


def in_progress_count(session: Session, stale_before: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Recording)
            .where(Recording.state == "destroying", Recording.purge_claimed_at >= stale_before)
        )
        or 0
    )


def unassigned_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Recording)
            .where(Recording.state == "stored", Recording.expires_at.is_(None))
        )
        or 0
    )


def lock(stmt: Select[Any], limit: int) -> Select[Any]:
    """Take up to ``limit`` rows that no other transaction holds (PostgreSQL SKIP LOCKED)."""
    return stmt.limit(limit).with_for_update(skip_locked=True, of=Recording)


def mark_claimed(session: Session, ids: Sequence[str], run_id: str, at: datetime) -> None:
    if ids:
        session.execute(
            update(Recording)
            .where(Recording.id.in_(ids))
            .values(state="destroying", purge_run_id=run_id, purge_claimed_at=at)
        )


def abandon(session: Session, ids: Sequence[str], run_id: str) -> None:
    """Give claims back for immediate takeover (claim time NULL) after this run failed."""
    if ids:
        session.execute(
            update(Recording)
            .where(
                Recording.id.in_(ids),
                Recording.state == "destroying",
                Recording.purge_run_id == run_id,
            )
            .values(purge_claimed_at=None)
        )
