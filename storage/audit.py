"""Append-only, hash-chained audit log.

Each row's hash covers the previous row's hash and its own content, so editing, removing or
reordering any row breaks the chain from that row on. Removing rows from the *end* cannot be
seen from the chain alone: `verify` reports the head hash and count so operators can anchor
them elsewhere (see README, Operations).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.catalogue.models import AuditEvent
from storage.clock import utcnow

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x63616C6C7661  # "callva": one advisory lock serialises appends on PostgreSQL


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _event_hash(prev_hash: str, ev: AuditEvent) -> str:
    body = canonical_json(
        {
            "seq": ev.seq,
            "at": ev.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": ev.actor,
            "action": ev.action,
            "recording_id": ev.recording_id,
            "details": ev.details,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


class AuditLog:
    """Writes audit events inside the caller's transaction, so an action and its record commit
    together or not at all."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    def append(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        recording_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        # Truncate to microseconds so the hash survives a round trip through any backend.
        at = self._clock().astimezone(UTC)
        ev = AuditEvent(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            recording_id=recording_id,
            details=canonical_json(details or {}),
            prev_hash=prev,
        )
        ev.hash = _event_hash(prev, ev)
        session.add(ev)
        session.flush()
        return ev


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; the first row whose link or content does not match is named."""
    prev, expected_seq, count = GENESIS, 1, 0
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    for ev in session.scalars(stmt):
        count += 1
        if ev.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                prev,
                expected_seq,
                f"row {expected_seq} is missing (next row present is {ev.seq})",
            )
        if ev.prev_hash != prev:
            return VerifyResult(
                False,
                count,
                prev,
                ev.seq,
                f"row {ev.seq} does not link to row {ev.seq - 1} (removed or reordered rows)",
            )
        if _event_hash(prev, ev) != ev.hash:
            return VerifyResult(
                False,
                count,
                prev,
                ev.seq,
                f"row {ev.seq} ({ev.action}) was altered: its content no longer matches its hash",
            )
        prev, expected_seq = ev.hash, expected_seq + 1
    return VerifyResult(True, count, prev)
