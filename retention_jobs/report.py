"""What a purge run did (or, dry, would do): one JSON-ready document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class PurgeReport:
    run_id: str
    as_of: datetime
    dry_run: bool
    node: str
    policy: str
    started_at: datetime
    finished_at: datetime | None = None
    destroyed: list[dict[str, Any]] = field(default_factory=list)
    consent_destroyed: list[dict[str, Any]] = field(default_factory=list)
    would_destroy: list[dict[str, Any]] = field(default_factory=list)
    would_finish: list[dict[str, Any]] = field(default_factory=list)
    would_destroy_consent: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    restricted: list[dict[str, Any]] = field(default_factory=list)  # expired, kept by a restriction
    reassigned: list[dict[str, Any]] = field(default_factory=list)
    in_progress_elsewhere: int = 0
    unassigned: int = 0
    claims_lost: int = 0
    stopped_early: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "as_of": self.as_of.isoformat(),
            "node": self.node,
            "policy": self.policy,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
        if self.dry_run:
            doc |= {
                "would_destroy": self.would_destroy,
                "would_finish": self.would_finish,
                "would_destroy_consent_records": self.would_destroy_consent,
            }
        else:
            doc |= {
                "destroyed": self.destroyed,
                "consent_records_destroyed": self.consent_destroyed,
                "claims_lost": self.claims_lost,
            }
        doc |= {
            "held": self.held,
            "restricted": self.restricted,
            "reassigned": self.reassigned,
            "in_progress_elsewhere": self.in_progress_elsewhere,
            "unassigned": self.unassigned,
            "stopped_early": self.stopped_early,
            "error": self.error,
        }
        return doc

    def summary(self) -> str:
        """One line for logs and the audit event."""
        if self.dry_run:
            head = (
                f"dry run {self.run_id}: would destroy {len(self.would_destroy)} recording(s)"
                f", finish {len(self.would_finish)} interrupted destruction(s), destroy "
                f"{len(self.would_destroy_consent)} consent-only record(s)"
            )
        else:
            head = (
                f"run {self.run_id}: destroyed {len(self.destroyed)} recording(s) and "
                f"{len(self.consent_destroyed)} consent-only record(s)"
            )
        tail = [f"{len(self.held)} expired but held", f"{len(self.reassigned)} reassigned"]
        if self.restricted:
            tail.append(f"{len(self.restricted)} expired but restricted")
        if self.unassigned:
            tail.append(f"{self.unassigned} without retention (run `callvault retention apply`)")
        if self.stopped_early:
            tail.append("stopped early on request")
        return f"{head}; {', '.join(tail)} (as of {self.as_of.isoformat()})"

    def lines(self) -> list[str]:
        """The human listing: one line per item, then the summary."""
        out = []
        for d in self.destroyed:
            key = "destroyed" if d["key_destroyed"] else "already absent"
            resumed = f", finishing run {d['resumed_from_run']}" if d["resumed_from_run"] else ""
            out.append(
                f"destroyed      {d['recording_id']}  class {d['retention_class']} "
                f"({d['retention_period']}), expired {d['expired_at']}, "
                f"{d['versions_removed']} object version(s), key {key}{resumed}"
            )
        for d in self.consent_destroyed:
            out.append(
                f"destroyed      consent-only record {d['consent_record_id']}  "
                f"expired {d['expired_at']}"
            )
        out += [f"would finish   {d['recording_id']}  {d['reason']}" for d in self.would_finish]
        out += [f"would destroy  {d['recording_id']}  {d['reason']}" for d in self.would_destroy]
        out += [
            f"would destroy  consent-only record {d['consent_record_id']}  {d['reason']}"
            for d in self.would_destroy_consent
        ]
        out += [
            f"kept (held)    {d['recording_id']}  expired {d['expires_at']}, held by "
            f"{', '.join(d['holds'])}"
            for d in self.held
        ]
        out += [
            f"kept (restricted) {d['recording_id']}  expired {d['expires_at']}, {d['reason']}"
            for d in self.restricted
        ]
        out += [
            f"reassigned     {d['recording_id']}  {d['from_class']} -> {d['to_class']}, "
            f"expires {d['to_expires_at']} (was {d['from_expires_at']})"
            for d in self.reassigned
        ]
        return [*out, self.summary()]
