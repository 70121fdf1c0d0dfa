"""The audit viewer's query: the chain's status and events filtered by recording, actor,
action and time, newest first, keyset-paginated by sequence number."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.errors import BadInput, Forbidden
from storage.audit_check import AuditVerdict, verify_audit
from storage.catalogue.models import AuditEvent


@dataclass(frozen=True)
class AuditQuery:
    recording_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    limit: int = 100


def event_view(ev: AuditEvent) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "at": ev.at.isoformat(),
        "actor": ev.actor,
        "action": ev.action,
        "recording_id": ev.recording_id,
        "details": json.loads(ev.details),
        "hash": ev.hash,
    }


def audit_verdict(s: Session) -> AuditVerdict:
    """What `callvault audit verify` says (the chain and its cross-check with the catalogue;
    the anchors in the object store are the CLI's `--anchors`)."""
    return verify_audit(s)


def events(s: Session, user: Principal, q: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
    if not access.allowed(user, roles.AUDIT):
        raise Forbidden(f"role {user.role} cannot read the audit log")
    if not 1 <= q.limit <= 500:
        raise BadInput(f"limit {q.limit}: allowed 1..500")
    stmt: Select[Any] = select(AuditEvent)
    if q.recording_id:
        stmt = stmt.where(AuditEvent.recording_id == q.recording_id)
    if q.actor:
        stmt = stmt.where(AuditEvent.actor == q.actor)
    if q.action:
        # "recording.play" or a family: "recording." / "portal."
        if q.action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(q.action))
        else:
            stmt = stmt.where(AuditEvent.action == q.action)
    if q.since:
        stmt = stmt.where(AuditEvent.at >= q.since)
    if q.until:
        stmt = stmt.where(AuditEvent.at < q.until)
    if q.before_seq:
        stmt = stmt.where(AuditEvent.seq < q.before_seq)
    rows = list(s.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(q.limit + 1)))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return [event_view(r) for r in rows], (rows[-1].seq if more else None)
