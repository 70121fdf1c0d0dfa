"""Restriction (UK GDPR art. 18) on request: the recordings the request finds are restricted
(consent/restriction.py: hidden from supervisors and QA, kept by the purge), each restriction
naming the request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent.requests import RequestError, SubjectRequests
from consent.requests_find import find
from consent.restriction import restrict


def restrict_for_request(
    requests: SubjectRequests,
    request_id: str,
    *,
    reason: str,
    actor: str,
    recording_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """Restrict the request's stored recordings (or those named); returns what changed."""
    with requests.catalogue.session() as s:
        r = requests.get(s, request_id, lock=True)
        if r.kind != "restriction":
            raise RequestError(f"request {r.id} is a {r.kind} request, not a restriction")
        requests.start(s, r, actor=actor, why="restriction")
        stored = [x.id for x in find(s, r).recordings if x.state == "stored"]
        for rid in recording_ids:
            if rid not in stored:
                raise RequestError(
                    f"recording {rid} is not a stored recording request {r.id} found"
                )
        ids = list(recording_ids) or stored
        if not ids:
            raise RequestError(f"request {r.id} found no stored recording to restrict")
        done = restrict(s, ids, actor=actor, reason=reason, request_id=r.id, clock=requests.clock)
        return {
            "request_id": r.id,
            "restricted": done,
            "already_restricted": sorted(set(ids) - set(done)),
        }
