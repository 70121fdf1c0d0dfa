"""The upload's `manifest` part → an IngestRequest, with the facts the call's events reported.

```json
{"platform_call_id": "…", "caller": "+44…", "service": "housing", "agent": "alex",
 "case_ids": ["HOUS-1"], "started_at": "2026-12-02T09:00:00Z",
 "consent": {"notice_seconds_played": 6.2, "objection": null, "paused_intervals": []}}
```
Every field but `platform_call_id` is optional; the consent facts the call's events reported
(POST …/events) are merged in, and win over the manifest's for the same key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.hooks.multipart import BadUpload
from storage import fields
from storage.errors import CallvaultError
from storage.request import IngestRequest

KEYS = ("platform_call_id", "caller", "service", "agent", "case_ids", "started_at", "consent")


def to_request(manifest: Any, facts: dict[str, Any] | None) -> IngestRequest:
    if not isinstance(manifest, dict):
        raise BadUpload("manifest: must be a JSON object")
    unknown = sorted(set(manifest) - set(KEYS))
    if unknown:
        raise BadUpload(f"manifest: unknown keys {', '.join(unknown)} (allowed: {', '.join(KEYS)})")
    call_id = manifest.get("platform_call_id")
    if not isinstance(call_id, str):
        raise BadUpload("manifest: platform_call_id (a string) is required")
    for key in ("caller", "service", "agent", "started_at"):
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            raise BadUpload(f"manifest: {key} must be a string")
    case_ids = manifest.get("case_ids") or []
    if not isinstance(case_ids, list) or not all(isinstance(c, str) for c in case_ids):
        raise BadUpload("manifest: case_ids must be a list of strings")
    consent = manifest.get("consent") or {}
    if not isinstance(consent, dict):
        raise BadUpload("manifest: consent must be a JSON object")
    merged, reported = _merge(call_id, consent, facts)
    request = IngestRequest(
        call_id=call_id,
        caller=manifest.get("caller"),
        service=manifest.get("service"),
        agent=manifest.get("agent"),
        case_ids=tuple(dict.fromkeys([*case_ids, *reported])),
        consent=merged,
        started_at=_when(manifest.get("started_at")),
    )
    try:
        request.validate()
        fields.check_consent(merged, "manifest: consent")
    except CallvaultError as exc:
        raise BadUpload(f"manifest: {exc}") from None
    return request


def _merge(
    call_id: str, consent: dict[str, Any], facts: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    doc = {**consent, "call_id": call_id}
    if facts is None:
        doc.setdefault("source", "platform-upload")
        return doc, []
    known = {k: v for k, v in facts.items() if k != "case_ids" and v not in (None, [])}
    doc.update(known)
    if doc.get("outcome") == "in progress":
        doc["outcome"] = "recorded"
    return doc, [c for c in facts.get("case_ids", []) if isinstance(c, str)]


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadUpload(f"manifest: started_at {value!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)
