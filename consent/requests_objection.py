"""Objection (UK GDPR art. 21): stop recording the caller, then decide about what exists.

Acting on a verified objection puts each of the request's caller numbers on the do-not-record
list (by their keyed hash: the request never kept the numbers) and lists the caller's stored
recordings, each to be decided: kept with a reason, or erased through the two-person erasure
(consent/erasure.py).
"""

from __future__ import annotations

from typing import Any

from consent.erasure import decision_view, decisions_of
from consent.requests import RequestError, SubjectRequests
from consent.requests_find import HoldLookup, find, standing
from storage.catalogue.models import DoNotRecordEntry


def act_on_objection(
    requests: SubjectRequests, request_id: str, *, actor: str, holds_of: HoldLookup
) -> dict[str, Any]:
    with requests.catalogue.session() as s:
        r = requests.get(s, request_id, lock=True)
        if r.kind != "objection":
            raise RequestError(f"request {r.id} is a {r.kind} request, not an objection")
        requests.start(s, r, actor=actor, why="objection")
        added, listed = [], []
        for h in (i.value for i in r.identifiers if i.kind == "caller"):
            if s.get(DoNotRecordEntry, h) is not None:
                listed.append(h)
                continue
            s.add(
                DoNotRecordEntry(
                    caller_hash=h,
                    added_at=requests.clock(),
                    added_by=actor,
                    reason=f"objection, data-subject request {r.id}",
                    hash_scheme="e164",
                )
            )
            requests.audit.append(
                s,
                actor=actor,
                action="objection.add",
                details={"caller_hash": h, "reason": f"data-subject request {r.id}"},
            )
            added.append(h)
        found = find(s, r).recordings
        states = standing(s, found, holds_of)
        decided = {d.recording_id: decision_view(d) for d in decisions_of(s, r.id)}
        return {
            "request_id": r.id,
            "do_not_record_added": len(added),
            "already_on_the_list": len(listed),
            "recordings": [
                {
                    "id": x.id,
                    "started_at": x.started_at.isoformat(),
                    "service": x.service,
                    "status": states[x.id]["status"],
                    "decision": decided.get(x.id),
                }
                for x in found
            ],
        }
