"""Finding recordings (and, for the DPO, consent records without audio): filters, sorting,
keyset pagination and counts. Every query goes through `access.scoped`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from consent.recording_rights import mark_restricted
from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.errors import BadInput, Forbidden
from storage.catalogue.models import CaseRef, ConsentRecordRow, Recording, RecordingCaseRef
from storage.retrieval import recording_view

OUTCOMES = ("recorded", "objected", "abandoned", "do-not-record", "queue-failed")
SORTS = {"started_at": Recording.started_at, "duration_s": Recording.duration_s}
MAX_LIMIT = 200


@dataclass(frozen=True)
class Query:
    since: datetime | None = None
    until: datetime | None = None
    service: str | None = None
    agent: str | None = None
    case_id: str | None = None
    caller_hash: str | None = None  # the keyed hash; the number itself never comes this far
    outcome: str | None = None
    complete: bool | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    sort: str = "started_at"
    order: str = "desc"
    limit: int = 50
    cursor: str | None = None

    def check(self) -> Query:
        if self.sort not in SORTS:
            raise BadInput(f"sort {self.sort!r}; allowed: {', '.join(SORTS)}")
        if self.order not in ("asc", "desc"):
            raise BadInput(f"order {self.order!r}; allowed: asc, desc")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise BadInput(f"outcome {self.outcome!r}; allowed: {', '.join(OUTCOMES)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadInput(f"limit {self.limit}: allowed 1..{MAX_LIMIT}")
        if self.since and self.until and self.since >= self.until:
            raise BadInput("since must be before until")
        return self

    @property
    def consent_only(self) -> bool:
        """Outcomes other than "recorded" have no audio: they are consent records alone."""
        return self.outcome is not None and self.outcome != "recorded"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    next_cursor: str | None


def _encode(value: Any, key: Any) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, Any]:
    try:
        value, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return value, key
    except (ValueError, TypeError) as exc:
        raise BadInput("cursor is not one this server gave out") from exc


def _after(col: Any, key_col: Any, cursor: str, desc: bool, is_time: bool) -> Any:
    value, key = _decode(cursor)
    try:
        v = datetime.fromisoformat(value) if is_time else float(value)
    except (ValueError, TypeError) as exc:
        raise BadInput("cursor is not one this server gave out") from exc
    if desc:
        return or_(col < v, and_(col == v, key_col < key))
    return or_(col > v, and_(col == v, key_col > key))


def search(s: Session, user: Principal, q: Query) -> Page:
    q.check()
    if not access.allowed(user, roles.SEARCH):
        raise Forbidden(f"role {user.role} cannot search recordings")
    if q.consent_only:
        return _consent_only(s, user, q)
    stmt: Select[Any] = access.scoped(select(Recording), user)
    if q.case_id:
        stmt = stmt.where(
            Recording.id.in_(
                select(RecordingCaseRef.recording_id)
                .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
                .where(CaseRef.reference == q.case_id)
            )
        )
    if q.caller_hash:
        stmt = stmt.where(Recording.caller_hash == q.caller_hash)
    if q.service:
        stmt = stmt.where(Recording.service == q.service)
    if q.agent:
        stmt = stmt.where(Recording.agent == q.agent)
    if q.since:
        stmt = stmt.where(Recording.started_at >= q.since)
    if q.until:
        stmt = stmt.where(Recording.started_at < q.until)
    if q.complete is not None:
        stmt = stmt.where(Recording.complete.is_(q.complete))
    if q.min_duration_s is not None:
        stmt = stmt.where(Recording.duration_s >= q.min_duration_s)
    if q.max_duration_s is not None:
        stmt = stmt.where(Recording.duration_s <= q.max_duration_s)
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    col, desc = SORTS[q.sort], q.order == "desc"
    if q.cursor:
        stmt = stmt.where(_after(col, Recording.id, q.cursor, desc, q.sort == "started_at"))
    order = (col.desc(), Recording.id.desc()) if desc else (col.asc(), Recording.id.asc())
    rows = list(
        s.scalars(
            stmt.options(
                selectinload(Recording.key),
                selectinload(Recording.case_links).selectinload(RecordingCaseRef.case_ref),
            )
            .order_by(*order)
            .limit(q.limit + 1)
        )
    )
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    nxt = _encode(getattr(rows[-1], q.sort), rows[-1].id) if more else None
    items = [recording_view(r, None) for r in rows]
    if access.allowed(user, roles.SEE_RESTRICTED):  # others never see a restricted one
        mark_restricted(s, items)
    return Page(items, total, nxt)


def _consent_only(s: Session, user: Principal, q: Query) -> Page:
    if not access.allowed(user, roles.CONSENT_ONLY):
        raise Forbidden(f"role {user.role} cannot see consent records without audio")
    stmt: Select[Any] = select(ConsentRecordRow).where(ConsentRecordRow.recording_id.is_(None))
    # Documents are canonical JSON (sorted keys, no spaces), so the outcome is a fixed string;
    # "abandoned" also finds "abandoned during notice".
    stmt = stmt.where(ConsentRecordRow.document.contains(f'"outcome":"{q.outcome}'))
    if q.since:
        stmt = stmt.where(ConsentRecordRow.received_at >= q.since)
    if q.until:
        stmt = stmt.where(ConsentRecordRow.received_at < q.until)
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    desc = q.order == "desc"
    col = ConsentRecordRow.received_at
    if q.cursor:
        stmt = stmt.where(_after(col, ConsentRecordRow.id, q.cursor, desc, True))
    order = (col.desc(), ConsentRecordRow.id.desc()) if desc else (col.asc(), ConsentRecordRow.id)
    rows = list(s.scalars(stmt.order_by(*order).limit(q.limit + 1)))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    nxt = _encode(rows[-1].received_at, rows[-1].id) if more else None
    return Page([consent_only_view(r) for r in rows], total, nxt)


def consent_only_view(row: ConsentRecordRow) -> dict[str, Any]:
    doc = json.loads(row.document)
    doc.pop("caller", None)
    return {
        "consent_record_id": row.id,
        "call_id": row.call_id,
        "received_at": row.received_at.isoformat(),
        "outcome": doc.get("outcome"),
        "consent": doc,
    }


def with_cursor(q: Query, cursor: str | None) -> Query:
    return replace(q, cursor=cursor)
