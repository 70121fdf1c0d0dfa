"""Re-hash callers after the move to E.164: from the sealed numbers, where the keys open them.

Before migration 0004 a caller was hashed (and sealed) as typed, so one telephone had several
hashes. Each recording's number is sealed under its own data key: `rehash_callers` opens it,
takes its E.164 form, and rewrites the hash (and the sealed value, in E.164), each recording
in its own transaction with its audit event. Running it again changes nothing.

The do-not-record list keeps only hashes (never a number), so its older entries cannot be
re-hashed: they are reported, for an operator to re-add each caller by number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import DoNotRecordEntry, Recording
from storage.clock import utcnow
from storage.crypto import Envelope
from storage.errors import CallvaultError
from storage.identity import CallerHasher


@dataclass
class RehashReport:
    checked: int = 0
    rehashed: int = 0  # the hash changed
    resealed: int = 0  # the sealed value was rewritten in E.164
    withheld: int = 0  # the sealed value is no number: hash removed, marked withheld
    unchanged: int = 0
    not_rehashed: list[dict[str, str]] = field(default_factory=list)  # recording_id, reason
    legacy_objections: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "rehashed": self.rehashed,
            "resealed": self.resealed,
            "withheld": self.withheld,
            "unchanged": self.unchanged,
            "not_rehashed": self.not_rehashed,
            "legacy_objections": self.legacy_objections,
        }


def rehash_callers(
    catalogue: Catalogue,
    envelope: Envelope,
    hasher: CallerHasher,
    *,
    actor: str,
    audit: AuditLog | None = None,
    clock: Callable[[], datetime] = utcnow,
    progress: Callable[[int], None] | None = None,
) -> RehashReport:
    """Re-hash every stored recording's caller; report what could not be and why.

    ``progress(1)`` is called after each recording (the CLI draws it on a terminal)."""
    audit = audit or AuditLog(clock)
    report = RehashReport()
    with catalogue.session() as s:
        ids = list(
            s.scalars(
                select(Recording.id)
                .where(Recording.state == "stored")
                .where(
                    (Recording.caller_hash.is_not(None)) | Recording.caller_ciphertext.is_not(None)
                )
                .order_by(Recording.id)
            )
        )
    for rid in ids:
        _one(catalogue, envelope, hasher, rid, report, actor=actor, audit=audit)
        if progress:
            progress(1)
    report.legacy_objections = legacy_objections(catalogue)
    with catalogue.session() as s:
        audit.append(
            s,
            actor=actor,
            action="identity.rehash",
            details={k: v if isinstance(v, int) else len(v) for k, v in report.as_dict().items()},
        )
    return report


def _one(
    catalogue: Catalogue,
    envelope: Envelope,
    hasher: CallerHasher,
    rid: str,
    report: RehashReport,
    *,
    actor: str,
    audit: AuditLog,
) -> None:
    with catalogue.session() as s:
        # A purge running at the same time either destroyed it first (skipped) or waits.
        rec = s.get(Recording, rid, with_for_update=True)
        if rec is None or rec.state != "stored":
            return
        report.checked += 1
        if rec.caller_ciphertext is None:
            report.not_rehashed.append({"recording_id": rid, "reason": "no sealed caller number"})
            return
        if rec.key is None:
            report.not_rehashed.append({"recording_id": rid, "reason": "no data key"})
            return
        try:
            key = envelope.open_data_key(rid, rec.key.kek_id, rec.key.wrapped_keyset)
            sealed = key.unseal(rec.caller_ciphertext, "caller")
        except CallvaultError as exc:  # a key wrapper missing here, a KEK gone, tampering
            reason = f"{type(exc).__name__}: key {rec.key.kek_id} cannot open it on this node"
            report.not_rehashed.append({"recording_id": rid, "reason": reason})
            return
        e164 = hasher.canonical(sealed)
        new_hash = hasher.hash_e164(e164) if e164 else None
        changes = []
        if new_hash != rec.caller_hash:
            rec.caller_hash = new_hash
            changes.append("hash")
        if e164 is None and not rec.caller_withheld:
            rec.caller_withheld = True
            changes.append("withheld")
        if e164 is not None and sealed != e164:
            rec.caller_ciphertext = key.seal(e164, "caller")
            changes.append("sealed")
        if not changes:
            report.unchanged += 1
            return
        report.rehashed += "hash" in changes and e164 is not None
        report.withheld += "withheld" in changes
        report.resealed += "sealed" in changes
        audit.append(
            s,
            actor=actor,
            action="recording.caller-rehash",
            recording_id=rid,
            details={"changed": changes},
        )


def legacy_objections(catalogue: Catalogue) -> list[dict[str, str]]:
    """Do-not-record entries hashed before E.164: re-add each caller by number, then remove."""
    with catalogue.session() as s:
        rows = s.scalars(
            select(DoNotRecordEntry)
            .where(DoNotRecordEntry.hash_scheme.is_(None))
            .order_by(DoNotRecordEntry.added_at)
        )
        return [
            {
                "caller_hash": r.caller_hash,
                "added_at": r.added_at.isoformat(),
                "added_by": r.added_by,
                "reason": r.reason,
            }
            for r in rows
        ]
