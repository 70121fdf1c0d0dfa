"""Erasure (UK GDPR art. 17): one DPO proposes, a second approves, the recordings are shredded.

Proposing lists which of the request's recordings are to go; a recording under a legal hold is
refused there and then, naming the hold. Approving needs another person than the one who
proposed (the portal, authenticated): the proposer's own approval is refused. Approval may
cover part of what was proposed; the rest waits. The recordings go through the same
crypto-shredding path as the retention purge (storage/destruction.py), and each destruction
record names the request. A hold placed between proposal and approval still wins.

An objection (art. 21) decides its recordings the same way: erase through this path, or keep
with a recorded reason.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.requests import RequestError, SubjectRequests, reason_text
from consent.requests_find import HoldLookup, find
from storage.catalogue.models import Recording, SubjectRequest, SubjectRequestDecision
from storage.clock import utcnow
from storage.destruction import Cause, destroy
from storage.objects.base import ObjectStore

ERASABLE_KINDS = ("erasure", "objection")


class ErasureError(RequestError):
    """An erasure step that is not allowed (nothing proposed, wrong request)."""


class SelfApproval(ErasureError):
    """The person who proposed an erasure tried to approve it too."""


def person(actor: str) -> str:
    """Who an audit actor is, whichever door they came through ("portal:alice" is alice)."""
    return actor.removeprefix("portal:").strip().lower()


def decision_view(d: SubjectRequestDecision) -> dict[str, Any]:
    return {
        "recording_id": d.recording_id,
        "decision": d.decision,
        "state": d.state,
        "reason": d.reason,
        "proposed_by": d.proposed_by,
        "proposed_at": d.proposed_at.isoformat(),
        "approved_by": d.approved_by,
        "approved_at": d.approved_at.isoformat() if d.approved_at else None,
        "detail": d.detail,
    }


def decisions_of(s: Session, request_id: str) -> list[SubjectRequestDecision]:
    return list(
        s.scalars(
            select(SubjectRequestDecision)
            .where(SubjectRequestDecision.request_id == request_id)
            .order_by(SubjectRequestDecision.id)
        )
    )


class Erasure:
    """Propose, approve (by a second DPO) and keep decisions on a request's recordings."""

    def __init__(
        self,
        requests: SubjectRequests,
        store: ObjectStore,
        holds_of: HoldLookup,
        *,
        node: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.requests = requests
        self.catalogue = requests.catalogue
        self.audit = requests.audit
        self.store = store
        self.holds_of = holds_of
        self.node = node or socket.gethostname()
        self.clock = clock

    def _request(self, s: Session, request_id: str) -> SubjectRequest:
        r = self.requests.get(s, request_id, lock=True)
        if r.kind not in ERASABLE_KINDS:
            raise ErasureError(
                f"request {r.id} is a {r.kind} request; recordings are erased only for "
                f"{' or '.join(ERASABLE_KINDS)} requests"
            )
        return r

    def _chosen(self, s: Session, r: SubjectRequest, ids: Sequence[str]) -> list[Recording]:
        found = {x.id: x for x in find(s, r).recordings}
        for rid in ids:
            if rid not in found:
                raise ErasureError(f"recording {rid} is not among those request {r.id} found")
        return [found[i] for i in ids] if ids else list(found.values())

    def propose(
        self, request_id: str, *, reason: str, actor: str, recording_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        return self._decide(request_id, "erase", reason, actor, recording_ids)

    def keep(
        self, request_id: str, *, reason: str, actor: str, recording_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        return self._decide(request_id, "keep", reason, actor, recording_ids)

    def _decide(
        self, request_id: str, decision: str, reason: str, actor: str, ids: Sequence[str]
    ) -> dict[str, Any]:
        reason = reason_text(reason, f"{decision} reason (--reason)")
        with self.catalogue.session() as s:
            r = self._request(s, request_id)
            self.requests.start(s, r, actor=actor, why=f"{decision} decision")
            existing = {d.recording_id: d for d in decisions_of(s, r.id)}
            targets = [x for x in self._chosen(s, r, ids) if x.state == "stored"]
            holds = self.holds_of(s, [x.id for x in targets])
            now = self.clock()
            for x in targets:
                old = existing.get(x.id)
                if old is not None and old.state != "proposed" and old.decision == "erase":
                    continue  # erased or refused already: that stays the answer
                if old is not None:
                    s.delete(old)
                    s.flush()
                held = decision == "erase" and x.id in holds
                s.add(
                    SubjectRequestDecision(
                        request_id=r.id,
                        recording_id=x.id,
                        decision=decision,
                        state=("refused" if held else "proposed")
                        if decision == "erase"
                        else "kept",
                        reason=reason,
                        proposed_by=actor,
                        proposed_at=now,
                        detail=f"under legal hold {', '.join(holds[x.id])}" if held else None,
                    )
                )
            s.flush()
            views = [decision_view(d) for d in decisions_of(s, r.id)]
            self.audit.append(
                s,
                actor=actor,
                action=f"request.{decision}",
                details={
                    "request_id": r.id,
                    "reason": reason,
                    "recordings": [x.id for x in targets],
                    "refused_held": [x.id for x in targets if x.id in holds]
                    if decision == "erase"
                    else [],
                },
            )
        return {"request_id": request_id, "decisions": views}

    def approve(
        self, request_id: str, *, approver: str, recording_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Erase what was proposed (or the part ``recording_ids`` names); ``approver`` must be
        another person than whoever proposed it."""
        with self.catalogue.session() as s:
            r = self._request(s, request_id)
            pending = {
                d.recording_id: d
                for d in decisions_of(s, r.id)
                if d.decision == "erase" and d.state == "proposed"
            }
            if not pending:
                raise ErasureError(f"request {r.id} has no erasure waiting for approval")
            for rid in recording_ids:
                if rid not in pending:
                    raise ErasureError(
                        f"recording {rid} has no erasure of request {r.id} waiting for approval"
                    )
            chosen = (
                [pending[i] for i in recording_ids] if recording_ids else list(pending.values())
            )
            own = sorted(
                {d.proposed_by for d in chosen if person(d.proposed_by) == person(approver)}
            )
            if own:
                raise SelfApproval(
                    f"{person(approver)} proposed this erasure and cannot also approve it: "
                    "a second DPO must approve it"
                )
            holds = self.holds_of(s, [d.recording_id for d in chosen])
            now = self.clock()
            for d in chosen:
                if d.recording_id in holds:
                    d.state, d.detail = (
                        "refused",
                        f"under legal hold {', '.join(holds[d.recording_id])}",
                    )
                d.approved_by, d.approved_at = approver, now
            to_erase = [d.recording_id for d in chosen if d.recording_id not in holds]
            self.audit.append(
                s,
                actor=approver,
                action="request.erasure.approve",
                details={
                    "request_id": r.id,
                    "recordings": to_erase,
                    "refused_held": {rid: holds[rid] for rid in holds},
                    "proposed_by": sorted({d.proposed_by for d in chosen}),
                },
            )
        cause = Cause(
            run_id=request_id,
            as_of=now,
            node=self.node,
            policy_id=f"erasure request {request_id}",
            policy_fingerprint="erasure",
            unknown_period="erased on request",
            request_id=request_id,
        )
        records = destroy(
            self.catalogue,
            self.store,
            self.audit,
            to_erase,
            cause,
            actor=approver,
            clock=self.clock,
        )
        with self.catalogue.session() as s:
            gone = set(
                s.scalars(
                    select(Recording.id).where(
                        Recording.id.in_(to_erase), Recording.state == "destroyed"
                    )
                )
            )
            for d in decisions_of(s, request_id):
                if d.recording_id in gone and d.state == "proposed":
                    d.state = "erased"
            views = [decision_view(d) for d in decisions_of(s, request_id)]
        return {
            "request_id": request_id,
            "erased": sorted(gone),
            "refused": [{"recording_id": rid, "holds": refs} for rid, refs in holds.items()],
            "destruction_records": records,
            "decisions": views,
        }
