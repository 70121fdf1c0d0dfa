"""What goes in a pack (the plan, gathered in one transaction) and its documents: each
recording's JSON, data.json (schema ``callvault-subject-pack/1``), index.csv, the summary."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SCHEMA = "callvault-subject-pack/1"


@dataclass
class PackPlan:
    """What goes in a pack, gathered in one transaction; ``files`` fill in as it streams."""

    request: dict[str, Any]
    actor: str
    at: datetime
    both_channels: bool
    reason: str | None
    recordings: list[dict[str, Any]]
    consent_only: list[dict[str, Any]]
    disclosures: list[dict[str, Any]]
    audio: dict[str, tuple[str, int, int, str]]  # id → stored format, rate, bytes, SHA-256
    files: list[dict[str, Any]] = field(default_factory=list)
    sha256: str | None = None
    size: int = 0

    def document(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "request": self.request,
            "generated_at": self.at.isoformat(),
            "both_channels": self.both_channels,
            "both_channels_reason": self.reason,
            "recordings": self.recordings,
            "consent_only": self.consent_only,
            "disclosures": self.disclosures,
        }


def recording_doc(view: dict[str, Any], st: dict[str, Any]) -> dict[str, Any]:
    """What the subject gets about one recording: no storage internals, no staff name."""
    keep = ("id", "call_id", "started_at", "ended_at", "duration_s", "channels", "service")
    doc = {k: view[k] for k in keep} | {"case_ids": view["case_ids"]}
    return doc | {
        "status": st["status"],
        "retention_class": view["retention_class"],
        "expires_at": view["expires_at"],
        "destroyed_at": st["destroyed_at"],
        "destroyed_by": st["destroyed_by"],
        "consent": [],
        "disclosures": [],
        "rectifications": [],
        "files": [],
        "audio_note": None,
    }


def summary(plan: PackPlan, where: str) -> dict[str, Any]:
    return {
        "request_id": plan.request["id"],
        "out": where,
        "sha256": plan.sha256,
        "bytes": plan.size,
        "both_channels": plan.both_channels,
        "recordings": len(plan.recordings),
        "with_audio": len(plan.audio),
        "consent_only": len(plan.consent_only),
        "disclosures": len(plan.disclosures),
        "files": [f["file"] for f in plan.files] + ["SHA256SUMS"],
    }


def disclosure_doc(d: dict[str, Any], ids: set[str]) -> dict[str, Any]:
    keep = ("id", "recipient", "kind", "basis", "reference", "reason", "disclosed_at")
    return {k: d[k] for k in keep} | {"recording_ids": [r for r in d["recording_ids"] if r in ids]}


def as_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def index_csv(plan: PackPlan) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "id", "call_id", "started_at", "duration_s", "service", "case_ids",
                "status", "retention_class", "expires_at", "files"])  # fmt: skip
    for d in plan.recordings:
        w.writerow(["recording", d["id"], d["call_id"], d["started_at"], d["duration_s"],
                    d["service"] or "", " ".join(d["case_ids"]), d["status"],
                    d["retention_class"] or "", d["expires_at"] or "",
                    " ".join(f["file"] for f in d["files"])])  # fmt: skip
    for c in plan.consent_only:
        doc = c["document"]
        w.writerow(["consent-only", c["consent_record_id"], c["call_id"], c["received_at"], "",
                    "", "", doc.get("outcome") or "", "", "", ""])  # fmt: skip
    return buf.getvalue()
