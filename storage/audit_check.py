"""Cross-checks of the audit log against the catalogue: a chain that verifies proves nothing if
the events it should hold were never written (or were all removed, leaving an empty log)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from storage.anchors import Anchor, check_anchors
from storage.audit import VerifyResult, verify_chain
from storage.catalogue.models import AuditEvent, DestructionRecord, Recording

_SHOWN = 3


def _ids(values: list[str], total: int) -> str:
    more = f" and {total - len(values)} more" if total > len(values) else ""
    return ", ".join(values) + more


def cross_check(session: Session) -> list[str]:
    """Problems found (empty when the log accounts for the catalogue): every recording has
    its ingest event, and every destruction record points at its destruction event."""
    problems = []
    ingest = exists().where(
        AuditEvent.recording_id == Recording.id, AuditEvent.action == "recording.ingest"
    )
    missing = ~ingest
    total = session.scalar(select(func.count()).select_from(Recording).where(missing)) or 0
    if total:
        shown = list(
            session.scalars(
                select(Recording.id).where(missing).order_by(Recording.id).limit(_SHOWN)
            )
        )
        problems.append(
            f"{total} recording(s) have no ingest event in the audit log: {_ids(shown, total)}"
        )
    ev = aliased(AuditEvent)
    matched = exists().where(
        ev.seq == DestructionRecord.audit_seq,
        ev.action.in_(("recording.destroy", "consent.destroy")),
        or_(
            ev.recording_id == DestructionRecord.recording_id,
            and_(ev.recording_id.is_(None), DestructionRecord.recording_id.is_(None)),
        ),
    )
    bad = ~matched
    total = session.scalar(select(func.count()).select_from(DestructionRecord).where(bad)) or 0
    if total:
        rows = session.execute(
            select(DestructionRecord.id, DestructionRecord.recording_id)
            .where(bad)
            .order_by(DestructionRecord.id)
            .limit(_SHOWN)
        ).all()
        shown = [rid or f"consent-only record #{i}" for i, rid in rows]
        problems.append(
            f"{total} destruction record(s) have no matching destruction event in the audit "
            f"log: {_ids(shown, total)}"
        )
    return problems


@dataclass(frozen=True)
class AuditVerdict:
    """What `callvault audit verify` (and the portal's audit API) says of the log."""

    chain: VerifyResult
    problems: list[str]  # the chain's first bad row, then the cross-checks, then the anchors

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: "ok", or every problem named (the wording of `callvault audit verify`)."""
        if self.ok:
            return "ok"
        where = f" at row {self.chain.first_bad_seq}" if not self.chain.ok else ""
        return f"audit log BROKEN{where}: " + "; ".join(self.problems)


def verify_audit(session: Session, anchors: Sequence[Anchor] = ()) -> AuditVerdict:
    """The chain, then the log against the catalogue (cross_check), then against the anchors
    given (none: the chain is not compared with the object store)."""
    res = verify_chain(session)
    problems = [] if res.ok else [f"row {res.first_bad_seq}: {res.problem}"]
    problems += cross_check(session) + check_anchors(session, list(anchors))
    return AuditVerdict(res, problems)
