"""Data-subject requests in the portal: the DPO's pages and API use this, and it uses consent/.

Only roles holding the "requests" action (the dpo) may use any of it. Approving an erasure is
the one step that needs the portal: the approver is the authenticated user, and the one who
proposed the erasure is refused (403), whichever door they proposed it through.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends

from consent.erasure import Erasure, SelfApproval
from consent.pack import Packs
from consent.pack_plan import PackPlan
from consent.requests import Identifiers, SubjectRequests
from consent.requests_objection import act_on_objection
from consent.requests_restriction import restrict_for_request
from consent.requests_show import describe
from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.context import PortalContext
from portal.deps import Ctx
from portal.errors import Forbidden
from retention_jobs.holds import holds_for

MOVES = ("verify", "extend", "pause", "resume", "complete", "refuse", "withdraw", "object")


class PortalRequests:
    def __init__(self, ctx: PortalContext) -> None:
        self.requests = SubjectRequests(ctx.catalogue, ctx.caller_hash)
        self.erasure = Erasure(self.requests, ctx.recordings.store, holds_for)
        self.packs = Packs(self.requests, ctx.recordings, ctx.recordings.audio, holds_for)

    def require(self, user: Principal) -> None:
        if not access.allowed(user, roles.REQUESTS):
            raise Forbidden(f"role {user.role} has no access to data-subject requests")

    def list(
        self, user: Principal, state: str | None = None, due_within: int | None = None
    ) -> list[dict[str, Any]]:
        self.require(user)
        return self.requests.list(state=state, due_within_days=due_within)

    def open(
        self,
        user: Principal,
        kind: str,
        callers: Sequence[str],
        case_ids: Sequence[str],
        since: datetime | None = None,
        until: datetime | None = None,
        received: date | None = None,
    ) -> dict[str, Any]:
        self.require(user)
        ids = Identifiers(callers, case_ids, since, until)
        return self.requests.open(kind, ids, actor=user.actor, received=received)

    def show(self, user: Principal, request_id: str) -> dict[str, Any]:
        self.require(user)
        return describe(self.requests, request_id, holds_for)

    def move(self, user: Principal, request_id: str, action: str, **kw: Any) -> dict[str, Any]:
        """One transition (verify, extend, pause, …) by name; the answer is the request."""
        self.require(user)
        r, who = self.requests, user.actor
        if action == "object":
            return act_on_objection(r, request_id, actor=who, holds_of=holds_for)
        if action == "verify":
            r.verify(request_id, how=kw.get("how") or "", actor=who)
        elif action == "extend":
            r.extend(
                request_id,
                months=int(kw.get("months") or 0),
                reason=kw.get("reason") or "",
                actor=who,
            )
        elif action == "pause":
            r.pause(request_id, reason=kw.get("reason") or "", actor=who)
        elif action == "resume":
            r.resume(request_id, actor=who)
        elif action == "complete":
            r.complete(request_id, actor=who)
        elif action == "refuse":
            r.refuse(request_id, reason=kw.get("reason") or "", actor=who)
        elif action == "withdraw":
            r.withdraw(request_id, reason=kw.get("reason") or None, actor=who)
        else:
            raise Forbidden(f"unknown request action {action!r} (allowed: {', '.join(MOVES)})")
        return self.show(user, request_id)

    def decide(
        self, user: Principal, request_id: str, decision: str, reason: str, ids: Sequence[str]
    ) -> dict[str, Any]:
        self.require(user)
        if decision == "restrict":
            return self.restrict(user, request_id, reason, ids)
        act = self.erasure.propose if decision == "erase" else self.erasure.keep
        return act(request_id, reason=reason, actor=user.actor, recording_ids=ids)

    def restrict(
        self, user: Principal, request_id: str, reason: str, ids: Sequence[str]
    ) -> dict[str, Any]:
        self.require(user)
        return restrict_for_request(
            self.requests, request_id, reason=reason, actor=user.actor, recording_ids=ids
        )

    def approve(self, user: Principal, request_id: str, ids: Sequence[str]) -> dict[str, Any]:
        self.require(user)
        try:
            return self.erasure.approve(request_id, approver=user.actor, recording_ids=ids)
        except SelfApproval as exc:
            raise Forbidden(str(exc)) from None

    def pack(
        self, user: Principal, request_id: str, both_channels: bool, reason: str | None
    ) -> tuple[PackPlan, Iterator[bytes]]:
        """The plan (the request moves to in-progress) and the zip's chunks; the pack is
        audited with its SHA-256 once the last chunk has gone."""
        self.require(user)
        plan = self.packs.plan(
            request_id, actor=user.actor, both_channels=both_channels, reason=reason
        )
        return plan, self.packs.stream(plan)


def _requests(ctx: Ctx) -> PortalRequests:
    return PortalRequests(ctx)


Requests = Annotated[PortalRequests, Depends(_requests)]
