"""A request as the DPO sees it: its clock and state, what it found, what was decided."""

from __future__ import annotations

from typing import Any

from consent.erasure import decision_view, decisions_of
from consent.requests import SubjectRequests, request_view
from consent.requests_find import HoldLookup, find, standing


def describe(requests: SubjectRequests, request_id: str, holds_of: HoldLookup) -> dict[str, Any]:
    """`requests show REQ --json`: the request, its recordings (with their state), its
    consent-only calls and its decisions."""
    with requests.catalogue.session() as s:
        r = requests.get(s, request_id)
        found = find(s, r)
        states = standing(s, found.recordings, holds_of)
        return request_view(r, requests.today()) | {
            "recordings": [
                {
                    "id": x.id,
                    "call_id": x.call_id,
                    "started_at": x.started_at.isoformat(),
                    "duration_s": round(x.duration_s, 3),
                    "service": x.service,
                    "case_ids": [link.case_ref.reference for link in x.case_links],
                    "retention_class": x.retention_class,
                    "expires_at": x.expires_at.isoformat() if x.expires_at else None,
                    **states[x.id],
                }
                for x in found.recordings
            ],
            "consent_only": [
                {
                    "consent_record_id": c.id,
                    "call_id": c.call_id,
                    "received_at": c.received_at.isoformat(),
                }
                for c in found.consent_only
            ],
            "decisions": [decision_view(d) for d in decisions_of(s, r.id)],
        }
