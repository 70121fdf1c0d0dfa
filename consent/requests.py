"""Data-subject requests (UK GDPR arts. 15-21): what was asked, by whom, and the clock.

A request moves received → verified → in-progress → completed, or ends refused (with a reason)
or withdrawn; every transition is one audit event in the transaction that makes it. The caller's
numbers are kept only as their E.164 keyed hash (storage/identity.py), so "01277 312 500",
"+44 1277 312500" and "0044-1277-312500" are one identifier. Time is a parameter: the service
takes a clock, and every date it judges by ("today") comes from it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.clock import Clock
from consent.errors import ConsentError
from storage import fields
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import SubjectRequest, SubjectRequestIdentifier
from storage.clock import utcnow
from storage.errors import NotFoundError
from storage.fields import FieldError, check_reason

KINDS = ("access", "erasure", "restriction", "rectification", "portability", "objection")
STATES = ("received", "verified", "in-progress", "completed", "refused", "withdrawn")
OPEN_STATES = ("received", "verified", "in-progress")
# state → the states it may move to (an invalid move names the current state and these)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("verified", "refused", "withdrawn"),
    "verified": ("in-progress", "completed", "refused", "withdrawn"),
    "in-progress": ("completed", "refused", "withdrawn"),
    "completed": (),
    "refused": (),
    "withdrawn": (),
}


class RequestError(ConsentError):
    """A step a request's state does not allow, or input that is wrong (named)."""


class RequestNotFound(RequestError, NotFoundError):
    """No request with that ID."""


@dataclass(frozen=True)
class Identifiers:
    """What a caller gave to find their data: numbers (any spelling), case IDs, a date range."""

    callers: Sequence[str] = ()
    case_ids: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


def reason_text(value: str | None, what: str) -> str:
    try:
        return check_reason(value, what)
    except FieldError as exc:
        raise RequestError(str(exc)) from None


def today_of(now: datetime) -> date:
    """The calendar date a request's clock reads at ``now`` (UTC)."""
    return now.astimezone(UTC).date()


def clock_of(r: SubjectRequest) -> Clock:
    return Clock(r.received_on, r.extension_months, r.paused_days, r.paused_since)


def request_view(r: SubjectRequest, today: date) -> dict[str, Any]:
    c = clock_of(r)
    live = r.state in OPEN_STATES
    return {
        "id": r.id,
        "kind": r.kind,
        "state": r.state,
        "received": r.received_on.isoformat(),
        "due": c.due(today).isoformat(),
        "days_left": c.days_left(today) if live else None,
        "overdue": live and c.days_left(today) < 0,
        "paused_since": r.paused_since.isoformat() if r.paused_since else None,
        "pause_reason": r.pause_reason,
        "days_paused": c.days_paused(today),
        "extension_months": r.extension_months,
        "extension_reason": r.extension_reason,
        "identifiers": [
            {"kind": i.kind, "value": i.value if i.kind == "case-id" else i.value[:16] + "…"}
            for i in r.identifiers
        ],
        "since": r.since.isoformat() if r.since else None,
        "until": r.until.isoformat() if r.until else None,
        "opened_by": r.opened_by,
        "opened_at": r.opened_at.isoformat(),
        "verified_by": r.verified_by,
        "verified_how": r.verified_how,
        "closed_at": r.closed_at.isoformat() if r.closed_at else None,
        "closed_reason": r.closed_reason,
    }


class SubjectRequests:
    """Opening requests and moving them through their states; every change audited."""

    def __init__(
        self,
        catalogue: Catalogue,
        hash_caller: Callable[[str], str],
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.hash_caller = hash_caller  # storage.identity.CallerHasher.hash: E.164, keyed
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def today(self) -> date:
        return today_of(self.clock())

    # -- opening and reading ------------------------------------------------------------------

    def open(
        self, kind: str, ids: Identifiers, *, actor: str, received: date | None = None
    ) -> dict[str, Any]:
        if kind not in KINDS:
            raise RequestError(f"unknown request kind {kind!r} (allowed: {', '.join(KINDS)})")
        if not ids.callers and not ids.case_ids:
            raise RequestError("a request needs at least one --caller number or --case-id")
        if ids.since and ids.until and ids.since >= ids.until:
            raise RequestError(f"--since {ids.since.isoformat()} is not before --until")
        today = self.today()
        received = received or today
        if received > today:
            raise RequestError(f"received date {received} is in the future (today is {today})")
        rows = [SubjectRequestIdentifier(kind="caller", value=h) for h in self._hashes(ids)]
        for c in dict.fromkeys(ids.case_ids):
            try:
                fields.CASE_ID.check(c)
            except FieldError as exc:
                raise RequestError(f"--case-id: {exc}") from None
            rows.append(SubjectRequestIdentifier(kind="case-id", value=c))
        now = self.clock()
        r = SubjectRequest(
            id="SR-" + secrets.token_hex(4).upper(),
            kind=kind,
            state="received",
            received_on=received,
            since=ids.since,
            until=ids.until,
            opened_by=actor,
            opened_at=now,
            extension_months=0,
            paused_days=0,
            identifiers=rows,
        )
        with self.catalogue.session() as s:
            s.add(r)
            s.flush()
            view = request_view(r, today)
            self._audit(s, r, actor, "request.open", {"kind": kind, "due": view["due"]})
            return view

    def _hashes(self, ids: Identifiers) -> list[str]:
        out = []
        for number in ids.callers:
            try:
                out.append(self.hash_caller(number))
            except Exception as exc:  # storage/identity says what is wrong with the number
                raise RequestError(f"--caller: {exc}") from None
        return list(dict.fromkeys(out))

    def get(self, s: Session, request_id: str, *, lock: bool = False) -> SubjectRequest:
        stmt = select(SubjectRequest).where(SubjectRequest.id == request_id)
        r = s.scalar(stmt.with_for_update() if lock else stmt)
        if r is None:
            raise RequestNotFound(f"no data-subject request {request_id!r}")
        return r

    def show(self, request_id: str) -> dict[str, Any]:
        with self.catalogue.session() as s:
            return request_view(self.get(s, request_id), self.today())

    def list(
        self, *, state: str | None = None, due_within_days: int | None = None
    ) -> list[dict[str, Any]]:
        """Requests, soonest due first; ``due_within_days``: open ones due by then (or overdue)."""
        if state is not None and state not in STATES:
            raise RequestError(f"unknown state {state!r} (allowed: {', '.join(STATES)})")
        stmt = select(SubjectRequest)
        if state:
            stmt = stmt.where(SubjectRequest.state == state)
        elif due_within_days is not None:
            stmt = stmt.where(SubjectRequest.state.in_(OPEN_STATES))
        today = self.today()
        with self.catalogue.session() as s:
            views = [request_view(r, today) for r in s.scalars(stmt)]
        if due_within_days is not None:
            views = [v for v in views if v["days_left"] is not None]
            views = [v for v in views if v["days_left"] <= due_within_days]
        return sorted(views, key=lambda v: (v["due"], v["id"]))

    # -- transitions ----------------------------------------------------------------------------

    def verify(self, request_id: str, *, how: str, actor: str) -> dict[str, Any]:
        how = reason_text(how, "how the identity was checked (--how)")

        def change(r: SubjectRequest) -> dict[str, Any]:
            r.verified_by, r.verified_how, r.verified_at = actor, how, self.clock()
            return {"how": how}

        return self._move(request_id, "verified", "request.verify", actor, change)

    def start(self, s: Session, r: SubjectRequest, *, actor: str, why: str) -> None:
        """Move a verified request to in-progress (work on it began: a pack, an erasure)."""
        if r.state == "received":
            raise RequestError(
                f"request {r.id} is received, not verified: verify the requester's identity "
                "first (`callvault requests verify`)"
            )
        if r.state == "verified":
            self._check(r, "in-progress")
            r.state = "in-progress"
            self._audit(s, r, actor, "request.start", {"by": why})
        elif r.state != "in-progress":
            self._check(r, "in-progress")

    def complete(self, request_id: str, *, actor: str) -> dict[str, Any]:
        return self._close(request_id, "completed", "request.complete", actor, None)

    def refuse(self, request_id: str, *, reason: str, actor: str) -> dict[str, Any]:
        reason = reason_text(reason, "refusal reason (--reason)")
        return self._close(request_id, "refused", "request.refuse", actor, reason)

    def withdraw(self, request_id: str, *, reason: str | None, actor: str) -> dict[str, Any]:
        text = reason_text(reason, "withdrawal reason (--reason)") if reason else None
        return self._close(request_id, "withdrawn", "request.withdraw", actor, text)

    def extend(self, request_id: str, *, months: int, reason: str, actor: str) -> dict[str, Any]:
        reason = reason_text(reason, "extension reason (--reason)")
        with self.catalogue.session() as s:
            r = self._open_one(s, request_id)
            c = clock_of(r).extended(months)
            r.extension_months, r.extension_reason = c.extension_months, reason
            view = request_view(r, self.today())
            self._audit(
                s,
                r,
                actor,
                "request.extend",
                {"months": months, "reason": reason, "due": view["due"]},
            )
            return view

    def pause(self, request_id: str, *, reason: str, actor: str) -> dict[str, Any]:
        reason = reason_text(reason, "pause reason (--reason)")
        with self.catalogue.session() as s:
            r = self._open_one(s, request_id)
            r.paused_since = clock_of(r).paused(self.today()).paused_since
            r.pause_reason = reason
            self._audit(s, r, actor, "request.pause", {"reason": reason})
            return request_view(r, self.today())

    def resume(self, request_id: str, *, actor: str) -> dict[str, Any]:
        with self.catalogue.session() as s:
            r = self._open_one(s, request_id)
            c = clock_of(r).resumed(self.today())
            r.paused_days, r.paused_since, r.pause_reason = c.paused_days, None, None
            view = request_view(r, self.today())
            self._audit(
                s, r, actor, "request.resume", {"days_paused": c.paused_days, "due": view["due"]}
            )
            return view

    # -- helpers --------------------------------------------------------------------------------

    def _open_one(self, s: Session, request_id: str) -> SubjectRequest:
        r = self.get(s, request_id, lock=True)
        if r.state not in OPEN_STATES:
            raise RequestError(f"request {r.id} is {r.state}; its clock no longer runs")
        return r

    @staticmethod
    def _check(r: SubjectRequest, to: str) -> None:
        allowed = TRANSITIONS[r.state]
        if to not in allowed:
            raise RequestError(
                f"request {r.id} is {r.state}; it cannot become {to} "
                f"(from {r.state}: {', '.join(allowed) or 'nothing, it is closed'})"
            )

    def _move(
        self,
        request_id: str,
        to: str,
        action: str,
        actor: str,
        change: Callable[[SubjectRequest], dict[str, Any]],
    ) -> dict[str, Any]:
        with self.catalogue.session() as s:
            r = self.get(s, request_id, lock=True)
            self._check(r, to)
            details = change(r)
            r.state = to
            self._audit(s, r, actor, action, details)
            return request_view(r, self.today())

    def _close(
        self, request_id: str, to: str, action: str, actor: str, reason: str | None
    ) -> dict[str, Any]:
        def change(r: SubjectRequest) -> dict[str, Any]:
            r.closed_at, r.closed_reason = self.clock(), reason
            if r.paused_since is not None:  # a closed request's clock stops for good
                r.paused_days, r.paused_since = clock_of(r).days_paused(self.today()), None
            return {"reason": reason} if reason else {}

        return self._move(request_id, to, action, actor, change)

    def _audit(
        self, s: Session, r: SubjectRequest, actor: str, action: str, details: dict[str, Any]
    ) -> None:
        self.audit.append(
            s, actor=actor, action=action, details={"request_id": r.id, "state": r.state, **details}
        )
